"""Transcripts people can use: readable lines, asciicast v2 for any asciinema player,
and search across a client's sessions.

A transcript is stored as timed, encrypted events (custody.devices.transcripts): what
the device printed ("out"), the lines the terminal let through as checked ("in"),
commands and results of the API ("cmd", "res") and the broker's notes ("note"). From
those events this module renders:
- ``readable``: one entry per screen line, with the time it started, escape codes and
  carriage-return redraws applied (never one keystroke per line);
- ``asciicast``: the asciicast v2 file format (a JSON header, then one
  ``[seconds, code, data]`` event per line), replayed by asciinema-player or
  ``asciinema play``; notes become markers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from custody.devices.transcripts import TranscriptLine

_ESCAPE = re.compile(r"\x1b(\[[0-9;?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[()][0-9A-Za-z]|[=>78]|.)")
_CONTROL = re.compile(r"[\x00-\x07\x0b-\x1f\x7f]")
MAX_LINE = 2000


@dataclass(frozen=True)
class Line:
    at: datetime
    direction: str
    text: str


def clean(text: str) -> str:
    """One line as a screen shows it: escapes dropped, backspaces and returns applied."""
    text = _ESCAPE.sub("", text)
    shown: list[str] = []
    col = 0
    for ch in text:
        if ch == "\r":
            col = 0
        elif ch == "\b":
            col = max(0, col - 1)
        elif _CONTROL.match(ch):
            continue
        else:
            if col < len(shown):
                shown[col] = ch
            else:
                shown.append(ch)
            col += 1
    return "".join(shown).rstrip()[:MAX_LINE]


def readable(events: Iterable[TranscriptLine]) -> list[Line]:
    """Screen lines with the time each began; the stream's redraws applied."""
    lines: list[Line] = []
    pending, started = "", None
    for event in events:
        if event.direction not in ("out", "res"):
            if pending:
                lines.append(Line(started or event.at, "out", clean(pending)))
                pending, started = "", None
            lines.append(Line(event.at, event.direction, clean(event.text)))
            continue
        text = pending + event.text.replace("\r\n", "\n")
        started = started or event.at
        *complete, pending = text.split("\n")
        for part in complete:
            lines.append(Line(started, "out", clean(part)))
            started = event.at
        if event.direction == "res" and pending:  # an API result is complete as it is
            lines.append(Line(started, "out", clean(pending)))
            pending, started = "", None
    if pending:
        lines.append(Line(started or datetime.min, "out", clean(pending)))
    return [line for line in lines if line.text or line.direction != "out"]


def asciicast(events: Sequence[TranscriptLine], title: str, width: int = 120,
              height: int = 40) -> str:
    """The transcript as an asciicast v2 recording."""
    start = events[0].at if events else None
    header = {"version": 2, "width": width, "height": height,
              "timestamp": int(start.timestamp()) if start else 0, "title": title,
              "env": {"TERM": "xterm-256color"}}
    out = [json.dumps(header)]
    for event in events:
        t = round((event.at - start).total_seconds(), 6) if start else 0.0
        if event.direction == "out":
            out.append(json.dumps([t, "o", event.text]))
        elif event.direction == "in":
            out.append(json.dumps([t, "i", event.text + "\r"]))
        elif event.direction == "cmd":  # an API command: shown as typed at a prompt
            out.append(json.dumps([t, "o", f"\x1b[1m$ {event.text}\x1b[0m\r\n"]))
        elif event.direction == "res":
            text = event.text.replace("\r\n", "\n").replace("\n", "\r\n")
            out.append(json.dumps([t, "o", text + ("" if text.endswith("\n") else "\r\n")]))
        else:
            out.append(json.dumps([t, "m", event.text]))
    return "\n".join(out) + "\n"


def matches(lines: Iterable[Line], query: str) -> list[Line]:
    """Lines holding ``query`` (case-insensitive)."""
    needle = query.casefold()
    return [line for line in lines if needle in line.text.casefold()]
