"""Every destructive form asks first, in words, and acts only on the confirmation: a
certificate's revocation (whose reason is never preselected), a hold's release, a
client's erasure request (which it may withdraw until confirmed). Pages name what ids
stand for."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import lxml.html
import pyotp
import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from custody.accounts.models import ApiToken, User
from custody.certs.models import Certificate
from custody.clients.models import Client
from custody.db import transaction
from custody.devices.models import AccessSession, Device, EgressProfile
from custody.purge.models import Hold as PurgeHold
from custody.services import Services
from tests.certs.helpers import issue_to
from tests.conftest import FrozenClock, World, auth, csrf_from


@pytest.fixture
def database_url(sqlite_url: str) -> str:  # forms and pages: nothing differs by database
    return sqlite_url


def _text(resp: Any) -> str:
    return str(resp.get_data(as_text=True))


def test_revoking_and_releasing_ask_first_and_act_on_the_confirmation(
        client: FlaskClient, world: World, services: Services, login: Any) -> None:
    h = auth(world.admin_token)
    cert = issue_to(client, services, world.admin_token, world.client_a, "acme.test")
    login("root", "Admin-Pass-123!")
    listing = _text(client.get("/admin/certificates"))
    assert '<option value="" selected disabled>Choose a reason</option>' in listing
    token = csrf_from(listing)
    url = f"/admin/certificates/{cert['id']}/revoke"

    def revoked() -> Any:
        return client.get(f"/api/v1/certificates/{cert['id']}", headers=h).json["revoked_at"]

    refused = client.post(url, data={"csrf_token": token, "reason": ""}, follow_redirects=True)
    assert "Not revoked" in _text(refused) and "choose a reason" in _text(refused)
    asked = client.post(url, data={"csrf_token": token, "reason": "superseded"})
    page = _text(asked)
    assert asked.status_code == 200 and f"Revoke certificate {cert['id']}?" in page
    assert "superseded" in page and "cannot be undone" in page and "vpn.acme.test" in page
    assert 'name="confirmed" value="yes"' in page and revoked() is None
    done = client.post(url, data={"csrf_token": csrf_from(page), "reason": "superseded",
                                  "confirmed": "yes"})
    assert done.status_code == 302 and revoked() is not None

    hold = client.post("/api/v1/holds", headers=h, json={
        "target_kind": "device", "target_id": world.device_a, "reason": "court order 7",
        "until": "2027-06-01"}).json
    purge_page = _text(client.get("/admin/purge"))
    assert "device router-a-ZZCANARYA" in purge_page  # names where ids were
    audit_page = _text(client.get("/admin/audit"))
    assert '<td title="user:1">root</td>' in audit_page
    assert f'<td title="device:{world.device_a}">router-a-ZZCANARYA</td>' in audit_page
    url = f"/admin/holds/{hold['id']}/release"
    asked = client.post(url, data={"csrf_token": token})
    page = _text(asked)
    assert "Release the hold on device router-a-ZZCANARYA?" in page  # its name, not its id
    assert "court order 7" in page and "next purge sweep destroys it" in page
    active = client.get("/api/v1/holds", headers=h).json["items"]
    assert [x["id"] for x in active] == [hold["id"]]
    client.post(url, data={"csrf_token": token, "confirmed": "yes"})
    assert client.get("/api/v1/holds", headers=h).json["items"] == []


def test_a_client_sees_who_reached_its_devices_and_why_but_no_transcript(
        client: FlaskClient, world: World, services: Services, clock: FrozenClock,
        login: Any) -> None:
    with transaction(services.db) as db:
        tech = db.scalars(select(User).where(User.username == "tech")).one()
        for device, client_id, reason in ((world.device_a, world.client_a, "INC-42 uplink"),
                                          (world.device_b, world.client_b, "INC-77 other")):
            db.add(AccessSession(device_id=device, client_id=client_id, user_id=tech.id,
                                 reason=reason, ttl_seconds=600, state="closed",
                                 requested_at=clock(), opened_at=clock(), closed_at=clock()))
    login("user-a", "Client-a-Pass-123!")
    page = _text(client.get("/portal/"))
    sessions = page.split('id="sessions"')[1].split("</section>")[0]
    assert "router-a-ZZCANARYA" in sessions and "tech" in sessions and "INC-42 uplink" in sessions
    assert "INC-77" not in page and "ZZCANARYB" not in page  # another client's


def test_a_client_asks_for_erasure_after_reading_what_it_means_and_may_withdraw(
        client: FlaskClient, world: World, login: Any) -> None:
    h = auth(world.admin_token)
    login("user-a", "Client-a-Pass-123!")
    token = csrf_from(_text(client.get("/portal/")))

    def requested() -> Any:
        return client.get(f"/api/v1/clients/{world.client_a}", headers=h).json[
            "erasure_requested_at"]

    asked = client.post("/portal/erasure", data={"csrf_token": token})
    assert "Ask us to erase your data?" in _text(asked) and "withdraw" in _text(asked)
    assert requested() is None
    client.post("/portal/erasure", data={"csrf_token": token, "confirmed": "yes"})
    assert requested() is not None
    portal = _text(client.get("/portal/"))
    assert "Withdraw my erasure request" in portal
    client.post("/portal/erasure", data={"csrf_token": token, "withdraw": "1"})
    assert requested() is None

    # Through the API too, and only until an admin confirms.
    user = auth(world.user_a_token)
    path = f"/api/v1/clients/{world.client_a}/erasure-request"
    assert client.post(path, headers=user).status_code == 202
    assert client.delete(path, headers=user).status_code == 200 and requested() is None
    assert client.post(path, headers=user).status_code == 202
    assert client.post(f"/api/v1/clients/{world.client_a}/erasure/confirm",
                       headers=h).status_code == 200
    late = client.delete(path, headers=user)
    assert late.status_code == 409 and "no longer be withdrawn" in late.json["error"]["message"]
    assert client.delete(f"/api/v1/clients/{world.client_b}/erasure-request",
                         headers=user).status_code == 404  # another tenant's


def test_dates_that_make_devices_due_now_are_saved_only_once_confirmed(
        client: FlaskClient, world: World, login: Any) -> None:
    """A warranty end in the past (a typo, often) would have the next sweep destroy the
    devices' access data: the page says how many and when, and saves on "Yes" only."""
    h = auth(world.admin_token)
    login("root", "Admin-Pass-123!")
    page = _text(client.get(f"/admin/clients/{world.client_a}"))
    token = csrf_from(page)
    url = f"/admin/engagements/{world.engagement_a}"
    prefix = f"e{world.engagement_a}"

    def dates() -> tuple[Any, Any]:
        eng = client.get(f"/api/v1/engagements/{world.engagement_a}", headers=h).json
        return eng["paid_at"], eng["warranty_until"]

    later = {"csrf_token": token, f"{prefix}-paid_on": "2026-10-01",
             f"{prefix}-warranty_until": "2027-10-01"}
    assert client.post(url, data=later).status_code == 302  # nothing due: saved at once
    assert dates()[1].startswith("2027-10-01")
    past = later | {f"{prefix}-warranty_until": "2026-10-15"}
    asked = client.post(url, data=past)
    text = _text(asked)
    assert asked.status_code == 200 and "This makes 1 device(s) due now: router-a-ZZCANARYA" in text
    assert "next purge sweep (when the scheduler next runs)" in text
    assert dates()[1].startswith("2027-10-01")  # not saved
    assert client.post(url, data=past | {"confirmed": "yes"}).status_code == 302
    assert dates()[1].startswith("2026-10-15")
    schedule = client.get("/api/v1/purge/schedule", headers=h).json["items"]
    assert {i["target"]: i["state"] for i in schedule}[f"device:{world.device_a}"] == "due"


