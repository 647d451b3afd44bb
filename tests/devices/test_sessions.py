"""Sessions through the API against a real OpenSSH device on loopback."""

from __future__ import annotations

import subprocess

from sqlalchemy import select

from custody.db import transaction
from custody.devices.models import AccessSession, Device, EgressProfile
from tests.conftest import FrozenClock
from tests.lab import Lab, audit_actions
from tests.peers import DEVICE_PASSWORD, DEVICE_USER, SshDevice, free_port


def test_pinned_fingerprint_is_the_devices_own(lab: Lab, sshd: SshDevice) -> None:
    device_id = lab.enrol(sshd.port, pin=False)
    scan = lab.client.post(f"/api/v1/devices/{device_id}/host-key/scan", headers=lab.admin)
    keygen = subprocess.run(["ssh-keygen", "-lf", f"{sshd.host_key_path}.pub"],
                            capture_output=True, text=True, check=True).stdout.split()[1]
    assert scan.json["pending_fingerprint"] == keygen
    # No session before the admin confirms the pin.
    resp = lab.client.post(f"/api/v1/devices/{device_id}/sessions", headers=lab.tech,
                           json={"reason": "TICKET-1", "ttl_seconds": 300})
    assert resp.status_code == 409 and "no pinned host key" in resp.json["error"]["message"]
    wrong = lab.client.post(f"/api/v1/devices/{device_id}/host-key", headers=lab.admin,
                            json={"fingerprint": "SHA256:" + "A" * 43})
    assert wrong.status_code == 400 and "does not match" in wrong.json["error"]["message"]
    given = lab.client.post(f"/api/v1/devices/{device_id}/host-key", headers=lab.admin,
                            json={"public_key": sshd.public_host_key()})
    assert given.status_code == 200 and given.json["fingerprint"] == keygen


def test_session_from_the_egress_address(lab: Lab, sshd: SshDevice) -> None:
    device_id = lab.enrol(sshd.port)
    resp = lab.client.post(f"/api/v1/devices/{device_id}/sessions", headers=lab.tech,
                           json={"reason": "TICKET-42 check uplink", "ttl_seconds": 900})
    assert resp.status_code == 201, resp.json
    session = resp.json
    assert session["state"] == "open" and session["source_ip"] == "127.0.0.2"
    assert session["host_key_verified"] is True and session["expires_at"]
    status, body = lab.run(session["id"], "id -un; echo $SSH_CLIENT")
    assert status == 200
    user, ssh_client = str(body["output"]).split()[:2]
    assert user == DEVICE_USER and ssh_client == "127.0.0.2"  # the device saw the egress IP
    assert lab.client.delete(f"/api/v1/sessions/{session['id']}", headers=lab.tech).status_code == 204
    status, body = lab.run(session["id"], "uptime")
    assert status == 409 and "closed" in body["error"]["message"]  # type: ignore[index]
    actions = audit_actions(lab)
    for action in ("session.request", "session.open", "session.command", "session.close"):
        assert action in actions


def test_another_source_address_is_refused(lab: Lab, sshd: SshDevice) -> None:
    device_id = lab.enrol(sshd.port, egress_ip="127.0.0.3", pin=False)
    lab.client.post(f"/api/v1/devices/{device_id}/host-key", headers=lab.admin,
                    json={"public_key": sshd.public_host_key()})
    resp = lab.client.post(f"/api/v1/devices/{device_id}/sessions", headers=lab.tech,
                           json={"reason": "TICKET-9", "ttl_seconds": 300})
    assert resp.status_code == 502
    assert resp.json["error"]["code"] == "device_auth_failed"
    assert "from 127.0.0.3" in resp.json["error"]["message"]
    with lab.services.db() as db:
        session = db.scalars(select(AccessSession)).one()
    assert session.state == "failed" and session.closed_at is not None


