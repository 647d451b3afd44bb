"""Shell-like devices: the deny list cannot be talked around.

The line is read with a real shell grammar, so every way a shell has of running a
command is checked: paths, lists, background jobs, substitutions, wrappers, quoting,
compound commands, assignments in front. What cannot be read for certain is refused.
"""

from __future__ import annotations

import itertools

import pytest

from custody.devices.policy import CommandPolicy
from custody.devices.shellwords import commands
from custody.errors import CommandRefused

LINUX = CommandPolicy.for_device("linux", ["whoami"])  # a client's own rule, as in the review

# The review's fifteen: each ran whoami past a deny rule for it.
REVIEW = [
    "/usr/bin/whoami", "echo x & whoami", "echo $(whoami)", "echo `whoami`", "command whoami",
    "env whoami", "sh -c whoami", "\\whoami", "who''ami", "if true; then whoami; fi",
    "{ whoami; }", "X=1 whoami", "( whoami )", "whoami", "true && whoami",
]
# Every default and every way to run it: program forms x wrappers x positions.
PROGRAMS = ["reboot", "/sbin/reboot", "/usr/sbin/reboot", "re''boot", "\\reboot", "'reboot'",
            '"reboot"', "shutdown -h now", "halt", "poweroff", "init 0", "init 6",
            "telinit 6", "systemctl reboot", "systemctl --force reboot", "systemctl poweroff",
            "/bin/systemctl -ff reboot", "systemctl kexec", "mkfs.ext4 /dev/sdb1",
            "mkfs -t xfs /dev/sdc", "dd if=/dev/zero of=/dev/sda", "wipefs -a /dev/sda",
            "shred /dev/sda", "rm -rf /", "rm -rf /*", "rm -r -f /.", "rm --recursive /",
            "kexec -e"]
WRAPPERS = ["{}", "sudo {}", "sudo -u root {}", "env {}", "env -i A=1 {}", "command {}",
            "exec {}", "nohup {}", "timeout 5 {}", "nice -n 19 {}", "busybox {}",
            "sh -c '{}'", "bash -c '{}'", "bash -xc '{}'", "sh -c \"sh -c '{}'\"", "eval {}",
            "X=1 {}", "xargs {} </dev/null", "setsid {}", "doas {}"]
POSITIONS = ["{}", "ls; {}", "true && {}", "false || {}", "ls | {}", "{} &", "echo $({})",
             "echo `{}`", "( {} )", "{{ {}; }}", "if true; then {}; fi",
             "while true; do {}; done", "for i in 1; do {}; done", "cat <({})"]


def evasions() -> list[str]:
    """At least a hundred lines, each of which would run a denied command."""
    lines = [w.format(p) for p, w in itertools.product(PROGRAMS[:8], WRAPPERS)]
    lines += [pos.format(p) for p, pos in itertools.product(PROGRAMS, POSITIONS[:4])]
    lines += [pos.format(w.format("reboot")) for w, pos in itertools.product(
        WRAPPERS[:6], POSITIONS)]
    return lines


def test_there_are_enough_evasions() -> None:
    assert len(set(evasions())) >= 100


@pytest.mark.parametrize("line", REVIEW)
def test_the_reviews_evasions_are_refused(line: str) -> None:
    with pytest.raises(CommandRefused):
        LINUX.check(line)


@pytest.mark.parametrize("line", sorted(set(evasions())))
def test_every_evasion_of_the_defaults_is_refused(line: str) -> None:
    with pytest.raises(CommandRefused):
        LINUX.check(line)


@pytest.mark.parametrize("line", [
    "f() { reboot; }; f",   # a function can stand in for any command
    "$CMD", "${X}boot", "r$(echo e)boot",  # a name built at run time
    ". ./script.sh", "source /tmp/x",  # a file's content cannot be checked
    "ls 'unterminated", "echo $(", "if true; then",  # not a complete line
    "echo $(( $(reboot) + 1 ))",  # a command inside arithmetic
])
def test_what_cannot_be_read_for_certain_is_refused(line: str) -> None:
    with pytest.raises(CommandRefused, match="refused"):
        LINUX.check(line)


ORDINARY = [
    "id -un", "uptime", "ls -la /var/log", "df -h", "free -m", "ip -br addr", "ip route",
    "ss -tulpn", "ps aux | grep sshd", "journalctl -u ssh --since today | tail -n 50",
    "cat /etc/os-release", "systemctl status sshd", "systemctl restart nginx",
    "ping -c 3 192.0.2.1", "traceroute -n 192.0.2.1", "rm -rf /tmp/build",
    "echo reboot-later", "grep -r 'reboot' /var/log/syslog", "tail -f /var/log/syslog &",
    "dmesg | tail", "uname -a && hostname", "find /etc -name '*.conf' | head",
    "sudo systemctl status cron", "timeout 5 ping -c 1 192.0.2.1", "env | sort",
    "for i in 1 2 3; do echo $i; done", "X=1 printenv X", "du -sh /var/* 2>/dev/null",
    "lsblk", "mount | grep ' / '", "echo $((40+2))", "[[ -f /etc/hosts ]] && echo yes",
    "(( 1 + 1 ))",
]


@pytest.mark.parametrize("line", ORDINARY)
def test_ordinary_work_passes(line: str) -> None:
    LINUX.check(line)


def test_every_command_in_every_position_is_seen() -> None:
    found = commands("a; b && c || d | e & f $(g) `h` <(i); { j; }; ( k ); "
                     "if l; then m; else n; fi; while o; do p; done")
    assert {w[0] for w in found} >= set("abcdefghijklmnop")
    assert ["whoami"] in commands("sudo -u root env -i A=1 nohup timeout 5 /usr/bin/whoami")
