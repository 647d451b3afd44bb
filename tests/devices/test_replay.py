"""Transcripts people can use: screen lines, asciicast v2, search and live watching."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from custody.audit.models import AuditEvent
from custody.devices.replay import asciicast, clean, readable
from custody.devices.transcripts import TranscriptLine
from tests.lab import Lab
from tests.peers import SshDevice

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def ev(seconds: float, direction: str, text: str) -> TranscriptLine:
    return TranscriptLine(T0 + timedelta(seconds=seconds), direction, text)


def test_keystroke_echoes_become_lines_without_escape_codes() -> None:
    events = [ev(0, "out", "\x1b[?2004huser@host:~$ "), ev(1, "out", "l"), ev(1.1, "out", "s"),
              ev(1.2, "out", "x\b \b"), ev(2, "in", "ls"),
              ev(2.1, "out", "\r\n\x1b[?2004l\r\x1b[01;34mbin\x1b[0m  etc\r\n"),
              ev(2.2, "out", "user@host:~$ "), ev(3, "note", "refused: 'reboot'")]
    lines = readable(events)
    assert [(line.direction, line.text) for line in lines] == [
        ("out", "user@host:~$ ls"), ("in", "ls"), ("out", "bin  etc"),
        ("out", "user@host:~$"), ("note", "refused: 'reboot'")]
    assert lines[0].at == T0 and lines[2].at == T0 + timedelta(seconds=2.1)
    assert clean("abc\rX") == "Xbc" and clean("\x1b]0;title\x07ok") == "ok"


def test_asciicast_v2() -> None:
    events = [ev(0, "out", "fs-r1#"), ev(0.5, "in", "show ver"), ev(0.7, "cmd", "show clock"),
              ev(0.9, "res", "12:00:00 UTC"), ev(1.5, "note", "disconnected")]
    header, *rows = [json.loads(line) for line in asciicast(events, "s1").splitlines()]
    assert header["version"] == 2 and header["width"] > 0 and header["timestamp"] == int(
        T0.timestamp())
    assert [r[1] for r in rows] == ["o", "i", "o", "o", "m"]
    assert [r[0] for r in rows] == sorted(r[0] for r in rows) and rows[-1][0] == 1.5
    assert "show clock" in rows[2][2] and rows[3][2] == "12:00:00 UTC\r\n"


def test_transcripts_download_search_and_watch(lab: Lab, sshd: SshDevice) -> None:
    device_id = lab.enrol(sshd.port)
    sid = lab.open(device_id)
    assert lab.run(sid, "echo needle-$((20+3))")[0] == 200
    other = lab.open(device_id)
    assert lab.run(other, "uptime")[0] == 200

    cast = lab.client.get(f"/api/v1/sessions/{sid}/transcript.cast", headers=lab.admin)
    assert cast.status_code == 200 and cast.mimetype == "application/x-asciicast"
    assert "attachment" in cast.headers["Content-Disposition"]
    header, *rows = [json.loads(line) for line in cast.get_data(as_text=True).splitlines()]
    assert header["version"] == 2 and any("needle-23" in r[2] for r in rows)
    lines = lab.client.get(f"/api/v1/sessions/{sid}/transcript", headers=lab.admin).json["lines"]
    assert {"direction": "cmd", "text": "echo needle-$((20+3))"}.items() <= lines[1].items()
    assert all("\x1b" not in line["text"] for line in lines)

    search = f"/api/v1/clients/{lab.client_id}/transcripts/search?q=NEEDLE-2"
    found = lab.client.get(search, headers=lab.admin).json["items"]
    assert [(f["session_id"], f["text"]) for f in found] == [(sid, "needle-23")]
    assert lab.client.get(search, headers=lab.tech).status_code == 403  # no permission
    assert lab.client.get(f"/api/v1/clients/{lab.client_id}/transcripts/search?q=x",
                          headers=lab.admin).status_code == 400
    page = lab.client.get(f"/tech/transcripts?client_id={lab.client_id}&q=needle",
                          headers=lab.admin).get_data(as_text=True)
    assert "needle-23" in page
    replay = lab.client.get(f"/tech/sessions/{sid}/transcript", headers=lab.admin)
    assert replay.status_code == 200 and "asciinema-player.min.js" in replay.get_data(as_text=True)
    with lab.services.db() as db:
        searches = db.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "transcript.search"))
    assert searches == 2  # once per search (API and page), not once per session read

    # Watching: one stream, one audit event, ended by the session's end.
    received: list[str] = []
    stream = lab.client.get(f"/tech/sessions/{sid}/watch", headers=lab.admin, buffered=False)
    assert stream.mimetype == "text/event-stream"

    def read() -> None:
        for chunk in stream.response:
            received.append(chunk.decode() if isinstance(chunk, bytes) else chunk)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert lab.run(sid, "echo while-watched")[0] == 200
    assert lab.client.delete(f"/api/v1/sessions/{sid}", headers=lab.tech).status_code == 204
    reader.join(timeout=20)
    assert not reader.is_alive()  # the stream stopped with the session
    text = "".join(received)
    assert "needle-23" in text and "while-watched" in text and "event: end" in text
    with lab.services.db() as db:
        watches = db.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "session.watch"))
    assert watches == 1
    assert lab.client.get(f"/tech/sessions/{other}/watch", headers=lab.tech).status_code == 403


def test_a_disabled_watcher_stops_watching(lab: Lab, sshd: SshDevice) -> None:
    """Offboarding reaches a stream already open: the watcher's next poll ends it, while
    the session itself goes on."""
    from custody.accounts.service import Principal
    from custody.db import transaction

    sid = lab.open(lab.enrol(sshd.port))
    with transaction(lab.services.db) as db:  # another admin, so boss may be disabled
        lab.services.accounts.create_user(db, "test", "deputy", "admin",
                                          password="Deputy-Pass-1234")
    stream = lab.client.get(f"/tech/sessions/{sid}/watch", headers=lab.admin, buffered=False)
    received: list[str] = []

    def read() -> None:
        for chunk in stream.response:
            received.append(chunk.decode() if isinstance(chunk, bytes) else chunk)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert lab.run(sid, "echo before-disable")[0] == 200
    with transaction(lab.services.db) as db:
        boss = lab.services.accounts.find_user(db, Principal.operator("test"), "boss")
        lab.services.accounts.disable_user(db, Principal.operator("test"), boss.id)
    reader.join(timeout=20)
    assert not reader.is_alive()  # the stream stopped with its watcher
    assert 'event: end\ndata: {"state": "watcher disabled"}' in "".join(received)
