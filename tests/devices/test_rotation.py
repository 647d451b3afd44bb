"""Credential rotation: new random credentials set on the device, proven, then stored.

Linux is rotated for real, on the test sshd (its account may sudo with its password).
Network families are driven against a stand-in: the IOS simulator cannot change its
own users, so a small scripted device (below) plays one, holding its users and enable
secret and accepting only what was last set.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any

import paramiko
import pytest
from sqlalchemy import select, update

from custody.audit.models import AuditEvent
from custody.db import transaction
from custody.demo_device import ensure_account
from custody.devices.models import AccessSession, Device
from custody.devices.rotation import CredentialRotation
from custody.devices.ssh import ConnectTarget, DeviceConnection
from custody.errors import Conflict, DeviceAuthError, DeviceError
from custody.jobs.sessions import rotate_due
from custody.sensitive import Secret
from tests.conftest import FrozenClock
from tests.lab import Lab, audit_actions
from tests.peers import DEVICE_PASSWORD, DEVICE_USER, SshDevice

LINUX_CREDS = {"username": DEVICE_USER, "password": DEVICE_PASSWORD, "secret": DEVICE_PASSWORD}


@pytest.fixture
def restored(sshd: SshDevice) -> Iterator[SshDevice]:
    """The shared test device gets its canary password back afterwards."""
    yield sshd
    ensure_account(DEVICE_USER, DEVICE_PASSWORD)


def can_log_in(device: SshDevice, password: str) -> bool:
    sock = socket.create_connection(("127.0.0.1", device.port), timeout=10,
                                    source_address=("127.0.0.2", 0))
    transport = paramiko.Transport(sock)
    try:
        transport.start_client(timeout=10)
        transport.auth_password(DEVICE_USER, password)
        return transport.is_authenticated()
    except paramiko.AuthenticationException:
        return False
    finally:
        transport.close()


def stored(lab: Lab, device_id: int) -> tuple[dict[str, str], list[int]]:
    with lab.services.db() as db:
        device = db.get(Device, device_id)
        assert device is not None and device.secret_path is not None
        path = device.secret_path
    store = lab.services.secrets
    return {k: v.reveal() for k, v in store.get(path).items()}, store.versions(path)


def test_linux_rotation_sets_proves_and_stores(lab: Lab, restored: SshDevice) -> None:
    device_id = lab.enrol(restored.port, credentials=LINUX_CREDS)
    resp = lab.client.post(f"/api/v1/devices/{device_id}/rotate", headers=lab.admin)
    assert resp.status_code == 200, resp.json
    creds, versions = stored(lab, device_id)
    new = creds["password"]
    assert new != DEVICE_PASSWORD and creds["secret"] == new and len(new) == 24
    assert versions == [resp.json["version"]]  # the old version is destroyed once proven
    assert not can_log_in(restored, DEVICE_PASSWORD)
    assert can_log_in(restored, new)
    sid = lab.open(device_id)
    assert lab.run(sid, "id -un") == (200, {"output": DEVICE_USER})
    root = lab.client.post(f"/api/v1/devices/{device_id}/sessions", headers=lab.tech, json={
        "reason": "TICKET-9", "ttl_seconds": 300, "privileged": True}).json["id"]
    assert lab.run(root, "id -u") == (200, {"output": "0"})  # sudo takes the new secret too
    assert "device.rotate" in audit_actions(lab)
    with lab.services.db() as db:
        events = "".join(str(e.details) for e in db.scalars(select(AuditEvent)))
    assert new not in events and new not in resp.get_data(as_text=True)
    assert lab.client.post(f"/api/v1/devices/{device_id}/rotate",
                           headers=lab.tech).status_code == 403


class RefuseNewLogin:
    """Stand-in for a device that accepts the change but then refuses the new password
    (a real sshd cannot be made to do that): every connection after the first fails."""

    def __init__(self, real: Any) -> None:
        self.real, self.calls = real, 0

    def connect(self, target: ConnectTarget, credentials: Mapping[str, Secret]
                ) -> DeviceConnection:
        self.calls += 1
        if self.calls > 1:
            raise DeviceAuthError("refused the stored credentials")
        connection: DeviceConnection = self.real.connect(target, credentials)
        return connection


def rotation_with(lab: Lab, connector: Any) -> CredentialRotation:
    svc = lab.services
    return CredentialRotation(svc.db, svc.secrets, connector, svc.audit, svc.clock,
                              svc.settings.broker)


def test_a_failed_rotation_leaves_a_working_credential(lab: Lab, restored: SshDevice) -> None:
    device_id = lab.enrol(restored.port, credentials=LINUX_CREDS)
    rotation = rotation_with(lab, RefuseNewLogin(lab.services.broker._connector))  # type: ignore[attr-defined]
    with pytest.raises(DeviceError, match="old ones were put back"):
        rotation.rotate(device_id, "user:boss", "on demand")
    creds, versions = stored(lab, device_id)
    assert creds["password"] == DEVICE_PASSWORD and versions == [1]
    assert can_log_in(restored, DEVICE_PASSWORD)  # put back on the device
    assert "device.rotation_failed" in audit_actions(lab)
    assert lab.run(lab.open(device_id), "echo works") == (200, {"output": "works"})


class PurgedMeanwhile:
    """The device is purged while its rotation runs: the purge's own effects (secrets
    destroyed, device marked purged) happen between the change and the store."""

    def __init__(self, lab: Lab, device_id: int) -> None:
        self.lab, self.device_id = lab, device_id
        self.real = lab.services.broker._connector  # type: ignore[attr-defined]
        self.calls = 0

    def connect(self, target: ConnectTarget, credentials: Mapping[str, Secret]
                ) -> DeviceConnection:
        self.calls += 1
        if self.calls == 2:  # the proof login: purge now
            with transaction(self.lab.services.db) as db:
                device = db.get(Device, self.device_id)
                assert device is not None and device.secret_path
                self.lab.services.secrets.destroy(device.secret_path)
                device.secret_path, device.access_state = None, "purged"
        connection: DeviceConnection = self.real.connect(target, credentials)
        return connection


def test_a_purge_always_wins(lab: Lab, restored: SshDevice) -> None:
    device_id = lab.enrol(restored.port, credentials=LINUX_CREDS)
    with lab.services.db() as db:
        device = db.get(Device, device_id)
        assert device is not None and device.secret_path
        path = device.secret_path
    with pytest.raises(Conflict, match="purged during the rotation"):
        rotation_with(lab, PurgedMeanwhile(lab, device_id)).rotate(device_id, "scheduler", "x")
    assert lab.services.secrets.versions(path) == []  # nothing stored
    assert "device.rotation_aborted" in audit_actions(lab)


def test_a_rotation_locks_session_opens(lab: Lab, sshd: SshDevice, clock: FrozenClock) -> None:
    device_id = lab.enrol(sshd.port, credentials=LINUX_CREDS)
    with transaction(lab.services.db) as db:
        db.execute(update(Device).where(Device.id == device_id).values(rotating_since=clock()))
    resp = lab.client.post(f"/api/v1/devices/{device_id}/sessions", headers=lab.tech,
                           json={"reason": "TICKET-2", "ttl_seconds": 300})
    assert resp.status_code == 409 and "being rotated" in resp.json["error"]["message"]
    with pytest.raises(Conflict, match="being rotated already"):
        lab.services.rotation.rotate(device_id, "user:boss", "on demand")


class ScriptedCisco:
    """The stand-in network device: its users and enable secret, changed only by the
    configuration lines it is sent, and logins that must match them."""

    def __init__(self, username: str, password: str, secret: str) -> None:
        self.users = {username: password}
        self.enable = secret
        self.saved = False
        self.lines: list[str] = []

    def connect(self, target: ConnectTarget, credentials: Mapping[str, Secret]
                ) -> DeviceConnection:
        user, password = credentials["username"].reveal(), credentials["password"].reveal()
        if self.users.get(user) != password:
            raise DeviceAuthError("refused the stored credentials")
        if target.privileged and credentials["secret"].reveal() != self.enable:
            raise DeviceAuthError("refused the stored enable secret")
        return _ScriptedSession(self, target.privileged)


class _ScriptedSession:
    def __init__(self, device: ScriptedCisco, enabled: bool) -> None:
        self.device, self.enabled = device, enabled

    def send_config_set(self, lines: Sequence[str], config_mode: bool = True) -> str:
        assert self.enabled, "configuration needs enable"
        for line in lines:
            self.device.lines.append(line)
            words = line.split()
            if words[:1] == ["username"] and words[2] == "secret":
                self.device.users[words[1]] = words[3]
            elif words[:2] == ["enable", "secret"]:
                self.device.enable = words[2]
        return "fs-r1(config)#"

    def send_command(self, command: str) -> str:
        self.device.saved |= command == "write memory"
        return "[OK]"

    def exec_command(self, command: str) -> str:
        raise NotImplementedError

    def exec_with_input(self, command: str, stdin: str | None) -> tuple[int, str]:
        raise NotImplementedError

    def channel(self) -> Any:
        raise NotImplementedError

    def close(self) -> None:
        pass


def test_cisco_rotation_against_the_stand_in(lab: Lab, ios: int) -> None:
    device_id = lab.enrol(ios, device_type="cisco_ios", name="fs-r1", credentials={
        "username": "admin", "password": "Old-Pass-1", "secret": "Old-Enable-1"})
    cisco = ScriptedCisco("admin", "Old-Pass-1", "Old-Enable-1")
    rotation_with(lab, cisco).rotate(device_id, "user:boss", "on demand")
    creds, versions = stored(lab, device_id)
    assert cisco.users == {"admin": creds["password"]} and cisco.enable == creds["secret"]
    assert creds["password"] != "Old-Pass-1" and creds["secret"] != creds["password"]
    assert cisco.lines == [f"username admin secret {creds['password']}",
                           f"enable secret {creds['secret']}"]
    assert cisco.saved and len(versions) == 1


def test_policy_rotates_after_privileged_sessions_and_on_schedule(
        lab: Lab, ios: int, clock: FrozenClock) -> None:
    lab.client.put(f"/api/v1/clients/{lab.client_id}/policy", headers=lab.admin,
                   json={"rotate_after_privileged": True, "rotate_every_days": 30})
    creds = {"username": "admin", "password": "Old-Pass-1", "secret": "Old-Enable-1"}
    device_id = lab.enrol(ios, device_type="cisco_ios", name="fs-r1", credentials=creds)
    svc = lab.services
    cisco = ScriptedCisco("admin", "Old-Pass-1", "Old-Enable-1")
    svc_with_stand_in = replace(svc, rotation=rotation_with(lab, cisco))
    with transaction(svc.db) as db:
        assert svc.rotation.due(db) == []  # nothing happened yet
        now = clock()
        db.add(AccessSession(device_id=device_id, client_id=lab.client_id, user_id=None,
                             reason="TICKET-3", ttl_seconds=300, state="closed",
                             requested_at=now, opened_at=now, closed_at=now + timedelta(
                                 minutes=1), privileged=True))
    clock.advance(minutes=2)
    with transaction(svc.db) as db:
        assert svc.rotation.due(db) == [(device_id, "after a privileged session")]
    rotate_due(svc_with_stand_in)
    assert cisco.enable == stored(lab, device_id)[0]["secret"]
    with transaction(svc.db) as db:
        assert svc.rotation.due(db) == []
    clock.advance(days=31)
    with transaction(svc.db) as db:
        assert svc.rotation.due(db) == [(device_id, "every 30 days")]