def test_egress_address_missing_on_this_host(lab: Lab, sshd: SshDevice) -> None:
    """An address taken off this host after its profile was saved (saving checks it):
    the profile is written directly, as it was before the interface went."""
    resp = lab.client.post("/api/v1/egress-profiles", headers=lab.admin,
                           json={"name": "remote-node", "source_ip": "10.255.255.254"})
    assert resp.status_code == 400
    assert "10.255.255.254 is not configured on this host" in resp.json["error"]["message"]
    with transaction(lab.services.db) as db:
        db.add(EgressProfile(name="remote-node", source_ip="10.255.255.254",
                             created_at=lab.services.clock()))
    device_id = lab.enrol(sshd.port, egress_ip="10.255.255.254", pin=False)
    lab.client.post(f"/api/v1/devices/{device_id}/host-key", headers=lab.admin,
                    json={"public_key": sshd.public_host_key()})
    resp = lab.client.post(f"/api/v1/devices/{device_id}/sessions", headers=lab.tech,
                           json={"reason": "TICKET-9", "ttl_seconds": 300})
    assert resp.status_code == 503 and resp.json["error"]["code"] == "egress_unavailable"
    assert "10.255.255.254 is not configured on this host" in resp.json["error"]["message"]


def test_unknown_egress_profile_is_refused_at_enrolment(lab: Lab, sshd: SshDevice) -> None:
    resp = lab.client.post("/api/v1/devices", headers=lab.admin, json={
        "client_id": lab.client_id, "name": "x", "host": "127.0.0.1", "port": sshd.port,
        "device_type": "linux", "egress_ip": "127.0.0.9",
        "credentials": {"username": "u", "password": "p-123456789"}})
    assert resp.status_code == 400 and "not a defined egress profile" in resp.json["error"]["message"]


def test_changed_host_key_is_refused_and_flagged(lab: Lab, fresh_sshd: SshDevice) -> None:
    device_id = lab.enrol(fresh_sshd.port)
    first = lab.open(device_id)
    lab.client.delete(f"/api/v1/sessions/{first}", headers=lab.tech)
    fresh_sshd.new_host_key()
    resp = lab.client.post(f"/api/v1/devices/{device_id}/sessions", headers=lab.tech,
                           json={"reason": "TICKET-7", "ttl_seconds": 300})
    assert resp.status_code == 502 and resp.json["error"]["code"] == "host_key_mismatch"
    with lab.services.db() as db:
        device = db.get(Device, device_id)
        assert device is not None and device.host_key_mismatch_at is not None
    assert "device.host_key_mismatch" in audit_actions(lab)
    page = lab.client.get(f"/tech/devices/{device_id}", headers=lab.admin).get_data(as_text=True)
    assert "presented a different host key" in page


def test_keyboard_interactive_and_public_key_logins(lab: Lab) -> None:
    kbd = SshDevice(auth="keyboard-interactive")
    try:
        device_id = lab.enrol(kbd.port, name="kbd-only")
        session = lab.open(device_id)
        status, body = lab.run(session, "id -un")
        assert status == 200 and str(body["output"]).strip() == DEVICE_USER
        key_device = lab.enrol(kbd.port, name="key-auth", credentials={
            "username": DEVICE_USER, "private_key": kbd.private_key})
        session = lab.open(key_device, headers=lab.tech2)
        status, body = lab.run(session, "echo key-login-ok", headers=lab.tech2)
        assert status == 200 and "key-login-ok" in str(body["output"])
    finally:
        kbd.cleanup()


def test_policy_blocks_and_audits(lab: Lab, sshd: SshDevice) -> None:
    device_id = lab.enrol(sshd.port)
    session = lab.open(device_id)
    for command in ("reboot", "sudo reboot", "ls; shutdown -h now"):
        status, body = lab.run(session, command)
        assert status == 403, command
        assert body["error"]["code"] == "command_refused"  # type: ignore[index]
    put = lab.client.put(f"/api/v1/clients/{lab.client_id}/policy", headers=lab.admin,
                         json={"deny_commands": ["cat /etc/shadow"]})
    assert put.status_code == 200
    assert lab.run(session, "cat /etc/shadow")[0] == 403
    assert lab.run(session, "echo allowed")[0] == 200
    assert audit_actions(lab).count("session.command_refused") == 4