def test_an_admin_closes_a_client_and_answers_its_erasure_request_on_its_page(
        client: FlaskClient, world: World, login: Any) -> None:
    h = auth(world.admin_token)
    user = auth(world.user_a_token)
    path = f"/api/v1/clients/{world.client_a}/erasure-request"
    assert client.post(path, headers=user).status_code == 202
    login("root", "Admin-Pass-123!")
    assert "1</strong> erasure requests wait for an admin" in _text(client.get("/admin/"))
    assert "asked to be erased" in _text(client.get("/admin/clients"))
    page = _text(client.get(f"/admin/clients/{world.client_a}"))
    assert "The client asked to be erased on" in page
    token = csrf_from(page)
    url = f"/admin/clients/{world.client_a}/erasure"

    def record() -> Any:
        return client.get(f"/api/v1/clients/{world.client_a}", headers=h).json

    client.post(url, data={"csrf_token": token, "decision": "decline"})
    assert record()["erasure_requested_at"] is None  # declined: the request is gone
    assert client.post(path, headers=user).status_code == 202
    asked = _text(client.post(url, data={"csrf_token": token, "decision": "confirm"}))
    assert "Erase Client A?" in asked and "cannot be undone" in asked
    assert record()["erasure_confirmed_at"] is None
    client.post(url, data={"csrf_token": token, "decision": "confirm", "confirmed": "yes"})
    assert record()["erasure_confirmed_at"] is not None

    close = f"/admin/clients/{world.client_b}/close"
    assert "Close Client B ZZCANARYB?" in _text(client.post(close, data={"csrf_token": token}))
    client.post(close, data={"csrf_token": token, "confirmed": "yes"})
    assert client.get(f"/api/v1/clients/{world.client_b}", headers=h).json["status"] == "closed"


