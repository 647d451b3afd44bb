"""Purge runs destroy exactly what is due, leave receipts, and leave nothing behind."""

from __future__ import annotations

import fcntl
import logging
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from custody.clients.models import Client, Contact, Engagement
from custody.devices.models import AccessSession, Device, TranscriptChunk
from custody.logs import configure_logging
from custody.purge.models import PurgeReceipt
from tests.lab import Lab
from tests.peers import DEVICE_PASSWORD, SshDevice
from tests.purge.helpers import engagement, schedule, stored_bytes


@pytest.fixture(autouse=True)
def log_file(lab: Lab) -> Iterator[None]:
    """Everything logged (at DEBUG) goes to a file in the installation, which is searched too."""
    path = lab.services.settings.base_dir / "var" / "custody.log"
    smtp_peer = logging.getLogger("mail.log")  # the test's own SMTP server, not custody
    smtp_peer.disabled = True
    with open(path, "a") as fh:
        configure_logging("DEBUG", "json", stream=fh)
        yield
    smtp_peer.disabled = False
    root = logging.getLogger()
    for h in [h for h in root.handlers if getattr(h, "_custody", False)]:
        root.removeHandler(h)


def used_device(lab: Lab, sshd: SshDevice, name: str = "edge") -> tuple[int, int]:
    """A device with a pinned key, a finished session and a transcript."""
    device = lab.enrol(sshd.port, name=name)
    session = lab.open(device)
    assert lab.run(session, "echo ZZ-TRANSCRIPT-CANARY")[0] == 200
    lab.client.delete(f"/api/v1/sessions/{session}", headers=lab.tech)
    return device, session


def test_device_access_purge_destroys_and_proves_it(lab: Lab, sshd: SshDevice,
                                                    fresh_sshd: SshDevice) -> None:
    device, session = used_device(lab, fresh_sshd)  # its own host key: a canary of its own
    keep, _ = used_device(lab, sshd, name="still-in-warranty")
    engagement(lab, [device], paid="2026-09-01", warranty="2026-10-01")
    engagement(lab, [keep], paid="2026-09-01", warranty="2027-10-01", title="long warranty")
    root = lab.services.settings.base_dir
    sqlite = lab.services.engine.dialect.name == "sqlite"
    host_key_b64 = fresh_sshd.public_host_key().split()[1].encode()
    if sqlite:
        assert host_key_b64 in stored_bytes(root)  # the pin is stored before the purge

    dry = lab.client.post("/api/v1/purge/run", headers=lab.admin, json={"dry_run": True})
    assert [r["target"] for r in dry.json["receipts"]] == [f"device:{device}"]
    assert dry.json["receipts"][0]["outcome"] == "would be destroyed"
    with lab.services.db() as db:
        assert db.get(Device, device).access_state == "active"  # type: ignore[union-attr]

    resp = lab.client.post("/api/v1/purge/run", headers=lab.admin, json={"dry_run": False})
    assert resp.status_code == 200
    [receipt] = resp.json["receipts"]
    assert receipt["kind"] == "device_access" and receipt["target_id"] == device
    assert receipt["state"] == "done"
    assert receipt["secrets"] == [{"path": f"client-{lab.client_id}/devices/{device}",
                                   "versions": [1]}]
    counts = receipt["counts"]
    assert counts["secrets"] == 1 and counts["secret_versions"] == 1
    assert counts["host_keys"] == 1 and counts["addresses"] == 2
    assert counts["session_addresses"] == 1 and counts["transcript_chunks"] >= 3

    with lab.services.db() as db:
        purged = db.get(Device, device)
        assert purged is not None and purged.access_state == "purged"
        assert purged.name == "edge"  # kept for the client's own records
        assert purged.host is None and purged.host_key is None and purged.secret_path is None
        old = db.get(AccessSession, session)
        assert old is not None and old.source_ip is None
        assert db.scalars(select(TranscriptChunk).where(
            TranscriptChunk.session_id == session)).all() == []
        assert db.get(Device, keep).access_state == "active"  # type: ignore[union-attr]
    assert lab.services.secrets.versions(f"client-{lab.client_id}/devices/{device}") == []
    again = lab.client.post(f"/api/v1/devices/{device}/sessions", headers=lab.tech,
                            json={"reason": "TICKET-1", "ttl_seconds": 300})
    assert again.status_code == 409 and "re-enrol" in again.json["error"]["message"]

    if sqlite:  # database file, its WAL, the secret store, logs: the pin is nowhere
        assert host_key_b64 not in stored_bytes(root)
    assert (root / "var" / "custody.log").stat().st_size > 0  # the log was written, and searched
    second = lab.client.post("/api/v1/purge/run", headers=lab.admin, json={"dry_run": False})
    assert second.json["receipts"] == []  # idempotent: nothing left to do
    assert f"device:{device}" not in schedule(lab)


