"""What a line will be when Enter is pressed: a model of the device's line editor, and
the device's own echo rendered by a terminal emulator.

The command policy must check the line the device will execute, not the keys that
were typed: ``xwhoami``, Ctrl-A, Ctrl-D is ``whoami``. Two independent readings:

- ``LineEditor`` applies the editing keys that readline (bash) and Cisco-style CLIs
  share: cursor moves (Ctrl-A/E/B/F, arrow keys, Home/End), deletions (backspace,
  Ctrl-D, Delete, Ctrl-K/U/W), Ctrl-C. Keys whose effect depends on device state
  (Tab completion, history recall, search, yank, transpose, Alt-motions) make the
  line *uncertain*.
- ``EchoLine`` feeds what the device echoes into pyte, a VT100 emulator, and reads
  the line back off the emulated screen, after the prompt.

The broker checks every reading it has; when neither is certain, it refuses the line.
"""

from __future__ import annotations

import re

import pyte

_ESCAPES = re.compile(r"\x1b(\[[0-9;]*[A-Za-z~]|O[A-Za-z]|.)", re.S)
# Escape sequences a terminal sends for editing keys, as the key they mean.
_KEYS = {"\x1b[D": "left", "\x1bOD": "left", "\x1b[C": "right", "\x1bOC": "right",
         "\x1b[H": "home", "\x1bOH": "home", "\x1b[1~": "home", "\x1b[F": "end",
         "\x1bOF": "end", "\x1b[4~": "end", "\x1b[3~": "delete"}
_PREFIX_KEYS = "\x1b\x18\x16"  # ESC (meta), Ctrl-X, Ctrl-V (quoted insert)
_CONTROL = {"\x01": "home", "\x05": "end", "\x02": "left", "\x06": "right", "\x04": "delete",
            "\x7f": "backspace", "\x08": "backspace", "\x0b": "kill-end", "\x15": "kill-start",
            "\x17": "kill-word", "\x03": "cancel"}


class LineEditor:
    """The line as the device's editor holds it, from the keys sent to it."""

    def __init__(self, help_key: str = "") -> None:
        self._help_key = help_key
        self.reset()

    def reset(self) -> None:
        self.text = ""
        self.cursor = 0
        self.certain = True
        self.keys = 0  # keys since the line began
        self.pending = False  # the last key starts a sequence (ESC, Ctrl-X, Ctrl-V)

    def feed(self, data: str) -> None:
        """Apply keystrokes (never Enter: the caller splits lines)."""
        if data:
            # Whatever comes next (Enter, or the broker's own keys) would complete it.
            self.pending = data[-1] in _PREFIX_KEYS
        pos = 0
        while pos < len(data):
            self.keys += 1
            if data[pos] == "\x1b":
                match = _ESCAPES.match(data, pos)
                seq = match.group(0) if match else data[pos:]
                pos += len(seq)
                action = _KEYS.get(seq)
                if action is None:
                    self.certain = False  # Alt-b, history, bracketed paste...
                else:
                    self._apply(action)
                continue
            ch = data[pos]
            pos += 1
            if ch in _CONTROL:
                self._apply(_CONTROL[ch])
            elif ch == self._help_key:
                pass  # help is shown, the line is left as it was
            elif ch.isprintable() and ch.isascii():
                self.text = self.text[:self.cursor] + ch + self.text[self.cursor:]
                self.cursor += 1
            else:  # Tab, Ctrl-P/N/R/T/Y/V, non-ASCII...: the result depends on the device
                self.certain = False

    def _apply(self, action: str) -> None:
        t, c = self.text, self.cursor
        if action == "home":
            self.cursor = 0
        elif action == "end":
            self.cursor = len(t)
        elif action == "left":
            self.cursor = max(0, c - 1)
        elif action == "right":
            self.cursor = min(len(t), c + 1)
        elif action == "delete":
            self.text = t[:c] + t[c + 1:]
        elif action == "backspace":
            if c:
                self.text, self.cursor = t[:c - 1] + t[c:], c - 1
        elif action == "kill-end":
            self.text = t[:c]
        elif action == "kill-start":
            self.text, self.cursor = t[c:], 0
        elif action == "kill-word":
            start = len(t[:c].rstrip())
            start = len(t[:start]) - len(re.split(r"\s", t[:start])[-1])
            self.text, self.cursor = t[:start] + t[c:], start
        elif action == "cancel":
            self.text, self.cursor = "", 0


