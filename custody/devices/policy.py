"""Command policy: commands that are refused before they reach a device.

Cisco-like CLIs accept abbreviations ("wr er" is "write erase", "rel" is
"reload") and config mode's "do" prefix, so rules match word by word on
prefixes. On shell-like devices the line is read with a real shell grammar
(custody.devices.shellwords): every command it would run, in any position and
behind any wrapper, is checked; a line that cannot be read is refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from custody.devices.shellwords import commands, denied
from custody.errors import CommandRefused, InvalidInput

CISCO_LIKE = frozenset({"cisco_ios", "cisco_xe", "cisco_xr", "cisco_nxos", "cisco_asa",
                        "arista_eos", "hp_procurve", "hp_comware", "huawei"})
SHELL_LIKE = frozenset({"linux", "vyos", "ubiquiti_edgerouter"})

DEFAULT_DENY: dict[str, tuple[str, ...]] = {
    "cisco": ("reload", "erase", "write erase", "delete", "format", "crypto key zeroize",
              "squeeze", "configure replace", "boot system", "license clear"),
    # Shell-like devices' defaults are custody.devices.shellwords.SHELL_DENY, which reads
    # a command's arguments (rm's flags and target, systemctl's verb) and not only its words.
    "shell": (),
    "other": ("reload", "reboot", "shutdown", "erase", "format", "delete", "request system reboot",
              "request system zeroize"),
}
MAX_COMMAND_BYTES = 4096
_ALLOWED = re.compile(r"^[\x20-\x7e\t]*$")  # printable ASCII: no control characters


def family(device_type: str) -> str:
    if device_type in CISCO_LIKE:
        return "cisco"
    if device_type in SHELL_LIKE:
        return "shell"
    return "other"


@dataclass(frozen=True)
class CommandPolicy:
    """The deny rules for one device: its type's defaults plus the client's own."""

    device_type: str
    rules: tuple[tuple[str, ...], ...]

    @classmethod
    def for_device(cls, device_type: str, extra: Iterable[str] = ()) -> CommandPolicy:
        words = [tuple(r.lower().split()) for r in (*DEFAULT_DENY[family(device_type)], *extra)]
        return cls(device_type, tuple(w for w in words if w))

    def check(self, command: str) -> None:
        """Raise InvalidInput for malformed commands and CommandRefused for denied ones."""
        check_shape(command)
        if self.blocked_by(command) is not None:
            raise CommandRefused(f"command refused by policy: {command.strip()!r} is not allowed "
                                 "on this device")

    def blocked_by(self, command: str) -> str | None:
        """The rule that refuses ``command``, or None. On shell-like devices a line that
        cannot be read for certain raises CommandRefused saying why."""
        fam = family(self.device_type)
        if fam == "shell":
            for words in commands(command):
                found = denied(words, self.rules)
                if found is not None:
                    return found
            return None
        tokens = command.lower().split()
        if fam == "cisco" and tokens[:1] == ["do"]:
            tokens = tokens[1:]
        for rule in self.rules:
            if _matches(tokens, rule):
                return " ".join(rule)
        return None


def _matches(tokens: Sequence[str], rule: Sequence[str]) -> bool:
    """Whether a Cisco-like line starts with an abbreviation of every word of ``rule``."""
    if len(tokens) < len(rule):
        return False
    for i, (token, word) in enumerate(zip(tokens, rule, strict=False)):
        # A lone first word needs 3 letters ("rel"); in a phrase 2 do ("wr er").
        shortest = 3 if i == 0 and len(rule) == 1 else 2
        if not (word.startswith(token) and len(token) >= min(shortest, len(word))):
            return False
    return True


def check_shape(command: str) -> None:
    if not command.strip():
        raise InvalidInput("command must not be empty")
    if len(command.encode()) > MAX_COMMAND_BYTES:
        raise InvalidInput(f"command is longer than {MAX_COMMAND_BYTES} bytes")
    if "\n" in command or "\r" in command:
        raise InvalidInput("command must be one line; send configuration lines as a list")
    if not _ALLOWED.match(command):
        raise InvalidInput("command contains unsupported characters (only printable ASCII)")
