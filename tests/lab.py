"""The broker lab: a real sshd device, a Cisco IOS simulator, staff and a client.

Its fixtures are registered in tests/conftest.py so that every directory shares
one sshd and one simulator per test session.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from custody.audit.models import AuditEvent
from custody.db import transaction
from custody.services import Services
from tests.peers import DEVICE_PASSWORD, DEVICE_USER, SshDevice, free_port, wait_for_port

IOS_USER, IOS_PASSWORD, IOS_SECRET = "admin", "Ios-Canary-Pw-5521", "En-Canary-Secret-88"


def audit_actions(lab: Lab) -> list[str]:
    """Every audit event's action, oldest first."""
    with lab.services.db() as db:
        return list(db.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="session")
def sshd() -> Iterator[SshDevice]:
    device = SshDevice(allowed_source="127.0.0.2")
    yield device
    device.cleanup()


@pytest.fixture
def fresh_sshd() -> Iterator[SshDevice]:
    """An sshd of its own, for tests that change its host key."""
    device = SshDevice(allowed_source="127.0.0.2")
    yield device
    device.cleanup()


@pytest.fixture(scope="session")
def ios() -> Iterator[int]:
    """fake-switches' IOS simulator (password login, enable secret, config mode)."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-W", "ignore", str(Path(__file__).parent / "fake_ios.py"),
         "127.0.0.1", str(port), IOS_USER, IOS_PASSWORD, IOS_SECRET],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port("127.0.0.1", port)
    yield port
    proc.terminate()
    proc.wait(timeout=10)


@dataclass
class Lab:
    """Staff, a client with an egress profile, and helpers to enrol devices through the API."""

    client: FlaskClient
    services: Services
    admin: dict[str, str]
    tech: dict[str, str]
    tech2: dict[str, str]
    client_user: dict[str, str]
    client_id: int

    def enrol(self, port: int, *, device_type: str = "linux", egress_ip: str = "127.0.0.2",
              name: str = "edge-1", credentials: dict[str, str] | None = None,
              pin: bool = True) -> int:
        creds = credentials or {"username": DEVICE_USER, "password": DEVICE_PASSWORD}
        resp = self.client.post("/api/v1/devices", headers=self.admin, json={
            "client_id": self.client_id, "name": name, "host": "127.0.0.1", "port": port,
            "device_type": device_type, "egress_ip": egress_ip, "credentials": creds})
        assert resp.status_code == 201, resp.json
        device_id = int(resp.json["id"])
        if pin:
            scan = self.client.post(f"/api/v1/devices/{device_id}/host-key/scan", headers=self.admin)
            assert scan.status_code == 200, scan.json
            ok = self.client.post(f"/api/v1/devices/{device_id}/host-key", headers=self.admin,
                                  json={"fingerprint": scan.json["pending_fingerprint"]})
            assert ok.status_code == 200, ok.json
        return device_id

    def open(self, device_id: int, headers: dict[str, str] | None = None,
             ttl: int = 600) -> int:
        resp = self.client.post(f"/api/v1/devices/{device_id}/sessions",
                                headers=headers or self.tech,
                                json={"reason": "TICKET-1234", "ttl_seconds": ttl})
        assert resp.status_code == 201, resp.json
        return int(resp.json["id"])

    def run(self, session_id: int, command: str, headers: dict[str, str] | None = None
            ) -> tuple[int, dict[str, object]]:
        resp = self.client.post(f"/api/v1/sessions/{session_id}/commands",
                                headers=headers or self.tech, json={"command": command})
        return resp.status_code, resp.json


@pytest.fixture
def lab(client: FlaskClient, services: Services) -> Iterator[Lab]:
    with transaction(services.db) as db:
        for name, role in (("boss", "admin"), ("tina", "technician"), ("theo", "technician")):
            services.accounts.create_user(db, "test", name, role, password=f"{name}-Pass-12345")
        tokens = {n: services.tokens.create(db, "test", n, days=3650) for n in ("boss", "tina", "theo")}
    admin = auth(tokens["boss"])
    cid = client.post("/api/v1/clients", json={"name": "Acme"}, headers=admin).json["id"]
    with transaction(services.db) as db:
        services.accounts.create_user(db, "test", "acme-user", "client", cid,
                                      password="Acme-Pass-12345")
        client_token = services.tokens.create(db, "test", "acme-user", days=3650)
    for name, ip in (("node-a", "127.0.0.2"), ("node-b", "127.0.0.3")):
        assert client.post("/api/v1/egress-profiles", headers=admin,
                           json={"name": name, "source_ip": ip}).status_code == 201
    yield Lab(client, services, admin, auth(tokens["tina"]), auth(tokens["theo"]),
              auth(client_token), cid)
    for session_id in services.broker.live_sessions():  # type: ignore[attr-defined]
        services.broker.close(session_id)
