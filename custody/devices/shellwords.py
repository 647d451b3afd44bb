"""Every command a shell line would run, read with a real shell grammar (bashlex).

A deny list is only as good as the reading of the line it checks. ``/usr/bin/whoami``,
``echo x & whoami``, ``$(whoami)``, backticks, ``command``/``env``/``sh -c`` wrappers,
``\\whoami``, ``who''ami``, ``if``/``while``/``for``/``case`` bodies, groups, subshells,
function bodies and assignments in front all run ``whoami``. This module parses the
line as bash would, visits every simple command in every position, strips the wrappers
that only run another command, and resolves paths to the program's name. What it cannot
read for certain (a syntax error, a command name built from a variable, ``eval``) it
refuses: the broker never guesses in the technician's favour.
"""

from __future__ import annotations

import contextvars
import posixpath
import re
from typing import Any

from custody.errors import CommandRefused

MAX_DEPTH = 8
# Programs that run the rest of their arguments as a command, with their options that
# take a value (so the word after such an option is not the command).
_WRAPPERS: dict[str, frozenset[str]] = {
    # options that take a value, so their next word is not the command
    "sudo": frozenset({"-u", "-g", "-C", "-D", "-h", "-p", "-r", "-t", "-T", "-U"}),
    "doas": frozenset({"-u", "-C"}),
    "env": frozenset({"-u", "-C", "-S", "--unset", "--chdir", "--split-string"}),
    "nice": frozenset({"-n", "--adjustment"}),
    "ionice": frozenset({"-c", "-n", "-p", "-P", "-u"}),
    "timeout": frozenset({"-s", "-k", "--signal", "--kill-after"}),
    "stdbuf": frozenset({"-i", "-o", "-e"}),
    "chrt": frozenset(),
    "taskset": frozenset(),
    "setsid": frozenset(),
    "nohup": frozenset(),
    "exec": frozenset({"-a"}),
    "command": frozenset(),
    "builtin": frozenset(),
    "time": frozenset({"-f", "-o"}),
    "xargs": frozenset({"-a", "-d", "-E", "-I", "-L", "-n", "-P", "-s"}),
    "watch": frozenset({"-n", "-d"}),
    "busybox": frozenset(),
    "unbuffer": frozenset(),
    "flock": frozenset({"-w", "-E", "-c"}),
    "runuser": frozenset({"-u", "-g", "-l"}),
    "su": frozenset({"-s", "-g", "-G"}),
    "script": frozenset({"-c", "-E", "-I", "-O", "-T", "-B", "-t"}),
}
# Wrappers whose first argument after options is a number or a time, not the command.
_COUNT_FIRST = frozenset({"timeout", "chrt", "taskset"})
_SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "ash", "rbash", "fish"})
# Wrappers that run a script given with -c, never their other arguments (su's is a user).
_SCRIPT_WRAPPERS = frozenset({"su", "script", "flock", "runuser"})
# These take a string and run it as a shell line.
_EVALUATORS = frozenset({"eval", "source", "."})


def commands(line: str) -> list[list[str]]:
    """Every simple command ``line`` would run, wrappers stripped, programs by name.

    Raises CommandRefused when the line cannot be read for certain.
    """
    if _HISTORY.search(_unquoted(line)) or line.lstrip().startswith("^"):
        raise CommandRefused("command refused: history expansion (!, ^old^new) would run "
                             "a line other than the one checked")
    found: list[list[str]] = []
    token = _BARE_SHELL.set(False)
    try:
        _collect(line, found, 0)
        # A shell with no -c is an interactive shell (whose lines the broker checks one by
        # one) only when nothing feeds it: not in a pipeline, a list or behind a redirect.
        if _BARE_SHELL.get() and (len(found) > 1 or any(c in line for c in "<|&;`$(")):
            raise CommandRefused("command refused: a shell fed from a pipe, a file or another "
                                 "command runs lines that cannot be checked")
    finally:
        _BARE_SHELL.reset(token)
    return found


_BARE_SHELL: contextvars.ContextVar[bool] = contextvars.ContextVar("bare_shell", default=False)


# Interactive bash expands "!" (not before a blank, "=" or "(") from history before parsing.
_HISTORY = re.compile(r"!(?![\s=(]|$)")


def _unquoted(line: str) -> str:
    """The line with single-quoted text blanked (history expansion does not reach it)."""
    return re.sub(r"'[^']*'", "''", line)


