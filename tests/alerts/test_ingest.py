"""Ingest, pseudonymize before storing, queue for verified contacts only, deliver, unsubscribe."""

from __future__ import annotations

import json
from collections.abc import Callable

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from custody.alerts.delivery import Outbox
from custody.alerts.models import Notification, OutboxMessage
from custody.clients.models import Client, Contact
from custody.config import MailSettings
from custody.db import transaction
from custody.devices.models import ClientPolicy, Device
from custody.mail.smtp import SmtpMailer
from custody.services import Services
from tests.alerts.corpus import corpus
from tests.conftest import FrozenClock, World, auth
from tests.peers import SmtpSink, free_port, text_of


def source(client: FlaskClient, world: World, name: str = "prom") -> str:
    resp = client.post("/api/v1/alert-sources", headers=auth(world.admin_token),
                       json={"name": name, "kind": "alertmanager"})
    assert resp.status_code == 201 and resp.json["token"].startswith("cas_")
    return str(resp.json["token"])


def verify_contact(services: Services, contact_id: int, clock: FrozenClock,
                   purposes: list[str]) -> str:
    with transaction(services.db) as db:
        contact = db.get(Contact, contact_id)
        assert contact is not None
        contact.verified_at, contact.purposes = clock(), purposes
        return contact.value


def planted_payload(world: World) -> tuple[dict[str, object], list[str]]:
    payload, planted = corpus(1, seed=11)[0]
    for alert in payload["alerts"]:  # type: ignore[union-attr]
        alert["labels"]["client"] = "Client A"  # type: ignore[index]
    return payload, planted


def test_alert_is_pseudonymized_stored_and_mailed_once(client: FlaskClient, world: World,
                                                       services: Services, clock: FrozenClock,
                                                       mailbox: SmtpSink) -> None:
    token = source(client, world)
    address = verify_contact(services, world.contact_a, clock, ["alerts"])
    payload, planted = planted_payload(world)
    body = json.dumps(payload)
    resp = client.post("/ingest/alertmanager/prom", data=body, content_type="application/json",
                       headers=auth(token))
    assert resp.status_code == 202 and resp.json == {"accepted": 3, "new": 3, "queued": 1}
    again = client.post("/ingest/alertmanager/prom", data=body, content_type="application/json",
                        headers=auth(token))
    assert again.json == {"accepted": 3, "new": 0, "queued": 0}  # a redelivery
    with services.db() as db:
        stored = json.dumps([n.payload for n in db.scalars(select(Notification))])
        assert not [p for p in planted if p in stored]
        assert all(n.client_id == world.client_a for n in db.scalars(select(Notification)))
    mailbox.messages.clear()
    with services.db() as db:
        assert services.alerts.outbox.deliver(services.db) == 1
        assert services.alerts.outbox.deliver(services.db) == 0
    [mail] = mailbox.wait_for(1)
    assert mail["To"] == address
    text = text_of(mail)
    assert not [p for p in planted if p in text or p in mail["Subject"]]
    alertname = payload["alerts"][0]["labels"]["alertname"]  # type: ignore[index]
    assert mail["Subject"].startswith("[") and alertname in mail["Subject"]
    unsubscribe = "".join(str(mail["List-Unsubscribe"]).split())  # unfold the header
    assert unsubscribe.startswith("<http") and mail["List-Unsubscribe-Post"]
    assert "Stop these e-mails:" in text
    html = next(p for p in mail.walk() if p.get_content_type() == "text/html")
    markup = html.get_payload(decode=True).decode()
    assert "<img" not in markup and "<pre>" in markup  # no pixels, no remote content
    assert not [p for p in planted if p in markup]

    url = unsubscribe.strip("<>").split("localhost", 1)[1]
    assert client.post(url).status_code == 200  # one-click, no CSRF token needed
    client.post("/ingest/alertmanager/prom", headers=auth(token), content_type="application/json",
                data=json.dumps(corpus(1, seed=12)[0][0] | {"alerts": [
                    a | {"labels": a["labels"] | {"client": "Client A"}}
                    for a in corpus(1, seed=12)[0][0]["alerts"]]}))
    with services.db() as db:
        assert len(db.scalars(select(OutboxMessage)).all()) == 1  # nothing new queued


