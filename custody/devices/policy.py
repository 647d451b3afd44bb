"""Command policy: which lines may reach a device.

A rule is read the way the device reads a line. Network CLIs accept any unambiguous
abbreviation of a keyword ("wr e" is "write erase"), prefixes that run a line from
another mode ("do", Junos' "run", FortiOS' "sudo global") and, on MikroTik, menus,
paths and script blocks; so a denied word matches every prefix of it that the family's
word list does not resolve to another complete word (where the list cannot decide, the
line is refused). On shell-like devices the line is read with a real shell grammar
(custody.devices.shellwords): every command it would run, in any position and behind
any wrapper, is checked; a line that cannot be read is refused.

In allow-list mode (a client's choice) only lines matching an allowed pattern pass;
the deny rules still apply to them. What happens to the others (refused, or held for
a second person's approval) is the caller's business: ``verdict`` says which.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum

from custody.devices.platforms import Platform, platform_for
from custody.devices.shellwords import commands, denied
from custody.errors import CommandRefused, InvalidInput

MAX_COMMAND_BYTES = 4096
ANYWHERE = "..."
_ALLOWED = re.compile(r"^[\x20-\x7e\t]*$")  # printable ASCII (tabs: refused below, by name)
Rule = tuple[str, ...]


class Verdict(StrEnum):
    ALLOW = "allow"
    DENY = "deny"  # a deny rule matched
    UNLISTED = "unlisted"  # allow-list mode, and no allowed pattern matched


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    rule: str = ""  # the deny rule that matched, for the refusal message

    def refusal(self, command: str) -> str | None:
        """What the technician is told when ``command`` is not run; None if it may run."""
        if self.verdict is Verdict.DENY:
            return (f"command refused by policy: {command.strip()!r} is not allowed on this "
                    f"device (rule: {self.rule})")
        if self.verdict is Verdict.UNLISTED:
            return (f"command refused by policy: {command.strip()!r} is not on this client's "
                    "list of allowed commands")
        return None


@dataclass(frozen=True)
class CommandPolicy:
    """The rules for one device: its family's defaults plus the installation's and client's."""

    device_type: str
    rules: tuple[Rule, ...]
    allow: tuple[Rule, ...] | None = None  # None: every line not denied may run
    confirm: bool = False  # unlisted lines wait for approval instead of being refused

    @classmethod
    def for_device(cls, device_type: str, extra: Iterable[str] = (),
                   allow: Iterable[str] | None = None, confirm: bool = False) -> CommandPolicy:
        platform = platform_for(device_type)
        deny = () if platform.shell else platform.deny  # the shell's live in SHELL_DENY
        return cls(device_type, _rules(platform, (*deny, *extra)),
                   None if allow is None else _rules(platform, allow), confirm)

    def to_json(self) -> dict[str, object]:
        """The policy as plain data, for the broker process."""
        return {"device_type": self.device_type, "rules": [list(r) for r in self.rules],
                "allow": None if self.allow is None else [list(r) for r in self.allow],
                "confirm": self.confirm}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> CommandPolicy:
        rules, allow = data["rules"], data.get("allow")
        if not isinstance(rules, list):
            raise InvalidInput("a command policy's rules must be a list")
        return cls(str(data["device_type"]), tuple(tuple(map(str, r)) for r in rules),
                   None if not isinstance(allow, list) else tuple(tuple(map(str, r)) for r in allow),
                   bool(data.get("confirm")))

    @property
    def platform(self) -> Platform:
        return platform_for(self.device_type)

    def check(self, command: str) -> None:
        """Raise InvalidInput for malformed lines and CommandRefused for any not allowed."""
        message = self.decide(command).refusal(command)
        if message is not None:
            raise CommandRefused(message)

    def decide(self, command: str) -> Decision:
        """Allow, deny (naming the rule) or unlisted. A line that cannot be read for certain
        raises CommandRefused saying why."""
        check_shape(command)
        found = self.blocked_by(command)
        if found is not None:
            return Decision(Verdict.DENY, found)
        if self.allow is not None and not self._listed(command):
            return Decision(Verdict.UNLISTED)
        return Decision(Verdict.ALLOW)

    def blocked_by(self, command: str) -> str | None:
        """The deny rule that refuses ``command``, or None."""
        platform = self.platform
        if platform.shell:
            for words in commands(command):
                found = denied(words, self.rules)
                if found is not None:
                    return found
            return None
        for name in _property_names(command) if platform.deny_properties else ():
            found = next((p for p in platform.deny_properties if p.startswith(name)), None)
            if found is not None:
                return f"{found}="
        for tokens in _readings(platform, command):
            for rule in self.rules:
                if _matches(platform, tokens, rule, deny=True):
                    return " ".join(rule)
        return None

    def _listed(self, command: str) -> bool:
        if self.allow is None:  # no allow-list: nothing is unlisted
            return True
        platform = self.platform
        if platform.shell:
            return all(any(_shell_allowed(words, rule) for rule in self.allow)
                       for words in commands(command))
        return all(any(_matches(platform, tokens, rule, deny=False) for rule in self.allow)
                   for tokens in _segments(platform, command) if tokens)


