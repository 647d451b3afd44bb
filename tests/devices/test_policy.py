"""Command policy: denied commands are blocked, abbreviations included."""

from __future__ import annotations

import pytest

from custody.devices.policy import CommandPolicy
from custody.errors import CommandRefused, InvalidInput

IOS = CommandPolicy.for_device("cisco_ios")
LINUX = CommandPolicy.for_device("linux")


@pytest.mark.parametrize("command", [
    "reload", "rel", "reload in 5", "wr er", "write erase", "erase startup-config",
    "do reload", "delete flash:config.text", "crypto key zeroize rsa", "format flash:",
    "  RELOAD  ",
    # Ambiguous on the device ("re": reload, release, rename, resume...): the word list
    # cannot decide, so the line is refused rather than guessed in the technician's favour.
    "re", "d",
])
def test_ios_denied(command: str) -> None:
    with pytest.raises(CommandRefused, match="refused by policy"):
        IOS.check(command)


@pytest.mark.parametrize("command", [
    "show running-config", "show version", "write memory", "wr", "show reload",
    "configure terminal", "interface Gi0/1", "conf t", "dir flash:",
])
def test_ios_allowed(command: str) -> None:
    IOS.check(command)


@pytest.mark.parametrize("command", [
    "reboot", "sudo reboot", "ls; reboot", "true && shutdown -h now", "rm -rf /",
    "echo x | poweroff", "dd if=/dev/zero of=/dev/sda",
])
def test_shell_denied(command: str) -> None:
    with pytest.raises(CommandRefused):
        LINUX.check(command)


@pytest.mark.parametrize("command", ["id -un", "echo reboot-later", "ls /tmp", "rm -rf /tmp/x",
                                     "uptime"])
def test_shell_allowed(command: str) -> None:
    LINUX.check(command)


def test_client_rules_add_to_defaults() -> None:
    policy = CommandPolicy.for_device("cisco_ios", ["no router bgp"])
    with pytest.raises(CommandRefused):
        policy.check("no router bgp 65001")
    policy.check("router bgp 65001")


@pytest.mark.parametrize(("command", "message"), [
    ("", "must not be empty"), ("x" * 5000, "longer than 4096 bytes"),
    ("show ver\nreload", "one line"), ("show \x1b[A", "unsupported characters"),
    ("show vérsion", "unsupported characters"),
])
def test_malformed_commands(command: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        IOS.check(command)