def test_an_admin_sets_a_clients_access_policy_on_a_page_and_keeps_what_it_does_not_show(
        client: FlaskClient, world: World, login: Any) -> None:
    h = auth(world.admin_token)
    path = f"/api/v1/clients/{world.client_a}/policy"
    client.put(path, headers=h, json={"require_approval": False, "approver_role": "admin",
                                      "deny_commands": [], "allow_commands": ["show *"],
                                      "rotate_every_days": 30})
    login("root", "Admin-Pass-123!")
    url = f"/admin/clients/{world.client_a}/policy"
    token = csrf_from(_text(client.get(url)))
    bad = client.post(url, data={"csrf_token": token, "approver_role": "client",
                                 "cert_names": "acme.test"})
    assert bad.status_code == 400 and "approver_role" in _text(bad)
    assert "acme.test" in _text(bad)  # the values as typed stay
    client.post(url, data={"csrf_token": token, "require_approval": "1",
                           "approver_role": "technician", "deny_commands": "reload\n",
                           "cert_names": "acme.test\n192.0.2.0/24", "alert_names": "Lager Nord",
                           "prefix_preserving_ips": "1"})
    policy = client.get(path, headers=h).json
    assert policy["require_approval"] is True and policy["approver_role"] == "technician"
    assert policy["cert_names"] == ["acme.test", "192.0.2.0/24"]
    assert policy["alert_names"] == ["Lager Nord"] and policy["prefix_preserving_ips"] is True
    assert policy["deny_commands"] == ["reload"]
    assert policy["allow_commands"] == ["show *"] and policy["rotate_every_days"] == 30


def test_an_admin_adds_a_contact_on_the_clients_page_and_it_is_sent_its_link(
        client: FlaskClient, world: World, login: Any, mailbox: Any) -> None:
    login("root", "Admin-Pass-123!")
    page = _text(client.get(f"/admin/clients/{world.client_a}"))
    assert "ops-a-zzcanarya@example.test" in page  # the contacts the client has
    token = csrf_from(page)
    url = f"/admin/clients/{world.client_a}/contacts"
    refused = client.post(url, follow_redirects=True, data={
        "csrf_token": token, "kind": "email", "value": "noc@example.test"})
    assert "Not added" in _text(refused)  # no purpose chosen
    mailbox.messages.clear()
    done = client.post(url, follow_redirects=True, data={
        "csrf_token": token, "kind": "email", "value": "NOC@Example.test",
        "purposes": ["alerts", "billing"]})
    assert "noc@example.test added; it was sent its confirmation link." in _text(done).lower()
    [message] = mailbox.wait_for(1)
    assert message["To"] == "noc@example.test"


DESTRUCTIVE_ENDINGS = ("/revoke", "/delete", "/close", "/release", "/disable",
                       "/password-reset", "/totp-reset")