def test_only_verified_consenting_contacts_of_unrestricted_clients(
        client: FlaskClient, world: World, services: Services, clock: FrozenClock) -> None:
    token = source(client, world)
    verify_contact(services, world.contact_a, clock, ["billing"])  # no alerts consent
    payload, _ = planted_payload(world)
    resp = client.post("/ingest/alertmanager/prom", headers=auth(token), json=payload)
    assert resp.json["queued"] == 0
    verify_contact(services, world.contact_a, clock, ["alerts"])
    client.post(f"/api/v1/clients/{world.client_a}/restriction", headers=auth(world.user_a_token),
                json={"restricted": True})
    other, _ = corpus(1, seed=99)[0]
    for alert in other["alerts"]:
        alert["labels"]["client"] = "Client A"
    assert client.post("/ingest/alertmanager/prom", headers=auth(token),
                       json=other).json["queued"] == 0


def test_each_change_to_the_inventory_counts_from_the_next_post_on(
        client: FlaskClient, world: World, services: Services, clock: FrozenClock) -> None:
    """Ingest keeps a client's known names between posts (reading the inventory once per
    post would cost as much as the inventory is large); every kind of change to the names
    still shows in the very next post: a device added, renamed or given a new address, a
    user, a contact, the client's own name and the names its policy lists."""
    token = client.post("/api/v1/alert-sources", headers=auth(world.admin_token), json={
        "name": "bound", "kind": "alertmanager", "client_id": world.client_a}).json["token"]
    posted = iter(range(1000))

    def stored(word: str) -> str:
        """What ingest stores of a description that mentions ``word``."""
        n = next(posted)
        resp = client.post("/ingest/alertmanager/bound", headers=auth(token), json={
            "version": "4", "status": "firing", "alerts": [{
                "status": "firing", "labels": {"alertname": "Check", "n": str(n)},
                "annotations": {"description": f"check {n} failed near {word} today"},
                "fingerprint": f"{n:016x}", "startsAt": "2026-11-01T10:00:00Z"}]})
        assert resp.status_code == 202 and resp.json["new"] == 1
        with services.db() as db:
            row = db.scalars(select(Notification).order_by(Notification.id.desc())).first()
            assert row is not None
            return str(row.payload["annotations"]["description"])

    def change(apply: Callable[[Session], object]) -> None:
        with transaction(services.db) as db:
            apply(db)

    def device(db: Session) -> Device:
        return db.scalars(select(Device).where(Device.name == "Hochregal")).one()

    steps: list[tuple[str, Callable[[Session], object]]] = [
        ("Hochregal", lambda db: db.add(Device(
            client_id=world.client_a, name="Hochregal", device_type="cisco_ios",
            created_at=clock()))),
        ("Torhaus", lambda db: setattr(device(db), "host", "Torhaus")),
        ("Kuehlhaus", lambda db: setattr(device(db), "name", "Kuehlhaus")),
        ("Lagerleiterin", lambda db: services.accounts.create_user(
            db, "test", "Lagerleiterin", "client", world.client_a, password="Lager-Pass-123!")),
        ("Kassenwart", lambda db: db.add(Contact(
            client_id=world.client_a, kind="email", value="Kassenwart@example.test",
            purposes=["alerts"], created_at=clock()))),
        ("Pfoertnerloge", lambda db: db.merge(ClientPolicy(
            client_id=world.client_a, alert_names=["Pfoertnerloge"]))),
        ("Werkhalle", lambda db: setattr(db.get(Client, world.client_a), "name", "Werkhalle")),
    ]
    for word, apply in steps:
        assert word in stored(word)  # not a name of the client's yet: left readable
        change(apply)
        assert word not in stored(word), f"{word} was not known from the next post on"