def test_the_reviews_evasions_never_reach_the_device(lab: Lab, sshd: SshDevice) -> None:
    """The fifteen lines that ran a denied whoami on a real sshd: each is refused and
    audited as it was checked; whoami never runs."""
    from tests.devices.test_shell_policy import REVIEW

    device_id = lab.enrol(sshd.port)
    put = lab.client.put(f"/api/v1/clients/{lab.client_id}/policy", headers=lab.admin,
                         json={"deny_commands": ["whoami"]})
    assert put.status_code == 200
    session = lab.open(device_id)
    for line in REVIEW:
        status, body = lab.run(session, line)
        assert status == 403, (line, body)
        assert DEVICE_USER not in str(body)
    assert lab.run(session, "id -un")[1]["output"].strip().endswith(DEVICE_USER)  # type: ignore[index]
    assert audit_actions(lab).count("session.command_refused") == len(REVIEW)


def test_who_may_open_and_use_sessions(lab: Lab, sshd: SshDevice) -> None:
    device_id = lab.enrol(sshd.port)
    denied = lab.client.post(f"/api/v1/devices/{device_id}/sessions", headers=lab.client_user,
                             json={"reason": "TICKET-1", "ttl_seconds": 300})
    assert denied.status_code == 403
    session = lab.open(device_id)
    assert lab.run(session, "id", headers=lab.tech2)[0] == 404  # another technician's session
    assert lab.run(session, "id", headers=lab.client_user)[0] == 403
    assert lab.run(session, "id -un", headers=lab.admin)[0] == 200  # admins may step in
    # An admin can terminate a technician's session.
    assert lab.client.delete(f"/api/v1/sessions/{session}", headers=lab.admin).status_code == 204
    closed = lab.client.get(f"/api/v1/sessions/{session}", headers=lab.tech).json
    assert closed["state"] == "closed" and closed["close_reason"] == "terminated by boss"


def test_concurrent_session_limit(lab: Lab, sshd: SshDevice) -> None:
    device_id = lab.enrol(sshd.port)
    lab.open(device_id)
    lab.open(device_id, headers=lab.tech2)
    third = lab.client.post(f"/api/v1/devices/{device_id}/sessions", headers=lab.admin,
                            json={"reason": "TICKET-3", "ttl_seconds": 300})
    assert third.status_code == 409 and "limit 2" in third.json["error"]["message"]


def test_approval_policy(lab: Lab, sshd: SshDevice) -> None:
    device_id = lab.enrol(sshd.port)
    lab.client.put(f"/api/v1/clients/{lab.client_id}/policy", headers=lab.admin,
                   json={"require_approval": True, "approver_role": "technician"})
    resp = lab.client.post(f"/api/v1/devices/{device_id}/sessions", headers=lab.tech,
                           json={"reason": "TICKET-5", "ttl_seconds": 300})
    assert resp.status_code == 202 and resp.json["state"] == "pending"
    sid = resp.json["id"]
    assert lab.run(sid, "id")[0] == 409
    pending = lab.client.get("/api/v1/sessions?state=pending", headers=lab.tech2).json["items"]
    assert [s["id"] for s in pending] == [sid]  # the other technician sees what to approve
    own = lab.client.post(f"/api/v1/sessions/{sid}/approve", headers=lab.tech)
    assert own.status_code == 403 and "person who made it" in own.json["error"]["message"]
    approved = lab.client.post(f"/api/v1/sessions/{sid}/approve", headers=lab.tech2)
    assert approved.status_code == 200 and approved.json["state"] == "open"
    assert lab.run(sid, "echo approved")[0] == 200
    assert "session.approve" in audit_actions(lab)


def test_sessions_expire(lab: Lab, sshd: SshDevice, clock: FrozenClock) -> None:
    device_id = lab.enrol(sshd.port)
    session = lab.open(device_id, ttl=120)
    assert lab.run(session, "true")[0] == 200
    clock.advance(seconds=121)
    with lab.services.db() as db:
        assert lab.services.sessions.expire_due(db) == [session]
        db.commit()
    status, body = lab.run(session, "true")
    assert status == 409 and "expired" in body["error"]["message"]  # type: ignore[index]
    assert not lab.services.broker.is_live(session)


