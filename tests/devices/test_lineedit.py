"""The line the device will run: the editor model and the echo on an emulated screen."""

from __future__ import annotations

import pytest

from custody.devices.lineedit import EchoLine, LineEditor


@pytest.mark.parametrize(("keys", "line"), [
    ("whoami", "whoami"),
    ("xwhoami\x01\x04", "whoami"),  # the review's Ctrl-A, Ctrl-D
    ("rebootx\x7f", "reboot"),
    ("reboo\x02\x02\x06\x06t", "reboot"),
    ("eboot\x1b[Hr", "reboot"),  # Home, then insert
    ("eboot\x1bOHr", "reboot"),
    ("r\x1b[Deboot\x1b[D\x1b[3~", "eboor"),
    ("ls /tmp\x17reboot", "ls reboot"),
    ("echo hi\x01\x0breboot", "reboot"),
    ("echo hi\x15reboot", "reboot"),
    ("echo hi\x03reboot", "reboot"),
    ("re\x1b[4~boot", "reboot"),
])
def test_the_editor_applies_editing_keys(keys: str, line: str) -> None:
    editor = LineEditor()
    editor.feed(keys)
    assert editor.certain
    assert editor.text == line


@pytest.mark.parametrize("keys", ["who\t", "\x1b[A", "\x10", "\x12who", "\x19", "\x14",
                                  "ab\x1bb", "\x1b[200~reboot\x1b[201~"])
def test_keys_whose_effect_depends_on_the_device_make_the_line_uncertain(keys: str) -> None:
    editor = LineEditor()
    editor.feed(keys)
    assert not editor.certain


def test_the_help_key_is_not_part_of_the_line() -> None:
    editor = LineEditor(help_key="?")
    editor.feed("show ?ver")
    assert editor.text == "show ver"


def test_the_echo_is_read_after_the_prompt() -> None:
    echo = EchoLine()
    echo.begin("\x1b[01;32muser@host\x1b[00m:~$ ")
    echo.feed("xwhoami\b\b\b\b\b\b\b\x1b[1Pwhoami\b\b\b\b\b\b")  # readline redrawing a deletion
    assert echo.line() == "whoami"


def test_the_echo_after_completion_and_help() -> None:
    echo = EchoLine()
    echo.begin("fs-r1#")
    echo.feed("sh\x07ow ")  # completion: the device prints the rest of the word
    assert echo.line() == "show"
    echo.feed("?\r\n  version  System hardware and software status\r\n\r\nfs-r1#show ")
    assert echo.line() == "show"


def test_a_screen_that_no_longer_shows_the_prompt_cannot_say() -> None:
    echo = EchoLine()
    echo.begin("user@host:~$ ")
    echo.feed("\r(reverse-i-search)`who': whoami")
    assert echo.line() is None


def test_non_ascii_keys_make_the_line_uncertain() -> None:
    """readline deletes a whole character cluster (or reads bytes as Meta keys): the model
    cannot follow, so the echo decides."""
    editor = LineEditor()
    editor.feed("whoamiX\u0301\x7f")
    assert not editor.certain


def test_a_key_sequence_left_open_is_flagged() -> None:
    for prefix in ("\x1b", "\x18", "\x16"):
        editor = LineEditor()
        editor.feed("echo $(whoami)" + prefix)
        assert editor.pending
    editor = LineEditor()
    editor.feed("ls\x1b[D")
    assert not editor.pending


def test_private_sequences_pyte_cannot_draw_lose_the_echo() -> None:
    echo = EchoLine()
    echo.begin("$ ")
    echo.feed("\x1b[?4m")
    assert echo.line() is None or echo.line() == ""
    assert EchoLine.last_line("$ whoami\b\b\b\b\b\b\x1b[K") == "$"