def _collect(line: str, found: list[list[str]], depth: int) -> None:
    if depth > MAX_DEPTH:
        raise CommandRefused("command refused: it nests shells too deeply to be checked")
    import bashlex  # here: its grammar takes a quarter second to load, which no CLI needs

    try:
        trees = bashlex.parse(_readable(line))
    except Exception:  # bashlex raises its own errors and, on odd input, others
        raise CommandRefused("command refused: the line could not be parsed as a shell "
                             "command, so it cannot be checked") from None
    for tree in trees:
        _visit(tree, found, depth)


def _readable(line: str) -> str:
    """The line with what the grammar does not cover, but which runs nothing, rewritten:
    arithmetic ``$((...))`` becomes a number and ``((...))`` ``true``, ``[[ ]]`` becomes
    ``[ ]``. Arithmetic holding a command substitution is left alone (and so refused)."""
    out, i = [], 0
    while i < len(line):
        start = line.find("((", i)
        if start < 0:
            break
        dollar = start > 0 and line[start - 1] == "$"
        end, depth, j = -1, 0, start
        while j < len(line):
            if line[j] == "(":
                depth += 1
            elif line[j] == ")":
                depth -= 1
                if depth == 0:
                    end = j
                    break
            j += 1
        inner = line[start + 2:end - 1] if end > 0 else ""
        if end < 0 or not line[end - 1] == ")" or "$(" in inner or "`" in inner:
            out.append(line[i:start + 2])
            i = start + 2
            continue
        out.append(line[i:start - 1] if dollar else line[i:start])
        out.append("0" if dollar else "true")
        i = end + 1
    out.append(line[i:])
    text = "".join(out)
    return text.replace("[[ ", "[ ").replace(" ]]", " ]")


def _visit(node: Any, found: list[list[str]], depth: int) -> None:
    kind = node.kind
    if kind == "command":
        words: list[str] = []
        for part in node.parts:
            if part.kind == "word":
                words.append(part.word)
                _visit_inner(part, found, depth)
            elif part.kind == "assignment":
                _check_assignment(part.word)
                _visit_inner(part, found, depth)
            elif part.kind == "redirect" and hasattr(part.output, "kind"):
                _visit_inner(part.output, found, depth)
                target = getattr(part.output, "word", "")
                if part.type in (">", ">>", ">|", "&>", "<>") and _DEVICE_FILES.match(target):
                    raise CommandRefused(f"command refused: writing to {target} can stop or "
                                         "wipe the device")
        _simple(words, found, depth)
        return
    if kind == "function":
        raise CommandRefused("command refused: defining shell functions is not allowed "
                             "(a function can stand in for any command)")
    for child in _children(node):
        _visit(child, found, depth)


def _visit_inner(word: Any, found: list[list[str]], depth: int) -> None:
    """Command substitutions and process substitutions inside a word."""
    for part in getattr(word, "parts", []) or []:
        if part.kind in ("commandsubstitution", "processsubstitution"):
            _visit(part.command, found, depth)
        else:
            _visit_inner(part, found, depth)


def _children(node: Any) -> list[Any]:
    out: list[Any] = []
    for name in ("parts", "list", "command"):
        value = getattr(node, name, None)
        if isinstance(value, list):
            out += [v for v in value if hasattr(v, "kind")]
        elif value is not None and hasattr(value, "kind"):
            out.append(value)
    return out


