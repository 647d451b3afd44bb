"""What every page gives keyboard and screen-reader users, and dark mode: a skip link
first, the current page marked in the menu, colours that follow the system's scheme;
and what the staff's home page tells them."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from custody.accounts.models import User
from custody.alerts.models import Notification, OutboxMessage
from custody.db import transaction
from custody.devices.models import AccessSession
from custody.errors import BackendUnavailable
from custody.scheduling import LEADER, record_run
from custody.services import Services
from tests.conftest import FrozenClock, World, csrf_from


@pytest.fixture
def database_url(sqlite_url: str) -> str:  # pages only: nothing differs by database
    return sqlite_url


def test_a_skip_link_comes_first_and_the_menu_marks_the_current_page(
        client: FlaskClient, world: World, login: Any) -> None:
    login("root", "Admin-Pass-123!")
    for path, current in (("/admin/", "Home"), ("/admin/purge", "Purge schedule"),
                          ("/admin/clients", "Clients"), ("/account", "Account")):
        page = client.get(path).get_data(as_text=True)
        body = page.split("<body>", 1)[1]
        first_link = re.search(r"<a [^>]*>", body)
        assert first_link and 'href="#content"' in first_link.group(0), path
        assert 'id="content"' in page
        menu = page.split('<nav aria-label="main">', 1)[1].split("</nav>", 1)[0]
        marked = re.findall(r'<a href="[^"]*" aria-current="page">([^<]*)</a>', menu)
        assert marked == [current], (path, marked)
    with client.get("/static/custody.css") as resp:
        css = resp.get_data(as_text=True)
    assert "@media (prefers-color-scheme: dark)" in css and "color-scheme:light dark" in css


def test_the_staff_home_says_what_needs_attention_now(
        client: FlaskClient, world: World, services: Services, clock: FrozenClock,
        login: Any) -> None:
    """Weeks by their dates, the next purge sweep, the outbox's health (its last error for
    admins only), tiles that lead to their lists."""
    login("root", "Admin-Pass-123!")
    page = client.get("/admin/").get_data(as_text=True)
    assert "No purge sweep has run yet" in page
    assert f'class="tick">{clock():%d %b}</text>' in page and ">w1<" not in page
    with transaction(services.db) as db:
        record_run(db, "purge_sweep", "a", clock())
        notification = Notification(client_id=world.client_a, dedup_key="k" * 64,
                                    group_id="g", status="firing", alertname="LinkDown",
                                    payload={}, received_at=clock())
        db.add(notification)
        db.flush()
        db.add(OutboxMessage(notification_id=notification.id, contact_id=world.contact_a,
                             subject="s", body="b", state="failed", attempts=8,
                             next_attempt_at=clock(), created_at=clock(),
                             last_error="550 5.7.1 relay refused"))
    page = client.get("/admin/").get_data(as_text=True)
    every = services.settings.purge.sweep_minutes
    assert f"Next purge sweep: {clock() + timedelta(minutes=every):%Y-%m-%d %H:%M} UTC" in page
    outbox = page.split('id="outbox"')[1].split("</div>")[0]
    assert "1 given up in the last day" in outbox and "550 5.7.1 relay refused" in outbox
    assert 'href="/admin/certificates?expires_within_days=30"' in page.split('aria-label="counts"')[1]

    client.post("/logout", data={"csrf_token": csrf_from(page)})
    login("tech", "Tech-Pass-123!")
    page = client.get("/admin/").get_data(as_text=True)
    assert "1 given up in the last day" in page and "relay refused" not in page


def test_the_approval_queue_says_who_asked_for_which_client_and_when(
        client: FlaskClient, world: World, services: Services, clock: FrozenClock,
        login: Any) -> None:
    with transaction(services.db) as db:
        tech = db.scalars(select(User).where(User.username == "tech")).one()
        db.add(AccessSession(device_id=world.device_a, client_id=world.client_a,
                             user_id=tech.id, reason="INC-5 core switch", ttl_seconds=900,
                             state="pending", requested_at=clock() - timedelta(minutes=12)))
    login("root", "Admin-Pass-123!")
    page = client.get("/tech/approvals").get_data(as_text=True)
    row = page.split("INC-5 core switch")[0].rsplit("<tr>", 1)[1]
    assert "<td>tech</td>" in row and "Client A" in row and "router-a-ZZCANARYA" in row
    assert "12 min ago" in page


def test_a_pending_session_page_looks_again_until_a_decision(
        client: FlaskClient, world: World, services: Services, clock: FrozenClock,
        login: Any) -> None:
    """Without JavaScript too: the page reloads itself while the session waits."""
    with transaction(services.db) as db:
        tech = db.scalars(select(User).where(User.username == "tech")).one()
        waiting = AccessSession(device_id=world.device_a, client_id=world.client_a,
                                user_id=tech.id, reason="INC-6", ttl_seconds=900,
                                state="pending", requested_at=clock())
        db.add(waiting)
        db.flush()
        session_id = waiting.id
    login("tech", "Tech-Pass-123!")
    page = client.get(f"/tech/sessions/{session_id}").get_data(as_text=True)
    assert '<meta http-equiv="refresh" content="10">' in page and 'id="waiting"' in page
    with transaction(services.db) as db:
        row = db.get(AccessSession, session_id)
        assert row is not None
        row.state, row.closed_at = "denied", clock()
    page = client.get(f"/tech/sessions/{session_id}").get_data(as_text=True)
    assert 'http-equiv="refresh"' not in page and "denied" in page


def test_a_deleted_devices_page_offers_no_session_and_shows_no_address(
        client: FlaskClient, world: World, login: Any) -> None:
    h = {"Authorization": f"Bearer {world.admin_token}"}
    assert client.delete(f"/api/v1/devices/{world.device_a}", headers=h).status_code == 200
    login("tech", "Tech-Pass-123!")
    page = client.get(f"/tech/devices/{world.device_a}").get_data(as_text=True)
    assert "destroyed with its access data" in page and "None:" not in page
    assert "Open session" not in page and "Request approval" not in page


def test_the_audit_log_filters_by_who_what_on_what_and_when_a_page_at_a_time(
        client: FlaskClient, world: World, services: Services, clock: FrozenClock,
        login: Any) -> None:
    with transaction(services.db) as db:
        for n in range(205):
            services.audit.record(db, "user:1", "probe.step", f"device:{world.device_a}", n=n)
        services.audit.record(db, "purge", "probe.other", "client:1")
    login("root", "Admin-Pass-123!")
    page = client.get("/admin/audit", query_string={"actor": "root", "action": "probe."}
                      ).get_data(as_text=True)
    assert page.count("<td>probe.step</td>") == 200 and "probe.other" not in page
    older = page.split('rel="next"')[0].rsplit('href="', 1)[1].split('"')[0]
    rest = client.get(older.replace("&amp;", "&")).get_data(as_text=True)
    assert rest.count("<td>probe.step</td>") == 5 and 'rel="next"' not in rest
    by_target = client.get("/admin/audit", query_string={"target": "client:1"}
                           ).get_data(as_text=True)
    assert "probe.other" in by_target and "probe.step" not in by_target
    day = f"{clock():%Y-%m-%d}"
    assert "probe.other" in client.get("/admin/audit", query_string={
        "from": day, "to": day}).get_data(as_text=True)
    assert "probe.other" not in client.get("/admin/audit", query_string={
        "to": "2026-10-01"}).get_data(as_text=True)
    bad = client.get("/admin/audit", query_string={"from": "yesterday"}, follow_redirects=True)
    assert "a day as YYYY-MM-DD" in bad.get_data(as_text=True)


def test_the_staff_home_says_when_the_broker_or_the_scheduler_is_down(
        client: FlaskClient, world: World, services: Services, clock: FrozenClock,
        login: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The broker's failure is a stand-in (its check made to fail): stopping this test's
    in-process broker would take the other pages' sessions with it."""
    login("root", "Admin-Pass-123!")
    page = client.get("/admin/").get_data(as_text=True)
    assert "No scheduler leads right now" in page and "broker does not answer" not in page
    with transaction(services.db) as db:
        record_run(db, LEADER, "a", clock())
    assert "No scheduler leads" not in client.get("/admin/").get_data(as_text=True)

    def down() -> None:
        raise BackendUnavailable("the broker does not answer")

    monkeypatch.setattr(services.broker, "check", down)
    assert "session broker does not answer" in client.get("/admin/").get_data(as_text=True)