def _destructive_forms(page: str) -> list[tuple[str, dict[str, str]]]:
    """Each POST form that destroys or ends something (a "danger" button, or an address
    that says so), with the fields a browser would send."""
    found = []
    for form in lxml.html.fromstring(page).forms:
        action = form.action or ""
        danger = form.xpath(".//button[contains(@class, 'danger')]")
        if (form.method or "").upper() != "POST" or not (
                danger or action.endswith(DESTRUCTIVE_ENDINGS)):
            continue
        fields = {name: value for name, value in form.form_values()}
        for choice in form.xpath(".//select[@name]"):  # a deliberate choice, as a person makes
            options = [o for o in choice.xpath("./option/@value") if o]
            fields[choice.get("name")] = options[0] if options else ""
        found.append((action, fields))
    return found


def test_every_destructive_form_asks_first(
        client: FlaskClient, world: World, services: Services, clock: FrozenClock,
        login: Any) -> None:
    """Walked from the pages themselves: every form that revokes, deletes, closes,
    releases, disables or resets answers with a page that says what will happen and asks
    for a "Yes" (or, for deleting a person, asks to type their name), and changes
    nothing until then."""
    h = auth(world.admin_token)
    with transaction(services.db) as db:
        services.accounts.create_user(db, "test", "leaver", "technician",
                                      password="Leaver-Pass-123!")
        services.tokens.create(db, "test", "root", name="nightly export", days=30)
    issue_to(client, services, world.admin_token, world.client_a, "acme.test")
    client.post("/api/v1/egress-profiles", headers=h,
                json={"name": "spare", "source_ip": "127.0.0.3"})
    assert client.post("/api/v1/holds", headers=h, json={
        "target_kind": "device", "target_id": world.device_a, "reason": "dispute",
        "until": (clock() + timedelta(days=30)).isoformat()}).status_code == 201
    with transaction(services.db) as db:
        user = db.scalar(select(User).where(User.username == "leaver"))
        assert user is not None
        leaver = user.id
        uri = services.accounts.second_factor.start(user)  # so it can be removed
        services.accounts.second_factor.confirm(
            db, user, pyotp.TOTP(pyotp.parse_uri(uri).secret).at(clock()), "Leaver-Pass-123!")
    login("root", "Admin-Pass-123!")
    pages = ["/admin/certificates", "/admin/egress", f"/admin/users/{leaver}",
             f"/tech/devices/{world.device_a}", f"/admin/clients/{world.client_a}",
             "/admin/purge", "/account"]
    asked: set[str] = set()
    for path in pages:
        page = client.get(path)
        assert page.status_code == 200, path
        for action, fields in _destructive_forms(page.get_data(as_text=True)):
            before = _state(services)
            resp = client.post(action, data=fields)
            text = resp.get_data(as_text=True)
            if "confirm" in fields:  # deleting a person: their name typed, or nothing
                assert resp.status_code == 400 and "confirmation does not match" in text
            else:
                assert resp.status_code == 200, (path, action, resp.status_code)
                assert 'name="confirmed" value="yes"' in text, (path, action)
                title = text.split('<h1 id="confirm-title">', 1)[1].split("</h1>")[0]
                assert title.endswith("?"), (action, title)
            assert _state(services) == before, (path, action)  # nothing happened yet
            asked.add(re.sub(r"/\d+", "/N", action))
    assert asked >= {"/admin/certificates/N/revoke", "/admin/egress/N/delete",
                     "/admin/users/N/disable", "/admin/users/N/password-reset",
                     "/admin/users/N/totp-reset", "/admin/users/N/delete",
                     "/admin/devices/N/delete", "/admin/clients/N/close",
                     "/admin/holds/N/release", "/account/tokens/N/revoke"}, asked


def _state(services: Services) -> tuple[int, ...]:
    """What the forms above would change, counted."""
    with services.db() as db:
        return tuple(db.scalar(select(func.count()).select_from(table).where(where))
                     for table, where in (
                         (Certificate, Certificate.revoked_at.is_not(None)),
                         (EgressProfile, EgressProfile.id > 0),
                         (User, User.disabled_at.is_not(None)),
                         (User, User.must_change_password.is_(True)),
                         (User, User.totp_secret_path.is_not(None)),
                         (Device, Device.purged_at.is_not(None)),
                         (Client, Client.closed_at.is_not(None)),
                         (PurgeHold, PurgeHold.released_at.is_not(None)),
                         (ApiToken, ApiToken.revoked_at.is_not(None))))
