"""Technician pages, the approval notice and the scheduled expiry job."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import select

from custody.devices.models import AccessSession
from custody.devices.sessions import SessionService
from custody.jobs.sessions import expire_sessions
from tests.conftest import FrozenClock
from tests.lab import Lab
from tests.peers import SmtpSink, SshDevice


def test_device_pages(lab: Lab, sshd: SshDevice) -> None:
    device_id = lab.enrol(sshd.port, name="core-sw-1")
    listing = lab.client.get("/tech/devices?q=core", headers=lab.tech)
    assert listing.status_code == 200 and "core-sw-1" in listing.get_data(as_text=True)
    assert "core-sw-1" not in lab.client.get("/tech/devices?q=nomatch",
                                             headers=lab.tech).get_data(as_text=True)
    page = lab.client.get(f"/tech/devices/{device_id}", headers=lab.tech).get_data(as_text=True)
    assert "SHA256:" in page and "127.0.0.2" in page and "Open session" in page
    session = lab.open(device_id)
    view = lab.client.get(f"/tech/sessions/{session}", headers=lab.admin).get_data(as_text=True)
    assert 'id="terminal"' in view and "vendor/xterm/xterm.js" in view
    assert 'id="watch"' in view  # admins may watch the live transcript
    assert 'id="watch"' not in lab.client.get(f"/tech/sessions/{session}",
                                              headers=lab.tech).get_data(as_text=True)
    assert lab.client.get("/tech/devices", headers=lab.client_user).status_code == 403
    ws = lab.client.get(f"/tech/sessions/{session}/terminal/ws", headers=lab.tech)
    assert ws.status_code == 400 and "websocket" in ws.get_data(as_text=True)


def test_approvers_are_notified(lab: Lab, sshd: SshDevice, mailbox: SmtpSink) -> None:
    svc = lab.services
    settings = svc.settings.broker.model_copy(update={"approval_email": "noc@provider.test"})
    sessions = SessionService(svc.broker, svc.transcripts, svc.audit, svc.clock, settings,
                              svc.mailer, svc.sessions.approvals)
    lab.client.application.extensions["custody"] = replace(svc, sessions=sessions)
    device_id = lab.enrol(sshd.port)
    lab.client.put(f"/api/v1/clients/{lab.client_id}/policy", headers=lab.admin,
                   json={"require_approval": True})
    resp = lab.client.post(f"/api/v1/devices/{device_id}/sessions", headers=lab.tech,
                           json={"reason": "TICKET-55 firmware", "ttl_seconds": 600})
    assert resp.status_code == 202
    [mail] = mailbox.wait_for(1)
    assert mail["To"] == "noc@provider.test"
    assert "TICKET-55 firmware" in mail.get_payload(decode=True).decode()
    assert "tina" in mail.get_payload(decode=True).decode()


def test_expiry_job_closes_due_sessions(lab: Lab, sshd: SshDevice, clock: FrozenClock) -> None:
    device_id = lab.enrol(sshd.port)
    short = lab.open(device_id, ttl=60)
    long = lab.open(device_id, headers=lab.tech2, ttl=3600)
    clock.advance(minutes=2)
    expire_sessions(lab.services)
    with lab.services.db() as db:
        states = dict(db.execute(select(AccessSession.id, AccessSession.state)).all())
    assert states == {short: "expired", long: "open"}
    assert not lab.services.broker.is_live(short) and lab.services.broker.is_live(long)