def _simple(words: list[str], found: list[list[str]], depth: int) -> None:
    """One simple command: strip assignments and wrappers, then record or recurse."""
    while words and "=" in words[0] and not words[0].startswith("=") \
            and words[0].split("=", 1)[0].replace("_", "").isalnum():
        _check_assignment(words[0])
        words = words[1:]  # X=1 whoami
    if not words:
        return
    name = words[0]
    if name in _DEFERRED:
        raise CommandRefused(f"command refused: {name} makes the shell run commands later "
                             "(on a key, a signal or a name), where they cannot be checked")
    if name in _DECLARERS:
        for arg in words[1:]:
            _check_assignment(arg)
    if name != "[" and any(c in name for c in "$`*?[{"):
        raise CommandRefused("command refused: the program's name is built at run time "
                             f"({name!r}), so it cannot be checked")
    program = posixpath.basename(name) if "/" in name else name
    args = words[1:]
    if program == "eval":
        found.append([program])
        _collect(" ".join(args), found, depth + 1)
        return
    if program in _EVALUATORS:
        raise CommandRefused(f"command refused: {program} runs a file whose content "
                             "cannot be checked")
    if program in _SHELLS:
        script = _dash_c(args)
        if script is not None:
            found.append([program])
            _collect(script, found, depth + 1)
            return
    if program in _SHELLS:  # no -c: reads commands from a file or its standard input
        if any(not a.startswith("-") and not a.startswith("+") for a in args):
            raise CommandRefused(f"command refused: {program} would run a script file whose "
                                 "content cannot be checked")
        found.append([program, *args])
        _BARE_SHELL.set(True)
        return
    if program == "env":
        for i, arg in enumerate(args):
            script = (arg.split("=", 1)[1] if arg.startswith("--split-string=") else
                      arg[2:] if arg.startswith("-S") and len(arg) > 2 else
                      args[i + 1] if arg in ("-S", "--split-string") and i + 1 < len(args)
                      else None)
            if script is not None:
                found.append([program])
                _collect(script, found, depth + 1)
                return
    if program == "exec" and "-a" in args[:-1]:  # argv[0] chooses what some programs do
        name = args[args.index("-a") + 1]
        rest = _after_options(program, args)
        found.append([posixpath.basename(name), *rest[1:]])
    if program == "set" and any(a in ("vi", "emacs") for a in args):
        raise CommandRefused("command refused: changing the shell's line editing mode would "
                             "make the broker's reading of typed lines wrong")
    if program in _WRAPPERS:
        found.append([program, *args])
        if program in _SCRIPT_WRAPPERS:
            script = _dash_c(args)
            if script is not None:
                _collect(script, found, depth + 1)
                return
            if program in ("su", "script"):  # su USER, script FILE: no command follows
                return
        rest = _after_options(program, args)
        if rest:
            _simple(rest, found, depth)
        return
    found.append([program, *args])


# Writing to these stops the machine or overwrites a disk.
_DEVICE_FILES = re.compile(r"^/(proc/sysrq-trigger|dev/(sd|hd|vd|xvd|nvme|mmcblk|md|dm-|mapper/|"
                           r"disk/|mem|port|kmsg))")

# Builtins that store a command for later (an alias, a trap, a key binding, a completion,
# a loaded builtin, a re-run from history): what they run would never be checked.
_DEFERRED = frozenset({"alias", "trap", "bind", "complete", "compgen", "enable", "fc", "hash"})
_DECLARERS = frozenset({"export", "declare", "typeset", "readonly", "local"})
# Variables whose value the shell runs or expands as code before each prompt or command.
_HOOKS = re.compile(r"^(PROMPT_COMMAND|PS[0-4]|BASH_ENV|ENV|BASH_FUNC_\w*|SHELLOPTS|"
                    r"BASHOPTS|HISTCONTROL|HISTIGNORE|HISTFILE|IFS|PATH|LD_PRELOAD|"
                    r"LD_LIBRARY_PATH)(\[[^]]*\])?\+?=")


def _check_assignment(word: str) -> None:
    if _HOOKS.match(word):
        raise CommandRefused(f"command refused: setting {word.split('=', 1)[0]} changes what "
                             "the shell runs or records, so later lines could not be checked")


def _dash_c(args: list[str]) -> str | None:
    """The script of ``sh -c SCRIPT`` (also -xc, -ec, ``-c -- SCRIPT``, ``--command=S``)."""
    for i, arg in enumerate(args):
        for long in ("--command=", "--session-command="):
            if arg.startswith(long):
                return arg[len(long):]
        if (arg.startswith("-") and not arg.startswith("--") and "c" in arg[1:]) or \
                arg in ("--command", "--session-command"):
            rest = args[i + 1:]
            if rest[:1] == ["--"]:
                rest = rest[1:]
            return rest[0] if rest else ""
    return None