def test_names_read_in_a_unit_that_rolled_back_are_not_kept_for_later_changes(
        world: World, services: Services, clock: FrozenClock) -> None:
    """A unit of work that adds a device, reads the client's names and rolls back leaves
    nothing behind: the next device that does land is a known name at once (each change
    draws a new names version, so a rolled-back one is never made again)."""
    engines = services.alerts.engines
    with services.db() as db:
        db.add(Device(client_id=world.client_a, name="Probelager", device_type="cisco_ios",
                      created_at=clock()))
        db.flush()
        assert "Probelager" not in engines.for_client(db, world.client_a).text("near Probelager")
        db.rollback()
    with transaction(services.db) as db:
        db.add(Device(client_id=world.client_a, name="Kuehlhaus", device_type="cisco_ios",
                      created_at=clock()))
    with services.db() as db:
        engine = engines.for_client(db, world.client_a)
        assert "Kuehlhaus" not in engine.text("check failed near Kuehlhaus today")
        assert "Probelager" in engine.text("check failed near Probelager today")


def test_unmapped_alerts_stay_with_the_provider(client: FlaskClient, world: World,
                                                services: Services) -> None:
    token = source(client, world)
    payload, planted = corpus(1, seed=5)[0]
    resp = client.post("/ingest/alertmanager/prom", headers=auth(token), json=payload)
    assert resp.status_code == 202 and resp.json["queued"] == 0
    with services.db() as db:
        rows = db.scalars(select(Notification)).all()
        assert rows and all(n.client_id is None for n in rows)
        assert not [p for p in planted if p in json.dumps([n.payload for n in rows])]


def test_delivery_retries_with_backoff_and_sends_once(client: FlaskClient, world: World,
                                                      services: Services, clock: FrozenClock,
                                                      mailbox: SmtpSink) -> None:
    token = source(client, world)
    verify_contact(services, world.contact_a, clock, ["alerts"])
    payload, _ = planted_payload(world)
    client.post("/ingest/alertmanager/prom", headers=auth(token), json=payload)
    down = Outbox(services.audit, clock, services.settings.alerts,
                        SmtpMailer(MailSettings(host="127.0.0.1", port=free_port(), timeout=2)),
                        services.signing_key, "http://localhost")  # the mail server is down
    with services.db() as db:
        assert down.deliver(services.db) == 0
        [msg] = db.scalars(select(OutboxMessage)).all()
        assert msg.state == "pending" and msg.attempts == 1
        assert msg.next_attempt_at > clock() and "did not accept" in (msg.last_error or "")
        assert services.alerts.outbox.deliver(services.db) == 0  # not due yet
    mailbox.messages.clear()
    clock.advance(minutes=3)
    with services.db() as db:
        assert services.alerts.outbox.deliver(services.db) == 1
    assert len(mailbox.wait_for(1)) == 1


def test_bad_ingest_is_refused_and_stores_nothing(client: FlaskClient, world: World,
                                                  services: Services) -> None:
    token = source(client, world)
    h = auth(token)
    cases = [
        (b"{nope", 400, "not valid JSON"),
        (b"\xff\xfe\x00", 400, "not UTF-8"),
        (json.dumps({"version": "3", "alerts": []}).encode(), 400, "version 4 expected"),
        (json.dumps({"version": "4", "groupKey": "x"}).encode(), 400, "alerts: a list"),
        (json.dumps({"version": "4", "alerts": [{"labels": {f"l{i}": "v" for i in range(1000)}}]}
                    ).encode(), 400, "more than 200 labels"),
        (b'{"version": "4", "alerts": [], "pad": "' + b"x" * 10_000_000 + b'"}', 413, "larger"),
    ]
    for body, status, message in cases:
        resp = client.post("/ingest/alertmanager/prom", data=body, headers=h,
                           content_type="application/json")
        assert resp.status_code == status and message in resp.json["error"]["message"], body[:40]
    assert client.post("/ingest/alertmanager/prom", json={}, headers=auth("cas_wrong"))\
        .status_code == 401
    assert client.post("/ingest/alertmanager/prom", json={}).status_code == 401
    assert client.post("/ingest/alertmanager/nosuch", json={}, headers=h).status_code == 401
    with services.db() as db:
        assert db.scalars(select(Notification)).all() == []


