"""Data-subject rights: export, rectification, consent, restriction (the client's own only)."""

from __future__ import annotations

import json

from tests.lab import Lab
from tests.peers import DEVICE_PASSWORD, SmtpSink, SshDevice


def test_export_is_complete_and_secret_free(lab: Lab, sshd: SshDevice, mailbox: SmtpSink) -> None:
    device = lab.enrol(sshd.port, name="edge")
    session = lab.open(device)
    lab.client.delete(f"/api/v1/sessions/{session}", headers=lab.tech)
    lab.client.post(f"/api/v1/clients/{lab.client_id}/contacts", headers=lab.admin, json={
        "kind": "email", "value": "ops@acme.test", "purposes": ["alerts", "billing"]})
    resp = lab.client.get(f"/api/v1/clients/{lab.client_id}/export", headers=lab.client_user)
    assert resp.status_code == 200
    assert "attachment" in resp.headers["Content-Disposition"]
    data = resp.json
    # Every domain answers for its own part: none may drop out of the composition.
    assert set(data) == {"format", "exported_at", "client", "contacts", "engagements", "users",
                         "devices", "access_policy", "access_sessions", "certificates",
                         "notifications", "purge_receipts"}
    assert data["client"]["name"] == "Acme"
    assert [c["value"] for c in data["contacts"]] == ["ops@acme.test"]
    assert [d["name"] for d in data["devices"]] == ["edge"]
    assert [u["username"] for u in data["users"]] == ["acme-user"]
    assert [s["reason"] for s in data["access_sessions"]] == ["TICKET-1234"]
    text = json.dumps(data)
    assert DEVICE_PASSWORD not in text and "127.0.0.1" not in text and "ssh-ed25519" not in text
    other = lab.client.get("/api/v1/clients/999/export", headers=lab.client_user)
    assert other.status_code == 404


def test_rectify_withdraw_restrict(lab: Lab, mailbox: SmtpSink) -> None:
    made = lab.client.post(f"/api/v1/clients/{lab.client_id}/contacts", headers=lab.admin, json={
        "kind": "email", "value": "old@acme.test", "purposes": ["alerts", "billing"]})
    cid = made.json["id"]
    mailbox.wait_for(1)
    consent = lab.client.patch(f"/api/v1/contacts/{cid}", headers=lab.client_user,
                               json={"purposes": ["billing"]})
    assert consent.status_code == 200 and consent.json["purposes"] == ["billing"]
    fixed = lab.client.patch(f"/api/v1/contacts/{cid}", headers=lab.client_user,
                             json={"value": "New@Acme.test"})
    assert fixed.status_code == 200
    assert fixed.json["value"] == "new@acme.test" and fixed.json["verified"] is False
    assert fixed.json["verification_sent"] is True
    assert [m["To"] for m in mailbox.wait_for(2)][-1] == "new@acme.test"
    bad = lab.client.patch(f"/api/v1/contacts/{cid}", headers=lab.client_user,
                           json={"purposes": ["marketing"]})
    assert bad.status_code == 400
    restricted = lab.client.post(f"/api/v1/clients/{lab.client_id}/restriction",
                                 headers=lab.client_user, json={"restricted": True})
    assert restricted.status_code == 200 and restricted.json["processing_restricted"] is True
    export = lab.client.get(f"/api/v1/clients/{lab.client_id}/export", headers=lab.client_user)
    assert export.json["client"]["processing_restricted_at"] is not None
    assert lab.client.patch(f"/api/v1/contacts/{cid}", headers=lab.client_user,
                            json={}).status_code == 400