class EchoLine:
    """The device's echo of the current line, read off an emulated terminal screen.

    Started when the technician begins a line: ``begin(prompt_tail)`` replays the text
    since the last line break (the prompt) so the screen's cursor sits where the device's
    does; everything the device prints afterwards is fed in. ``line()`` is what is on the
    screen after the prompt, or None when the screen cannot say (it scrolled, or the
    cursor went above the prompt).
    """

    COLUMNS, ROWS = 511, 200  # netmiko asks the device for a 511-column terminal

    def __init__(self) -> None:
        self._screen: pyte.Screen | None = None
        self._stream: pyte.Stream | None = None
        self._prompt = 0
        self._prompt_text = ""
        self._lost = False
        self._columns = self.COLUMNS

    def begin(self, prompt_tail: str, columns: int = COLUMNS) -> None:
        """Start a line on a screen as wide as the device's terminal."""
        self._columns = columns
        self._screen = pyte.Screen(columns, self.ROWS)
        self._stream = pyte.Stream(self._screen)
        self._stream.feed(prompt_tail)
        self._prompt = self._screen.cursor.x
        self._prompt_text = self._row(0)[:self._prompt]
        self._lost = self._screen.cursor.y != 0

    @property
    def started(self) -> bool:
        return self._screen is not None

    @classmethod
    def last_line(cls, text: str, columns: int = COLUMNS) -> str:
        """What the line the cursor ends on shows after ``text`` (the device's output since
        its last line break) is drawn: its rows joined, when it wrapped."""
        screen = pyte.Screen(columns, cls.ROWS)
        try:
            pyte.Stream(screen).feed(text)
        except Exception:  # noqa: BLE001 - pyte trips on some private sequences
            return text
        # A line longer than the screen wraps: its rows, joined, are the line.
        rows = []
        for y in range(screen.cursor.y + 1):
            row = screen.buffer[y]
            width = max(row.keys(), default=-1) + 1
            rows.append("".join(row[x].data for x in range(width)).ljust(columns))
        return "".join(rows).rstrip()

    def feed(self, text: str) -> None:
        if self._stream is not None and self._screen is not None:
            try:
                self._stream.feed(text)
            except Exception:  # noqa: BLE001 - pyte trips on some private sequences
                self._lost = True
                return
            if self._screen.cursor.y >= self.ROWS - 1:
                self._lost = True  # the prompt may have scrolled away

    def _row(self, y: int) -> str:
        """Row ``y`` as text, as wide as the screen (only written cells are visited)."""
        if self._screen is None:  # nothing echoed yet: no screen, no text
            return ""
        row = self._screen.buffer[y]
        width = max(row.keys(), default=-1) + 1
        return "".join(row[x].data for x in range(width)).ljust(self._columns)

    def line(self) -> str | None:
        screen = self._screen
        if screen is None or self._lost:
            return None
        # The prompt must still be where it was: a search prompt ("(reverse-i-search)"),
        # help output or a message from the device means the screen no longer shows the line.
        if not self._row(0).startswith(self._prompt_text):
            return None
        y = screen.cursor.y
        if y and self._prompt_text and self._row(y).startswith(self._prompt_text):
            return self._row(y)[self._prompt:].rstrip()  # the line shown again, after help
        text = "".join(self._row(row) for row in range(y + 1))
        return text[self._prompt:].rstrip()

    @property
    def wrapped(self) -> bool:
        """Whether the line runs past the prompt's row."""
        return self._screen is not None and self._screen.cursor.y > 0

    def lose(self) -> None:
        """The screen no longer says what the line is (the terminal was resized under it)."""
        self._lost = True

    def end(self) -> None:
        self._screen = self._stream = None
        self._lost = False
