"""Delivery: every e-mail arrives once through mail-server outages and crashes of the
delivering process; news for a group not yet mailed is folded in; flapping is collapsed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, func, select

from custody.accounts.service import Principal
from custody.alerts.delivery import Outbox
from custody.alerts.models import Notification, OutboxMessage
from custody.cli import initialize
from custody.config import MailSettings, load_settings
from custody.db import transaction
from custody.mail.smtp import SmtpMailer
from custody.services import Services, build_services
from tests.alerts.test_ingest import source, verify_contact
from tests.conftest import FrozenClock, World, auth
from tests.peers import SmtpSink, text_of

CUSTODY = str(Path(sys.executable).parent / "custody")


def group_payload(group: str, status: str, starts: str, client: str = "Client A"
                  ) -> dict[str, Any]:
    """An Alertmanager v4 webhook for one alert of one group."""
    return {"version": "4", "groupKey": f'{{}}:{{alertname="LinkDown", device="{group}"}}',
            "status": status, "receiver": "custody", "groupLabels": {"device": group},
            "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://am.local:9093",
            "alerts": [{"status": status, "startsAt": starts, "endsAt": "0001-01-01T00:00:00Z",
                        "labels": {"alertname": "LinkDown", "client": client, "device": group},
                        "annotations": {"summary": f"link on {group} is {status}"},
                        "fingerprint": f"fp-{group}"}]}


@pytest.fixture
def own_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture
def delivering(client: FlaskClient, world: World, services: Services, clock: FrozenClock,
               own_sink: SmtpSink) -> tuple[str, Outbox]:
    """An alert source's token, client A's contact verified for alerts, and the alert
    service delivering to ``own_sink``."""
    token = source(client, world)
    verify_contact(services, world.contact_a, clock, ["alerts"])
    return token, Outbox(
        services.audit, clock, services.settings.alerts,
        SmtpMailer(MailSettings(host="127.0.0.1", port=own_sink.port, timeout=2)),
        services.signing_key, "http://localhost", "msp.example")


def by_outbox_id(messages: list[Any]) -> dict[str, set[str]]:
    """Outbox id -> the Message-IDs it arrived with."""
    seen: dict[str, set[str]] = {}
    for mail in messages:
        seen.setdefault(mail["X-Custody-Message"], set()).add(mail["Message-ID"])
    return seen


def test_mail_server_outage_then_every_mail_arrives_exactly_once(
        client: FlaskClient, world: World, services: Services, clock: FrozenClock,
        own_sink: SmtpSink, delivering: tuple[str, Outbox]) -> None:
    token, alerts = delivering
    own_sink.stop()  # the mail server goes down before the alerts come in
    for n in range(4):
        resp = client.post("/ingest/alertmanager/prom", headers=auth(token),
                           json=group_payload(f"sw-{n}", "firing", "2026-11-01T11:00:00Z"))
        assert resp.json["queued"] == 1
    assert alerts.deliver(services.db) == 0
    with services.db() as db:
        pending = db.scalars(select(OutboxMessage)).all()
        assert [m.attempts for m in pending] == [1, 1, 1, 1]
        assert all(m.state == "pending" and m.next_attempt_at > clock() for m in pending)
    own_sink.start()  # back, on the same port
    with services.db() as db:
        assert alerts.deliver(services.db) == 0  # backing off: not due yet
        clock.advance(minutes=3)
        assert alerts.deliver(services.db) == 4
        clock.advance(hours=2)
        assert alerts.deliver(services.db) == 0
    mails = own_sink.wait_for(4)
    time.sleep(0.3)
    assert len(own_sink.messages) == 4
    arrived = by_outbox_id(own_sink.messages)
    assert len(arrived) == 4 and all(len(ids) == 1 for ids in arrived.values())
    assert all(m["Message-ID"].endswith("@msp.example>") for m in mails)
    with services.db() as db:
        assert {m.state for m in db.scalars(select(OutboxMessage))} == {"sent"}


def test_news_for_an_unsent_group_is_folded_in_and_resolved_follows_firing(
        client: FlaskClient, world: World, services: Services, clock: FrozenClock,
        own_sink: SmtpSink, delivering: tuple[str, Outbox]) -> None:
    token, alerts = delivering

    def post(status: str, starts: str) -> Any:
        return client.post("/ingest/alertmanager/prom", headers=auth(token),
                           json=group_payload("sw-9", status, starts)).json

    assert post("firing", "2026-11-01T11:00:00Z")["queued"] == 1
    assert post("resolved", "2026-11-01T11:00:00Z")["queued"] == 0  # folded into the first
    assert alerts.deliver(services.db) == 1
    [mail] = own_sink.wait_for(1)
    assert mail["Subject"] == "[resolved] LinkDown (+1)"
    body = text_of(mail)
    assert body.index("- firing: LinkDown") < body.index("- resolved: LinkDown")
    clock.advance(minutes=10)
    assert post("firing", "2026-11-01T12:05:00Z")["queued"] == 1  # the last one went out
    assert alerts.deliver(services.db) == 1
    assert own_sink.wait_for(2)[1]["Subject"] == "[firing] LinkDown"


def test_a_flapping_group_is_collapsed_into_one_held_email(
        client: FlaskClient, world: World, services: Services, clock: FrozenClock,
        own_sink: SmtpSink, delivering: tuple[str, Outbox]) -> None:
    token, alerts = delivering
    settings = services.settings.alerts
    sent = 0
    for n in range(12):  # firing, resolved, firing, ... one change a minute
        status = "firing" if n % 2 == 0 else "resolved"
        client.post("/ingest/alertmanager/prom", headers=auth(token),
                    json=group_payload("sw-7", status, f"2026-11-01T12:{n // 2:02d}:00Z"))
        with services.db() as db:
            sent += alerts.deliver(services.db)
        clock.advance(minutes=1)
    # Until the group counts as flapping every change goes out; after that, nothing yet.
    assert sent == settings.flap_changes
    with services.db() as db:
        [held] = db.scalars(select(OutboxMessage).where(OutboxMessage.state == "pending")).all()
        assert held.subject.startswith("[flapping] LinkDown")
    clock.advance(minutes=settings.flap_hold_minutes)
    assert alerts.deliver(services.db) == 1
    mails = own_sink.wait_for(sent + 1)
    assert mails[-1]["Subject"] == "[flapping] LinkDown (+7)"  # the 8 changes since
    last = text_of(mails[-1])
    changes = [line for line in last.splitlines() if line.startswith("- ")]
    assert "changed state" in last and len(changes) == 8
    assert changes[-1] == "- resolved: LinkDown"  # the latest state comes last


def test_killing_the_delivering_process_loses_nothing_and_sends_no_new_message(
        tmp_path: Path) -> None:
    """`custody scheduler` is killed (SIGKILL) while it delivers; started again, it
    finishes. Every e-mail arrives; a message the server had kept but not yet confirmed
    when the process died is sent again with the same Message-ID, so the recipient's
    mail store sees each e-mail exactly once."""
    sink = SmtpSink(reply_delay=0.4).start()
    site = tmp_path / "site"
    initialize(site, "boss")
    config = site / "custody.toml"
    config.write_text(config.read_text().replace("port = 25", f"port = {sink.port}")
                      .replace("deliver_seconds = 30", "deliver_seconds = 1")
                      .replace("hourly_cap = 20", "hourly_cap = 100"))
    svc = build_services(load_settings(config, environ={}))
    admin = Principal(1, "boss", "admin", None)
    with transaction(svc.db) as db:
        client = svc.clients.create_client(db, "test", "Client A")
        contact = svc.clients.add_contact(db, admin, client.id, "email", "ops@client-a.example",
                                          ["alerts"])
        contact.verified_at = svc.clock()
        src, _ = svc.alerts.sources.create_source(db, admin, "prom", "alertmanager", None)
        for n in range(12):
            svc.alerts.ingest.ingest(db, src, group_payload(f"sw-{n}", "firing", "2026-11-01T11:00:00Z"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUSTODY_")}

    def scheduler() -> subprocess.Popen[bytes]:
        return subprocess.Popen([CUSTODY, "scheduler"], cwd=site, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
    first = scheduler()
    try:
        sink.wait_for(3, timeout=60)
        time.sleep(0.2)  # inside a message's reply delay: kept, not yet confirmed
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        killed_at = len(sink.messages)
        assert killed_at < 12
        second = scheduler()
        try:
            deadline = time.monotonic() + 90
            while len(by_outbox_id(sink.messages)) < 12 and time.monotonic() < deadline:
                time.sleep(0.2)
        finally:
            os.killpg(second.pid, signal.SIGTERM)
            second.wait(timeout=30)
        arrived = by_outbox_id(sink.messages)
        assert len(arrived) == 12  # every e-mail
        assert all(len(ids) == 1 for ids in arrived.values())  # one Message-ID each
        assert len({m["Message-ID"] for m in sink.messages}) == 12  # the mail store's view
        assert len(sink.messages) <= 13  # at most the one in flight went twice
        with svc.db() as db:
            assert {m.state for m in db.scalars(select(OutboxMessage))} == {"sent"}
    finally:
        for proc in (first,):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        sink.stop()
        svc.engine.dispose()


def test_an_alert_cannot_add_a_mail_header(
        client: FlaskClient, world: World, services: Services, clock: FrozenClock,
        own_sink: SmtpSink, delivering: tuple[str, Outbox]) -> None:
    token, alerts = delivering
    injected = group_payload("sw-1", "firing", "2026-11-01T11:00:00Z")
    injected["alerts"][0]["labels"]["alertname"] = "Down\r\nBcc: spy@evil.test\r\nX-Evil: 1"
    assert client.post("/ingest/alertmanager/prom", headers=auth(token),
                       json=injected).json["queued"] == 1
    assert alerts.deliver(services.db) == 1
    [mail] = own_sink.wait_for(1)
    assert mail["Bcc"] is None and mail["X-Evil"] is None
    assert "\n" not in mail["Subject"] and "spy@evil.test" not in mail["X-Envelope-To"]


class _Unbuildable(SmtpMailer):
    """A stand-in: every input that could make a message unbuildable is refused or cleaned
    before it reaches the mailer, so no real peer produces this case any more."""

    def send(self, message: Any) -> None:
        if message.headers["X-Custody-Message"] == "1":
            raise ValueError("header values may not contain linefeed or carriage return")
        super().send(message)


def test_a_message_that_cannot_be_built_is_failed_and_the_rest_go_out(
        client: FlaskClient, world: World, services: Services, clock: FrozenClock,
        own_sink: SmtpSink, delivering: tuple[str, Outbox]) -> None:
    token, _ = delivering
    for n in (1, 2):
        client.post("/ingest/alertmanager/prom", headers=auth(token),
                    json=group_payload(f"sw-{n}", "firing", "2026-11-01T11:00:00Z"))
    alerts = Outbox(services.audit, clock, services.settings.alerts,
                          _Unbuildable(MailSettings(host="127.0.0.1", port=own_sink.port,
                                                    timeout=2)),
                          services.signing_key, "http://localhost", "msp.example")
    assert alerts.deliver(services.db) == 1
    with services.db() as db:
        failed = db.scalars(select(OutboxMessage).where(OutboxMessage.state == "failed")).all()
        assert [m.last_error for m in failed] == ["the message could not be built: ValueError"]
    assert len(own_sink.wait_for(1)) == 1


def test_links_in_mail_never_come_from_the_host_header(
        client: FlaskClient, world: World, services: Services, mailbox: SmtpSink) -> None:
    resp = client.post(f"/api/v1/clients/{world.client_a}/contacts",
                       headers=auth(world.admin_token) | {"Host": "phish.evil.test"},
                       json={"kind": "email", "value": "new@kunde-a.test",
                             "purposes": ["alerts"]})
    assert resp.status_code == 201
    deadline = time.monotonic() + 10
    while not (mails := [m for m in mailbox.messages if m["To"] == "new@kunde-a.test"]):
        assert time.monotonic() < deadline, "no verification mail"
        time.sleep(0.05)
    [mail] = mails
    text = text_of(mail)
    assert "phish.evil.test" not in text and "http://localhost/" in text


def test_init_records_the_address_links_point_to(tmp_path: Path) -> None:
    initialize(tmp_path / "site", "boss", 8471)
    settings = load_settings(tmp_path / "site" / "custody.toml", environ={})
    assert settings.server.base_url == "http://127.0.0.1:8471"
    assert settings.public_url == "http://127.0.0.1:8471"


def test_the_same_payload_posted_at_once_is_stored_and_mailed_once(
        app: Flask, client: FlaskClient, world: World, services: Services,
        clock: FrozenClock) -> None:
    """A retry racing the original, or both halves of an HA Alertmanager pair: every post
    is accepted (a 5xx would make Alertmanager send it again), one row, one e-mail."""
    token = source(client, world)
    verify_contact(services, world.contact_a, clock, ["alerts"])
    payload = {**group_payload("sw-1", "firing", "2026-11-01T11:00:00Z"),
               "alerts": [group_payload("sw-1", "firing", "2026-11-01T11:00:00Z")["alerts"][0]
                          | {"fingerprint": f"fp-{n}"} for n in range(5)]}
    barrier = threading.Barrier(12)

    def post(_: int) -> tuple[int, int]:
        with app.test_client() as own:
            barrier.wait()
            resp = own.post("/ingest/alertmanager/prom", headers=auth(token), json=payload)
            return resp.status_code, int((resp.json or {}).get("new", -1))

    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(post, range(12)))
    assert [status for status, _ in answers] == [202] * 12
    assert sum(new for _, new in answers) == 5  # each alert stored by exactly one post
    with services.db() as db:
        assert db.scalar(select(func.count()).select_from(Notification)) == 5
        assert db.scalar(select(func.count()).select_from(OutboxMessage)) == 1
        message = db.scalars(select(OutboxMessage)).one()
    assert message.body.count("- firing: LinkDown") == 5  # folded: all five, once each


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # nothing differs by database
def test_a_mail_that_waits_on_a_dead_relay_stays_bounded(
        client: FlaskClient, world: World, services: Services, clock: FrozenClock,
        own_sink: SmtpSink, delivering: tuple[str, Outbox]) -> None:
    """News keeps coming for a group while its e-mail cannot go out: the one pending
    e-mail lists the latest alerts and says how many came before, at a bounded size."""
    token, alerts = delivering
    own_sink.stop()
    for batch in range(24):
        payload = group_payload("sw-1", "firing", "2026-11-01T11:00:00Z")
        payload["alerts"] = [payload["alerts"][0] | {"fingerprint": f"fp-{batch}-{n}"}
                             for n in range(10)]
        assert client.post("/ingest/alertmanager/prom", headers=auth(token),
                           json=payload).status_code == 202
    assert alerts.deliver(services.db) == 0
    with services.db() as db:
        message = db.scalars(select(OutboxMessage)).one()
    assert message.subject.endswith("(+239)")
    assert "240 alerts of this group" in message.body and "190 before them" in message.body
    assert message.body.count("- firing: LinkDown") == 50
    assert len(message.body) < 20_000
    own_sink.start()  # the relay is back: the one e-mail goes
    clock.advance(minutes=3)
    assert alerts.deliver(services.db) == 1


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # nothing differs by database
def test_news_is_added_to_a_waiting_mail_without_reading_its_alerts_again(
        client: FlaskClient, world: World, services: Services, clock: FrozenClock,
        own_sink: SmtpSink, delivering: tuple[str, Outbox]) -> None:
    """A waiting e-mail is built on as news comes: its entries are taken from its body,
    none of its alerts is read again, and an alert whose texts run over several lines
    stays one whole entry through every fold."""
    token, _ = delivering
    own_sink.stop()
    first = group_payload("sw-1", "firing", "2026-11-01T11:00:00Z")
    first["alerts"][0]["annotations"]["description"] = (
        "line one\n- firing: Fake\r- firing: Forged\u2028line three")
    assert client.post("/ingest/alertmanager/prom", headers=auth(token),
                       json=first).status_code == 202
    read: list[str] = []

    def capture(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "payload" in statement:
            read.append(statement)

    event.listen(services.engine, "before_cursor_execute", capture)
    try:
        for batch in range(60):
            payload = group_payload("sw-1", "firing", "2026-11-01T11:00:00Z")
            payload["alerts"][0]["fingerprint"] = f"fp-{batch}"
            payload["alerts"][0]["annotations"]["description"] = f"batch {batch}\nsecond line"
            assert client.post("/ingest/alertmanager/prom", headers=auth(token),
                               json=payload).status_code == 202
            if batch == 2:
                with services.db() as db:
                    early = db.scalars(select(OutboxMessage)).one().body
                assert early.count("\n- firing: LinkDown") == 3  # the first alert, then news
                # every line break a vendor's text holds is indented, a lone \r included
                assert "    line one\n    - firing: Fake\n    - firing: Forged\n    line three" \
                    in early
                assert {line for line in early.splitlines() if not line.startswith(" ")} == {
                    "- firing: LinkDown"}
    finally:
        event.remove(services.engine, "before_cursor_execute", capture)
    assert read == []  # no alert's payload was read to add the news
    with services.db() as db:
        message = db.scalars(select(OutboxMessage)).one()
    assert message.subject.endswith("(+60)")
    assert "61 alerts of this group" in message.body and "11 before them" in message.body
    assert message.body.count("- firing: LinkDown") == 50
    assert "batch 10\n    second line" in message.body and "batch 9\n" not in message.body
    assert "line one" not in message.body  # the first alert is among those not listed
    own_sink.start()


def test_two_workers_folding_into_one_waiting_mail_keep_each_others_news(
        client: FlaskClient, world: World, services: Services, clock: FrozenClock,
        own_sink: SmtpSink, delivering: tuple[str, Outbox],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Two workers (each its own group commit) fold news into the same waiting e-mail at
    the same moment: the one that writes second adds to what the first wrote. Played
    here by running the second post to its commit while the first is about to write."""
    from custody.alerts import ingest as ingest_module
    from custody.alerts.models import AlertSource

    token, _ = delivering
    own_sink.stop()
    assert client.post("/ingest/alertmanager/prom", headers=auth(token), json=group_payload(
        "sw-1", "firing", "2026-11-01T11:00:00Z")).status_code == 202

    def news(name: str) -> dict[str, Any]:
        payload = group_payload("sw-1", "firing", "2026-11-01T11:00:00Z")
        payload["alerts"][0] |= {"fingerprint": f"fp-{name}",
                                 "annotations": {"summary": f"news {name}"}}
        return payload

    ingest = services.alerts.ingest
    with services.db() as db:
        prom = db.scalars(select(AlertSource).where(AlertSource.name == "prom")).one()
        db.expunge(prom)
    store = ingest_module.AlertIngest._store
    cut_in = []

    def store_after_the_other_worker(self: Any, db: Any, rows: Any) -> Any:
        if not cut_in:  # the other worker's post, written and committed meanwhile
            cut_in.append(True)
            with transaction(services.db) as other:
                assert ingest.ingest(other, prom, news("second")).queued == 0
        return store(self, db, rows)

    monkeypatch.setattr(ingest_module.AlertIngest, "_store", store_after_the_other_worker)
    with transaction(services.db) as db:
        assert ingest.ingest(db, prom, news("first")).queued == 0
    with services.db() as db:
        message = db.scalars(select(OutboxMessage)).one()
    assert "news second" in message.body and "news first" in message.body
    assert message.body.count("- firing: LinkDown") == 3
    assert message.subject.endswith("(+2)")
    own_sink.start()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # nothing differs by database
