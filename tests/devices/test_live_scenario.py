"""End to end through `custody serve`: broker process, browser terminal, canary sweep.

The service runs as users run it (gunicorn workers plus the broker process), the
devices are a real sshd and a Cisco IOS simulator, and afterwards every HTTP body,
log line, database file (with its WAL) and transcript is searched for the device
credentials: they must appear nowhere.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from simple_websocket import Client as WsClient

from custody.cli import initialize
from custody.config import load_settings
from custody.db import transaction
from custody.services import build_services
from tests.lab import IOS_PASSWORD, IOS_SECRET, IOS_USER
from tests.peers import DEVICE_PASSWORD, DEVICE_USER, SshDevice, free_port
from tests.served import running

CANARIES = [DEVICE_PASSWORD, IOS_PASSWORD, IOS_SECRET]


@pytest.fixture
def database_url() -> str:
    return "unused"  # this module runs its own installation


@dataclass
class Live:
    base: str
    site: Path
    admin: dict[str, str]
    tech: dict[str, str]
    bodies: list[str] = field(default_factory=list)

    def call(self, method: str, path: str, headers: dict[str, str], **kw: Any) -> requests.Response:
        resp = requests.request(method, self.base + path, headers=headers, timeout=60, **kw)
        self.bodies.append(resp.text)
        return resp


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    site = tmp_path / "site"
    port = free_port()
    initialize(site, "boss", port)
    settings = load_settings(site / "custody.toml", environ={})
    svc = build_services(settings)
    with transaction(svc.db) as db:
        svc.accounts.create_user(db, "test", "tina", "technician", password="Tina-Pass-12345")
        admin = svc.tokens.create(db, "test", "boss")
        tech = svc.tokens.create(db, "test", "tina")
    svc.engine.dispose()
    with running(["serve"], site, port, {"CUSTODY_LOGGING__LEVEL": "DEBUG"}):
        yield Live(f"http://127.0.0.1:{port}", site, {"Authorization": f"Bearer {admin}"},
                   {"Authorization": f"Bearer {tech}"})


def enrol(live: Live, port: int, name: str, device_type: str, creds: dict[str, str]) -> int:
    resp = live.call("POST", "/api/v1/devices", live.admin, json={
        "client_id": 1, "name": name, "host": "127.0.0.1", "port": port,
        "device_type": device_type, "egress_ip": "127.0.0.2", "credentials": creds})
    assert resp.status_code == 201, resp.text
    device_id = resp.json()["id"]
    scan = live.call("POST", f"/api/v1/devices/{device_id}/host-key/scan", live.admin)
    pin = live.call("POST", f"/api/v1/devices/{device_id}/host-key", live.admin,
                    json={"fingerprint": scan.json()["pending_fingerprint"]})
    assert pin.status_code == 200
    return int(device_id)


def open_session(live: Live, device_id: int, privileged: bool = False) -> int:
    resp = live.call("POST", f"/api/v1/devices/{device_id}/sessions", live.tech,
                     json={"reason": "TICKET-777", "ttl_seconds": 600, "privileged": privileged})
    assert resp.status_code == 201, resp.text
    return int(resp.json()["id"])


def terminal(live: Live, session_id: int) -> WsClient:
    url = live.base.replace("http", "ws") + f"/tech/sessions/{session_id}/terminal/ws"
    return WsClient.connect(url, headers=live.tech)


def read_until(ws: WsClient, pattern: str, seen: list[str], timeout: float = 15) -> str:
    text = ""
    while not re.search(pattern, text):
        raw = ws.receive(timeout=timeout)
        assert raw is not None, f"no {pattern!r} in {text!r} {seen[-12:]}"
        event = json.loads(raw)
        seen.append(raw)
        assert "end" not in event, event
        text += event.get("read", "") + "".join(f"\n!{kind}: {event[kind]}" for kind in
                                                ("refused", "notice") if kind in event)
    return text


def test_full_scenario_leaks_no_credential(live: Live, sshd: SshDevice, ios: int) -> None:
    assert live.call("POST", "/api/v1/clients", live.admin, json={"name": "Acme"}).status_code == 201
    assert live.call("POST", "/api/v1/egress-profiles", live.admin,
                     json={"name": "node-a", "source_ip": "127.0.0.2"}).status_code == 201
    linux = enrol(live, sshd.port, "srv-1", "linux",
                  {"username": DEVICE_USER, "password": DEVICE_PASSWORD})
    router = enrol(live, ios, "fs-r1", "cisco_ios",
                   {"username": IOS_USER, "password": IOS_PASSWORD, "secret": IOS_SECRET})
    ws_seen: list[str] = []

    # Linux device: a command that echoes the password, then the browser terminal.
    s1 = open_session(live, linux)
    out = live.call("POST", f"/api/v1/sessions/{s1}/commands", live.tech,
                    json={"command": f"echo pw={DEVICE_PASSWORD}"})
    assert out.json()["output"] == "pw=[redacted]"
    ws = terminal(live, s1)
    ws.send(f"echo typed {DEVICE_PASSWORD} and $SSH_CLIENT\r")
    assert "typed [redacted] and 127.0.0.2" in read_until(ws, r"and 127\.0\.0\.2", ws_seen)
    ws.send("sudo reboot\r")
    assert "refused by policy" in read_until(ws, r"!refused", ws_seen)
    ws.send("echo last-$((2*3))\r")
    read_until(ws, r"last-6\r?\n.*\$ $", ws_seen)
    ws.close()
    # Attached again, the terminal shows the line the device was left on, before any key
    # (the device is not sent an Enter: that line could be a question).
    ws = terminal(live, s1)
    first = json.loads(ws.receive(timeout=15) or "{}")
    assert first.get("read", "").rstrip().endswith("$"), first
    ws.close()

    # Cisco IOS: enable secret used by the broker, show and configure, blocked reload.
    s2 = open_session(live, router, privileged=True)  # enabled by the broker at login
    version = live.call("POST", f"/api/v1/sessions/{s2}/commands", live.tech,
                        json={"command": "show version"})
    assert "Cisco IOS Software" in version.json()["output"]
    config = live.call("POST", f"/api/v1/sessions/{s2}/commands", live.tech, json={"config": [
        "interface FastEthernet0/1", "description custody-managed", "exit"]})
    assert config.status_code == 200 and "fs-r1(config-if)#" in config.json()["output"]
    running = live.call("POST", f"/api/v1/sessions/{s2}/commands", live.tech,
                        json={"command": "show running-config interface FastEthernet0/1"})
    assert "description custody-managed" in running.json()["output"]
    for blocked in ("reload", "wr er"):
        refused = live.call("POST", f"/api/v1/sessions/{s2}/commands", live.tech,
                            json={"command": blocked})
        assert refused.status_code == 403
    ws = terminal(live, s2)
    ws.send("disable\r")
    read_until(ws, r"fs-r1>", ws_seen)
    ws.send("enable\r")  # after hand-over nobody answers the prompt, and the technician is told
    assert "custody never types a stored secret" in read_until(ws, r"!notice", ws_seen)
    ws.send("a-guess\r")  # (the simulator would take an empty answer: it has no real check)
    assert "Access denied" in read_until(ws, r"fs-r1>", ws_seen)
    ws.send("rel\r")
    assert "refused by policy" in read_until(ws, r"!refused", ws_seen)
    ws.close()

    # Errors on the way: a wrong command shape, a closed session, another's transcript.
    live.call("POST", f"/api/v1/sessions/{s2}/commands", live.tech, json={"command": "a\nb"})
    for sid in (s1, s2):
        assert live.call("DELETE", f"/api/v1/sessions/{sid}", live.tech).status_code == 204
    live.call("POST", f"/api/v1/sessions/{s1}/commands", live.tech, json={"command": "id"})
    assert live.call("GET", f"/api/v1/sessions/{s1}/transcript", live.tech).status_code == 403
    transcripts = [live.call("GET", f"/api/v1/sessions/{sid}/transcript", live.admin).text
                   for sid in (s1, s2)]
    assert "elevated by custody before hand-over" in transcripts[1]
    assert "custody typed nothing" in transcripts[1]
    assert "pw=[redacted]" in transcripts[0]

    haystacks = {"http": "\n".join(live.bodies), "websocket": "\n".join(ws_seen)}
    for path in live.site.rglob("*"):
        if path.is_file():
            haystacks[str(path)] = path.read_bytes().decode("latin-1")
    database = "".join(text for name, text in haystacks.items() if "custody.db" in name)
    assert "session.command" in database and "typed [redacted]" not in database  # readable
    # audit rows are searched; transcripts are encrypted, and were searched decrypted above
    for canary in CANARIES:
        hits = [name for name, text in haystacks.items() if canary in text]
        assert hits == [], f"{canary} found in {hits}"