def _rules(platform: Platform, lines: Iterable[str]) -> tuple[Rule, ...]:
    words = (tuple((line.replace("/", " ") if platform.menus else line).lower().split())
             for line in lines)
    return tuple(w for w in words if w)


def _property_names(line: str) -> Iterator[str]:
    """The names of every ``name=value`` on the line, lower-cased."""
    for match in re.finditer(r"([A-Za-z][\w-]*)=", line):
        yield match.group(1).lower()


def _parts(platform: Platform, line: str) -> Iterator[list[str]]:
    """The commands on one line, each as lower-case words."""
    text = line.lower()
    for sep in platform.separators:
        text = text.replace(sep, "\n")
    for part in text.split("\n"):
        if platform.menus:  # "/system/reboot" and "/system reboot" are "system reboot"
            part = part.replace("/", " ")
        yield part.split()


def _unprefixed(platform: Platform, tokens: list[str]) -> Iterator[list[str]]:
    """The command as typed, then after each mode prefix ("do do reload" is checked as
    itself, as "do reload" and as "reload")."""
    yield tokens
    while (n := _prefix_length(platform, tokens)) and n < len(tokens):
        tokens = tokens[n:]
        yield tokens


def _segments(platform: Platform, line: str) -> Iterator[list[str]]:
    """Each command on the line with every mode prefix removed: what allow-lists match."""
    for tokens in _parts(platform, line):
        *_, last = _unprefixed(platform, tokens)
        yield last


def _readings(platform: Platform, line: str) -> Iterator[list[str]]:
    """Every way the device could take the line's commands, for the deny rules."""
    for tokens in _parts(platform, line):
        yield from _unprefixed(platform, tokens)


def _prefix_length(platform: Platform, tokens: Sequence[str]) -> int:
    for prefix in platform.prefixes:
        if len(tokens) > len(prefix) and all(w == "*" or w.startswith(t)
                                             for t, w in zip(tokens, prefix, strict=False)):
            return len(prefix)
    return 0


def _matches(platform: Platform, tokens: Sequence[str], rule: Rule, *, deny: bool) -> bool:
    """Whether the line's words start with ``rule``, each word as the device resolves it.

    Denying, a token counts when the device could take it for the rule's word: any prefix
    of it that is not itself another complete keyword. Allowing, only a prefix that no
    other keyword of the family shares counts, so an ambiguous token is never let through.
    """
    if rule[0] == ANYWHERE:  # "... autocommand": at any word of the line
        return any(_matches(platform, tokens[start:], rule[1:], deny=deny)
                   for start in range(len(tokens)))
    tails = [rule[i:] for i in range(len(rule))] if deny and platform.menus else [rule]
    for words in tails:
        if len(tokens) < len(words):
            continue
        if all(_word(platform, token, word, first=i == 0, deny=deny)
               for i, (token, word) in enumerate(zip(tokens, words, strict=False))):
            return True
    return False


def _word(platform: Platform, token: str, word: str, *, first: bool, deny: bool) -> bool:
    if word == "*":
        return True
    # The help key shows help and leaves the rest of the word to be typed ("rel?oad" runs
    # reload); quotes around a keyword are read as the keyword.
    token = (token.replace(platform.help_key, "") if platform.help_key else token).strip("\"'")
    if not token or not word.startswith(token):
        return False
    if token == word:
        return True
    if deny:
        return token not in platform.words
    if not first:  # sub-command lists are not known: only whole words and long prefixes
        return len(token) >= 3
    return not any(w != word and w.startswith(token) for w in platform.words)


def _shell_allowed(words: Sequence[str], rule: Rule) -> bool:
    """A shell command matches an allowed pattern: the program, then its first arguments."""
    if not words or words[0] != rule[0].rsplit("/", 1)[-1]:
        return False
    args = [a.lower() for a in words[1:]]
    return len(args) >= len(rule) - 1 and all(
        w == "*" or a == w for a, w in zip(args, rule[1:], strict=False))


def check_shape(command: str) -> None:
    if not command.strip():
        raise InvalidInput("command must not be empty", field="command")
    if len(command.encode()) > MAX_COMMAND_BYTES:
        raise InvalidInput(f"command is longer than {MAX_COMMAND_BYTES} bytes", field="command")
    if "\n" in command or "\r" in command:
        raise InvalidInput("command must be one line; send configuration lines as a list", field="command")
    if not _ALLOWED.match(command):
        raise InvalidInput("command contains unsupported characters (only printable ASCII)", field="command")
    if "\t" in command:
        raise InvalidInput("command contains a tab, which the device would complete into "
                           "another word; type the words in full", field="command")