def test_transcripts_are_redacted_encrypted_and_permissioned(lab: Lab, sshd: SshDevice) -> None:
    device_id = lab.enrol(sshd.port)
    session = lab.open(device_id)
    status, body = lab.run(session, f"echo the password is {DEVICE_PASSWORD}")
    assert status == 200 and body["output"] == "the password is [redacted]"
    refused = lab.client.get(f"/api/v1/sessions/{session}/transcript", headers=lab.tech)
    assert refused.status_code == 403 and "transcript permission" in refused.json["error"]["message"]
    resp = lab.client.get(f"/api/v1/sessions/{session}/transcript", headers=lab.admin)
    assert resp.status_code == 200
    texts = [line["text"] for line in resp.json["lines"]]
    assert any("echo the password is [redacted]" in t for t in texts)
    assert not any(DEVICE_PASSWORD in t for t in texts)
    assert "transcript.read" in audit_actions(lab)
    with lab.services.engine.connect() as conn:
        raw = b"".join(r[0] for r in conn.exec_driver_sql("SELECT ciphertext FROM transcript_chunks"))
    assert b"the password is" not in raw  # stored encrypted


def test_unreachable_device_and_wrong_credentials(lab: Lab, sshd: SshDevice) -> None:
    dead = lab.enrol(free_port(), name="dead", pin=False)
    lab.client.post(f"/api/v1/devices/{dead}/host-key", headers=lab.admin,
                    json={"public_key": sshd.public_host_key()})
    resp = lab.client.post(f"/api/v1/devices/{dead}/sessions", headers=lab.tech,
                           json={"reason": "TICKET-8", "ttl_seconds": 300})
    assert resp.status_code == 502 and resp.json["error"]["code"] == "device_unreachable"
    device_id = lab.enrol(sshd.port)
    rotated = lab.client.put(f"/api/v1/devices/{device_id}/credentials", headers=lab.admin,
                             json={"username": DEVICE_USER, "password": "not-the-password"})
    assert rotated.status_code == 200 and rotated.json["version"] == 2
    with lab.services.db() as db:
        device = db.get(Device, device_id)
        assert device is not None and device.secret_path is not None
        assert lab.services.secrets.versions(device.secret_path) == [2]  # old version destroyed
    resp = lab.client.post(f"/api/v1/devices/{device_id}/sessions", headers=lab.tech,
                           json={"reason": "TICKET-8", "ttl_seconds": 300})
    assert resp.status_code == 502 and resp.json["error"]["code"] == "device_auth_failed"
    with lab.services.db() as db:
        states = list(db.scalars(select(AccessSession.state)))
    assert states == ["failed", "failed"]  # nothing left open


def test_bad_session_requests(lab: Lab, sshd: SshDevice) -> None:
    device_id = lab.enrol(sshd.port)
    for body, message in [({"reason": "x", "ttl_seconds": 300}, "reason must be"),
                          ({"reason": "TICKET-1", "ttl_seconds": 10}, "ttl_seconds must be"),
                          ({"reason": "TICKET-1", "ttl_seconds": "5"}, "ttl_seconds:")]:
        resp = lab.client.post(f"/api/v1/devices/{device_id}/sessions", headers=lab.tech, json=body)
        assert resp.status_code == 400 and message in resp.json["error"]["message"], body
    session = lab.open(device_id)
    for command, message in [("x" * 5000, "longer than"), ("echo \x07", "unsupported characters")]:
        status, body = lab.run(session, command)
        assert status == 400 and message in body["error"]["message"]  # type: ignore[index]
    both = lab.client.post(f"/api/v1/sessions/{session}/commands", headers=lab.tech,
                           json={"command": "id", "config": ["x"]})
    assert both.status_code == 400
    assert lab.client.post("/api/v1/devices/999/sessions", headers=lab.tech,
                           json={"reason": "TICKET-1"}).status_code == 404
