"""Scheduled purge jobs: the sweep, client notices (once), the admins' digest, retention."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import select

from custody.clients.models import Contact
from custody.devices.models import AccessSession
from custody.jobs.purge import daily_digest, purge_notices, purge_sweep, retention_sweep
from tests.conftest import FrozenClock
from tests.lab import Lab
from tests.peers import SmtpSink, SshDevice
from tests.purge.helpers import engagement


def test_notice_before_a_client_purge_goes_once(lab: Lab, sshd: SshDevice, mailbox: SmtpSink,
                                                clock: FrozenClock) -> None:
    device = lab.enrol(sshd.port, pin=False)
    engagement(lab, [device], paid="2026-10-01", warranty="2026-11-05")  # due in 4 days
    for value, verified in (("verified@acme.test", True), ("unverified@acme.test", False)):
        lab.client.post(f"/api/v1/clients/{lab.client_id}/contacts", headers=lab.admin,
                        json={"kind": "email", "value": value, "purposes": ["technical"]})
        if verified:
            with lab.services.db() as db:
                contact = db.scalar(select(Contact).where(Contact.value == value))
                assert contact is not None
                contact.verified_at = clock()
                db.commit()
    lab.client.post(f"/api/v1/clients/{lab.client_id}/close", headers=lab.admin)
    mailbox.messages.clear()
    purge_notices(lab.services)
    purge_notices(lab.services)  # idempotent
    [notice] = mailbox.wait_for(1)
    assert notice["To"] == "verified@acme.test"
    assert "2026-11-05" in notice.get_payload(decode=True).decode()
    assert len(mailbox.messages) == 1


def test_digest_and_sweep(lab: Lab, sshd: SshDevice, mailbox: SmtpSink) -> None:
    device = lab.enrol(sshd.port, name="edge", pin=False)
    engagement(lab, [device], paid="2026-10-01", warranty="2026-11-03")
    settings = lab.services.settings
    services = replace(lab.services, settings=settings.model_copy(update={
        "purge": settings.purge.model_copy(update={"digest_email": "privacy@provider.test"})}))
    mailbox.messages.clear()
    daily_digest(services)
    [digest] = mailbox.wait_for(1)
    assert digest["To"] == "privacy@provider.test"
    body = digest.get_payload(decode=True).decode()
    assert "2026-11-03" in body and f"device:{device}" in body and "edge" in body
    purge_sweep(lab.services)  # nothing due yet
    from custody.purge.models import PurgeReceipt

    with lab.services.db() as db:
        assert db.scalars(select(PurgeReceipt)).all() == []


def test_retention_deletes_old_closed_sessions(lab: Lab, sshd: SshDevice,
                                               clock: FrozenClock) -> None:
    device = lab.enrol(sshd.port)
    old = lab.open(device)
    lab.client.delete(f"/api/v1/sessions/{old}", headers=lab.tech)
    clock.advance(days=91)
    recent = lab.open(device)
    lab.client.delete(f"/api/v1/sessions/{recent}", headers=lab.tech)
    retention_sweep(lab.services)
    with lab.services.db() as db:
        assert list(db.scalars(select(AccessSession.id))) == [recent]