def test_reidentification_is_staff_only_current_period_and_audited(
        client: FlaskClient, world: World, services: Services, clock: FrozenClock) -> None:
    from custody.alerts.keys import period_key
    from custody.alerts.pseudonym import Pseudonymizer
    from custody.audit.models import AuditEvent

    engine = Pseudonymizer(period_key(services.secrets, world.client_a, clock()))
    token = engine.token("device", "router-a-ZZCANARYA")
    body = {"client_id": world.client_a, "token": token}
    resp = client.post("/api/v1/alerts/reidentify", json=body, headers=auth(world.tech_token))
    assert resp.status_code == 200 and resp.json["matches"] == ["router-a-ZZCANARYA"]
    assert client.post("/api/v1/alerts/reidentify", json=body,
                       headers=auth(world.user_a_token)).status_code == 403
    with services.db() as db:
        assert db.scalars(select(AuditEvent).where(
            AuditEvent.action == "alerts.reidentify")).all()
    clock.advance(days=100)  # a later period, and the old key past retention
    with transaction(services.db) as db:
        assert services.alerts.retention.key_retention(db) >= 1
    later = client.post("/api/v1/alerts/reidentify", json=body, headers=auth(world.tech_token))
    assert later.json["matches"] == []  # the old period's tokens are unlinkable now


def test_a_client_may_opt_in_to_prefix_preserving_addresses(
        client: FlaskClient, world: World, services: Services) -> None:
    import ipaddress

    token = source(client, world)
    policy = client.put(f"/api/v1/clients/{world.client_a}/policy",
                        headers=auth(world.admin_token), json={"prefix_preserving_ips": True})
    assert policy.status_code == 200 and policy.json["prefix_preserving_ips"] is True
    assert client.put(f"/api/v1/clients/{world.client_a}/policy", json={
        "prefix_preserving_ips": True}, headers=auth(world.user_a_token)).status_code == 403
    payload, _ = planted_payload(world)
    alert = payload["alerts"][0]  # type: ignore[index]
    alert["annotations"]["summary"] = "gateway 10.20.30.1 lost peer 10.20.30.2"
    client.post("/ingest/alertmanager/prom", headers=auth(token), json=payload)
    with services.db() as db:
        stored = db.scalars(select(Notification)).first()
        assert stored is not None
        summary = stored.payload["annotations"]["summary"]
    gateway, peer = (ipaddress.ip_address(w[3:]) for w in summary.split() if w.startswith("ip-"))
    assert "10.20.30" not in summary
    assert peer in ipaddress.ip_network(f"{gateway}/24", strict=False)


def test_hourly_cap_and_retention(client: FlaskClient, world: World, services: Services,
                                  clock: FrozenClock) -> None:
    token = source(client, world)
    verify_contact(services, world.contact_a, clock, ["alerts"])
    cap = services.settings.alerts.hourly_cap
    for seed in range(cap + 3):  # distinct groups: one e-mail each, until the cap
        payload, _ = corpus(1, seed=1000 + seed)[0]
        for alert in payload["alerts"]:
            alert["labels"]["client"] = "Client A"
        client.post("/ingest/alertmanager/prom", headers=auth(token), json=payload)
    with services.db() as db:
        assert len(db.scalars(select(OutboxMessage)).all()) == cap
        stored = len(db.scalars(select(Notification)).all())
    assert stored > cap  # over the cap alerts are still kept for the portal, just not mailed
    clock.advance(days=29)
    payload, _ = corpus(1, seed=5000)[0]
    for alert in payload["alerts"]:
        alert["labels"]["client"] = "Client A"
    assert client.post("/ingest/alertmanager/prom", headers=auth(token),
                       json=payload).json["queued"] == 1  # a new hour
    clock.advance(days=2)  # the first batch is now 31 days old, the last one 2 days
    with transaction(services.db) as db:
        assert services.alerts.retention.retention_sweep(db) == stored
    with services.db() as db:
        assert len(db.scalars(select(Notification)).all()) == 3  # the recent ones stay