def test_client_purge_leaves_nothing(lab: Lab, sshd: SshDevice) -> None:
    device, _ = used_device(lab, sshd)
    lab.client.post(f"/api/v1/clients/{lab.client_id}/contacts", headers=lab.admin, json={
        "kind": "email", "value": "zz-contact-canary@example.test", "purposes": ["alerts"]})
    engagement(lab, [device], paid="2026-09-01", warranty="2026-10-01",
               title="ZZ-ENGAGEMENT-CANARY")
    lab.client.post(f"/api/v1/clients/{lab.client_id}/close", headers=lab.admin)
    assert schedule(lab)[f"client:{lab.client_id}"]["state"] == "due"
    root = lab.services.settings.base_dir
    canaries = [b"zz-contact-canary@example.test", b"ZZ-ENGAGEMENT-CANARY", b"acme-user",
                sshd.public_host_key().split()[1].encode()]
    before = stored_bytes(root)
    if lab.services.engine.dialect.name == "sqlite":
        assert all(c in before for c in canaries)

    resp = lab.client.post("/api/v1/purge/run", headers=lab.admin, json={"dry_run": False})
    [receipt] = resp.json["receipts"]  # the client purge covers its device
    assert receipt["kind"] == "client" and receipt["state"] == "done"
    counts = receipt["counts"]
    for key in ("devices", "contacts", "users", "engagements", "sessions", "clients"):
        assert counts[key] >= 1, key
    paths = {s["path"] for s in receipt["secrets"]}
    assert f"client-{lab.client_id}/devices/{device}" in paths
    assert f"client-{lab.client_id}/keys/transcripts" in paths
    receipt_text = str(receipt)
    assert "Acme" not in receipt_text and "canary" not in receipt_text.lower()  # no personal data

    with lab.services.db() as db:
        assert db.get(Client, lab.client_id) is None
        assert db.scalars(select(Contact)).all() == []
        assert db.scalars(select(Engagement)).all() == []
        assert db.scalars(select(Device)).all() == []
        assert db.scalars(select(TranscriptChunk)).all() == []
        assert len(db.scalars(select(PurgeReceipt)).all()) == 1
    assert lab.services.secrets.list_paths(f"client-{lab.client_id}") == []
    if lab.services.engine.dialect.name == "sqlite":
        after = stored_bytes(root)
        leaked = [c for c in canaries if c in after]
        assert leaked == []
        import sqlite3

        store = sqlite3.connect(root / "var" / "secrets.db")
        keys = store.execute("SELECT tenant FROM data_keys").fetchall()
        store.close()
        assert (f"client-{lab.client_id}",) not in keys  # the data key itself is gone
    assert DEVICE_PASSWORD.encode() not in stored_bytes(root)


def test_erasure_request_becomes_a_client_purge(lab: Lab, sshd: SshDevice) -> None:
    device = lab.enrol(sshd.port, pin=False)
    engagement(lab, [device], paid="2026-10-01", warranty="2028-01-01")
    asked = lab.client.post(f"/api/v1/clients/{lab.client_id}/erasure-request",
                            headers=lab.client_user)
    assert asked.status_code == 202
    assert f"client:{lab.client_id}" not in schedule(lab)  # not until an admin confirms
    assert lab.client.post(f"/api/v1/clients/{lab.client_id}/erasure/confirm",
                           headers=lab.client_user).status_code == 403
    ok = lab.client.post(f"/api/v1/clients/{lab.client_id}/erasure/confirm", headers=lab.admin)
    assert ok.status_code == 200
    item = schedule(lab)[f"client:{lab.client_id}"]
    assert item["state"] == "due" and "erasure requested" in item["reason"]
    run = lab.client.post("/api/v1/purge/run", headers=lab.admin, json={})
    assert [r["kind"] for r in run.json["receipts"]] == ["client"]


def test_a_second_run_is_refused_while_one_runs(lab: Lab, sshd: SshDevice) -> None:
    if lab.services.engine.dialect.name != "sqlite":
        return  # the PostgreSQL lock is covered by the scheduler test
    device = lab.enrol(sshd.port, pin=False)
    engagement(lab, [device], paid="2026-09-01", warranty=None)
    lock = lab.services.settings.path(lab.services.settings.base_dir / "var" / "purge.lock")
    with open(lock, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        resp = lab.client.post("/api/v1/purge/run", headers=lab.admin, json={})
        assert resp.status_code == 409 and "another purge run" in resp.json["error"]["message"]
    with lab.services.db() as db:
        assert db.get(Device, device).access_state == "active"  # type: ignore[union-attr]
    assert lab.client.post("/api/v1/purge/run", headers=lab.admin, json={}).json["receipts"]