def test_news_for_a_mail_written_before_entries_were_indented_keeps_its_lines(
        client: FlaskClient, world: World, services: Services, clock: FrozenClock,
        own_sink: SmtpSink, delivering: tuple[str, Outbox]) -> None:
    """A waiting e-mail written by an earlier version (a value's own line breaks not
    indented) loses none of its lines when news is added to it."""
    token, _ = delivering
    own_sink.stop()
    assert client.post("/ingest/alertmanager/prom", headers=auth(token), json=group_payload(
        "sw-1", "firing", "2026-11-01T11:00:00Z")).status_code == 202
    with transaction(services.db) as db:
        db.scalars(select(OutboxMessage)).one().body = (
            "- firing: LinkDown\n    Disk usage:\n/var 95%\n  details")
    news = group_payload("sw-1", "firing", "2026-11-01T11:00:00Z")
    news["alerts"][0]["fingerprint"] = "fp-news"
    assert client.post("/ingest/alertmanager/prom", headers=auth(token),
                       json=news).status_code == 202
    with services.db() as db:
        body = db.scalars(select(OutboxMessage)).one().body
    assert body.startswith("- firing: LinkDown\n    Disk usage:\n    /var 95%\n      details\n")
    assert body.count("- firing: LinkDown") == 2
    own_sink.start()