def _after_options(program: str, args: list[str]) -> list[str]:
    """The command a wrapper runs: its arguments after its own options."""
    takes_value = _WRAPPERS[program]
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            return args[i + 1:]
        if program == "env" and "=" in arg and not arg.startswith("-"):
            i += 1
            continue
        if arg.startswith("-") and len(arg) > 1:
            name = arg.split("=", 1)[0]
            # A value follows: "-u root", "--user root", and a cluster ending in one ("-nu").
            needs_value = "=" not in arg and (
                name in takes_value or name in _LONG_VALUES.get(program, ()) or (
                    not arg.startswith("--") and len(arg) > 2 and f"-{arg[-1]}" in takes_value))
            i += 2 if needs_value else 1
            continue
        break
    rest = args[i:]
    if program in _COUNT_FIRST and rest:
        rest = rest[1:]
    if program == "flock" and rest:  # flock FILE COMMAND
        rest = rest[1:]
    return rest


# Long options that take their value as the next word.
_LONG_VALUES: dict[str, frozenset[str]] = {
    "sudo": frozenset({"--user", "--group", "--chdir", "--host", "--prompt", "--role",
                       "--type", "--close-from", "--other-user", "--command-timeout"}),
    "xargs": frozenset({"--max-args", "--arg-file", "--delimiter", "--eof", "--replace",
                        "--max-lines", "--max-procs", "--max-chars", "--process-slot-var"}),
    "stdbuf": frozenset({"--input", "--output", "--error"}),
    "watch": frozenset({"--interval", "--differences"}),
    "nice": frozenset({"--adjustment"}),
    "timeout": frozenset({"--signal", "--kill-after"}),
    "runuser": frozenset({"--user", "--group", "--supp-group"}),
    "su": frozenset({"--shell", "--group", "--supp-group"}),
    "env": frozenset({"--unset", "--chdir"}),
}


# What shell-like devices refuse by default: each entry is a program and, optionally,
# words one of which must be among its arguments.
SHELL_DENY: tuple[tuple[str, frozenset[str]], ...] = (
    ("reboot", frozenset()), ("shutdown", frozenset()), ("halt", frozenset()),
    ("poweroff", frozenset()), ("kexec", frozenset()),
    ("init", frozenset({"0", "6", "1", "s", "S"})), ("telinit", frozenset({"0", "6", "1"})),
    ("systemctl", frozenset({"reboot", "poweroff", "halt", "kexec", "emergency", "rescue",
                             "soft-reboot", "isolate", "reboot.target", "poweroff.target",
                             "halt.target", "kexec.target", "emergency.target",
                             "rescue.target", "soft-reboot.target", "ctrl-alt-del.target"})),
    ("loginctl", frozenset({"reboot", "poweroff", "halt", "kexec", "suspend", "hibernate"})),
    ("busctl", frozenset({"Reboot", "PowerOff", "Halt", "KExec", "SoftReboot"})),
    ("kill", frozenset({"1"})), ("pkill", frozenset({"init", "systemd"})),
    ("mkfs", frozenset()), ("mke2fs", frozenset()), ("mkswap", frozenset()),
    ("wipefs", frozenset()), ("shred", frozenset()), ("dd", frozenset()),
    ("fdisk", frozenset()), ("sfdisk", frozenset()), ("parted", frozenset()),
    ("blkdiscard", frozenset()), ("reset-to-defaults", frozenset()),
)


def denied(words: list[str], rules: tuple[tuple[str, ...], ...] = ()) -> str | None:
    """The rule that refuses this one simple command, or None: the built-in list above,
    then ``rules`` (program, then words that must all be among its arguments)."""
    if not words:
        return None
    program, args = words[0], words[1:]
    for name, any_of in SHELL_DENY:
        if program == name or program.startswith(name + "."):
            hit = next((a for a in args if a in any_of), None)
            if not any_of or hit is not None:
                return f"{name} {hit}" if hit else name
    if program == "rm" and _recursive(args) and any(_is_root(a) for a in args
                                                    if not a.startswith("-")):
        return "rm -r /"
    lowered = [a.lower() for a in args]
    for rule in rules:
        if rule and posixpath.basename(rule[0]) == program.lower() \
                and all(w in lowered for w in rule[1:]):
            return " ".join(rule)
    return None


def _recursive(args: list[str]) -> bool:
    return any(a in ("--recursive", "-r", "-R") or (a.startswith("-") and not a.startswith("--")
                                                      and ("r" in a or "R" in a)) for a in args)


def _is_root(path: str) -> bool:
    """"/", "/*", "/.", "//", "/./" and the like: the whole file system."""
    stripped = path.replace("/./", "/").rstrip("*").rstrip(".").replace("//", "/")
    return stripped in ("/", "") and path.startswith("/")
