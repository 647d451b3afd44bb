"""People come and go: disabling, deleting, roles, tokens, sessions, second factors."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pyotp
import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from custody.accounts.models import ApiToken, User, WebSession
from custody.accounts.service import Principal
from custody.audit.models import AuditEvent
from custody.cli import main
from custody.db import transaction
from custody.devices.approvals import ApprovalState
from custody.devices.models import AccessSession, CommandApproval, Device, SessionState
from custody.services import Services
from tests.conftest import FrozenClock, World, auth, csrf_from, installation

# Routes anyone may call: their own credential is in the URL or there is none.
ANONYMOUS = ("/healthz", "/metrics", "/crl/", "/ca/", "/ingest/", "/unsubscribe/",
             "/contacts/verify/", "/account/email/verify/", "/login", "/logout", "/static/",
             "/api/v1/openapi.json")


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """SQLite only: nothing here differs by database, and the suite has a time budget
    (the accounts' locks and races run on both in test_login.py and test_audit.py)."""
    return sqlite_url


def _page_login(app: Flask, username: str, password: str) -> FlaskClient:
    c = app.test_client()
    page = c.get("/login").get_data(as_text=True)
    resp = c.post("/login", data={"username": username, "password": password,
                                  "csrf_token": csrf_from(page)})
    assert resp.status_code == 302, resp.get_data(as_text=True)
    return c


def _pin_a_host_key(services: Services, device_id: int) -> None:
    """A pinned key, written directly: pinning one needs a live device (tests/devices), and
    a pending session never connects."""
    with transaction(services.db) as db:
        device = db.get(Device, device_id)
        assert device is not None
        device.host_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB6Lq0G0n9yWm8bXQ2c3VqUb0b7lKc"


def _rules(app: Flask) -> list[tuple[str, str]]:
    """Every authenticated route of the app with a method to call it by, ids filled in."""
    found = []
    for rule in app.url_map.iter_rules():
        path = rule.rule
        for name in rule.arguments:
            path = path.replace(f"<int:{name}>", "1").replace(f"<{name}>", "x") \
                .replace(f"<path:{name}>", "x")
        if path.startswith(ANONYMOUS) or path == "/" or getattr(rule, "websocket", False):
            continue
        method = next(m for m in ("GET", "POST", "PUT", "PATCH", "DELETE")
                      if m in (rule.methods or ()))
        found.append((method, path))
    return found


def test_a_disabled_user_is_locked_out_of_every_route(app: Flask, world: World,
                                                      services: Services) -> None:
    """Walk the URL map: after disabling, the user's token gets 401 on every API route,
    their cookie gets 401 from the API and the login page from every other page."""
    with transaction(services.db) as db:
        services.accounts.create_user(db, "test", "tina", "technician", password="Tina-Pass-1234")
        token = services.tokens.create(db, "test", "tina")
    browser = _page_login(app, "tina", "Tina-Pass-1234")
    api = app.test_client()
    assert api.get("/api/v1/me", headers=auth(token)).status_code == 200
    assert browser.get("/tech/devices").status_code == 200
    admin = app.test_client()
    tina_id = admin.get("/api/v1/me", headers=auth(token)).json["id"]
    resp = admin.post(f"/api/v1/users/{tina_id}/disable", headers=auth(world.admin_token))
    assert resp.status_code == 200 and resp.json["user"]["state"] == "disabled"
    assert resp.json["ended"]["tokens_revoked"] == 1
    assert resp.json["ended"]["web_sessions_ended"] == 1
    routes = _rules(app)
    assert len(routes) > 60
    for method, path in routes:
        if path.startswith("/api/"):
            by_token = api.open(path, method=method, headers=auth(token), json={})
            assert by_token.status_code == 401, (method, path, by_token.status_code)
            by_cookie = browser.open(path, method=method, json={})
            assert by_cookie.status_code == 401, (method, path, by_cookie.status_code)
        elif method == "GET":
            page = browser.get(path)
            assert page.status_code == 302 and "/login" in page.headers["Location"], path
    with services.db() as db:
        assert db.scalar(select(func.count()).select_from(WebSession).where(
            WebSession.user_id == tina_id)) == 0


def test_disabling_ends_device_sessions_and_cancels_approvals(
        client: FlaskClient, world: World, services: Services) -> None:
    """A pending session request and a line held for approval end with the person.
    The pinned host key and the held line are written directly: both need a live
    device, which the session and hostile-technician tests drive; here only their
    ending is at stake (a pending session never connects)."""
    h_admin, h_tech = auth(world.admin_token), auth(world.tech_token)
    _pin_a_host_key(services, world.device_a)
    client.put(f"/api/v1/clients/{world.client_a}/policy", headers=h_admin,
               json={"require_approval": True, "approver_role": "admin"})
    asked = client.post(f"/api/v1/devices/{world.device_a}/sessions", headers=h_tech,
                        json={"reason": "INC-1 check the uplink"})
    assert asked.status_code == 202 and asked.json["state"] == "pending"
    tech_id = client.get("/api/v1/me", headers=h_tech).json["id"]
    with transaction(services.db) as db:
        db.add(CommandApproval(session_id=asked.json["id"], client_id=world.client_a,
                               user_id=tech_id, command="reload", state=ApprovalState.PENDING,
                               requested_at=services.clock(),
                               expires_at=services.clock() + timedelta(minutes=5)))
    resp = client.post(f"/api/v1/users/{tech_id}/disable", headers=h_admin)
    assert resp.json["ended"]["device_sessions_closed"] == 1
    assert resp.json["ended"]["approvals_cancelled"] == 1
    with services.db() as db:
        session = db.get(AccessSession, asked.json["id"])
        assert session is not None and session.state == SessionState.CLOSED
        assert session.close_reason == "user disabled by root"
        assert db.scalar(select(CommandApproval.state)) == ApprovalState.CANCELLED
        actions = set(db.scalars(select(AuditEvent.action)))
    assert {"user.disable", "session.close"} <= actions


def test_enable_and_the_last_admin(client: FlaskClient, world: World, services: Services) -> None:
    h = auth(world.admin_token)
    me = client.get("/api/v1/me", headers=h).json["id"]
    own = client.post(f"/api/v1/users/{me}/disable", headers=h)
    assert own.status_code == 409 and "your own account" in own.json["error"]["message"]
    demote = client.patch(f"/api/v1/users/{me}", headers=h, json={"role": "technician"})
    assert demote.status_code == 409 and "last enabled admin" in demote.json["error"]["message"]
    tech = client.get("/api/v1/me", headers=auth(world.tech_token)).json["id"]
    client.post(f"/api/v1/users/{tech}/disable", headers=h)
    back = client.post(f"/api/v1/users/{tech}/enable", headers=h)
    assert back.status_code == 200 and back.json["state"] == "active"
    # Enabled again, but the old token stays revoked: a new one is needed.
    assert client.get("/api/v1/me", headers=auth(world.tech_token)).status_code == 401


def test_role_and_transcript_permission_are_audited(client: FlaskClient, world: World,
                                                    services: Services) -> None:
    h = auth(world.admin_token)
    tech = client.get("/api/v1/me", headers=auth(world.tech_token)).json["id"]
    assert client.get("/api/v1/users", headers=auth(world.tech_token)).status_code == 403
    granted = client.patch(f"/api/v1/users/{tech}", headers=h,
                           json={"can_read_transcripts": True})
    assert granted.status_code == 200 and granted.json["can_read_transcripts"] is True
    promoted = client.patch(f"/api/v1/users/{tech}", headers=h, json={"role": "admin"})
    assert promoted.json["role"] == "admin"
    # Effective on the very next request: the same token now lists users.
    assert client.get("/api/v1/users", headers=auth(world.tech_token)).status_code == 200
    client_user = next(u for u in client.get("/api/v1/users", headers=h).json["items"]
                       if u["username"] == "user-a")
    refused = client.patch(f"/api/v1/users/{client_user['id']}", headers=h,
                           json={"role": "admin"})
    assert refused.status_code == 400 and refused.json["error"]["fields"][0]["field"] == "role"
    with services.db() as db:
        events = db.scalars(select(AuditEvent).where(AuditEvent.target == f"user:{tech}")).all()
    assert [(e.action, e.details) for e in events if e.action.startswith("user.")][-2:] == [
        ("user.transcripts_permission", {"allowed": True}),
        ("user.role", {"before": "technician", "after": "admin"})]


def test_delete_keeps_the_actor_id_and_nothing_personal(
        client: FlaskClient, world: World, services: Services) -> None:
    h = auth(world.admin_token)
    tech = client.get("/api/v1/me", headers=auth(world.tech_token)).json["id"]
    with transaction(services.db) as db:
        user = db.get(User, tech)
        assert user is not None
        uri = services.accounts.second_factor.start(user)
        services.accounts.second_factor.confirm(db, user, pyotp.TOTP(pyotp.parse_uri(uri).secret).at(
            services.clock()), "Tech-Pass-123!")
    assert services.secrets.list_paths("provider") == [f"provider/users/{tech}/totp"]
    gone = client.delete(f"/api/v1/users/{tech}", headers=h)
    assert gone.status_code == 200 and gone.json["user"]["state"] == "deleted"
    assert gone.json["user"]["username"] == f"deleted#{tech}"
    assert gone.json["ended"]["tokens_deleted"] == 1
    with services.db() as db:
        user = db.get(User, tech)
        assert user is not None and user.username == f"deleted#{tech}"
        assert user.totp_secret_path is None and user.recovery_codes is None
        assert db.scalar(select(func.count()).select_from(ApiToken).where(
            ApiToken.user_id == tech)) == 0
        actors = set(db.scalars(select(AuditEvent.target).where(
            AuditEvent.action == "user.delete")))
    assert actors == {f"user:{tech}"}
    assert services.secrets.list_paths("provider") == []
    again = client.post(f"/api/v1/users/{tech}/enable", headers=h)
    assert again.status_code == 409


def test_tokens_have_names_expiry_last_use_and_owners(
        client: FlaskClient, world: World, services: Services, clock: FrozenClock) -> None:
    h_tech = auth(world.tech_token)
    made = client.post("/api/v1/tokens", headers=h_tech, json={"name": "ci deploy", "days": 2})
    assert made.status_code == 201 and made.json["token"].startswith("cst_")
    secret, token_id = made.json["token"], made.json["id"]
    listed = client.get("/api/v1/tokens", headers=h_tech).json["items"]
    assert "token" not in listed[0] and secret not in json.dumps(listed)
    assert listed[0]["name"] == "ci deploy" and listed[0]["last_used_at"] is None
    clock.advance(minutes=5)
    assert client.get("/api/v1/me", headers=auth(secret)).status_code == 200
    used = next(t for t in client.get("/api/v1/tokens", headers=h_tech).json["items"]
                if t["id"] == token_id)
    assert used["last_used_at"] is not None
    # Someone else's token: not visible, not revocable (404, like any other tenant's object).
    assert client.get("/api/v1/tokens?all=true", headers=h_tech).status_code == 403
    admin_tokens = client.get("/api/v1/tokens", headers=auth(world.admin_token)).json["items"]
    assert client.delete(f"/api/v1/tokens/{admin_tokens[0]['id']}",
                         headers=h_tech).status_code == 404
    clock.advance(days=2)
    assert client.get("/api/v1/me", headers=auth(secret)).status_code == 401  # expired
    # The default lifetime, and an admin revoking anyone's.
    default = client.post("/api/v1/tokens", headers=h_tech, json={"name": "laptop"}).json
    assert default["expires_at"].startswith(
        (clock() + timedelta(days=90)).date().isoformat())
    revoked = client.delete(f"/api/v1/tokens/{default['id']}", headers=auth(world.admin_token))
    assert revoked.status_code == 200 and revoked.json["revoked_at"] is not None
    assert client.get("/api/v1/me", headers=auth(default["token"])).status_code == 401
    bad = client.post("/api/v1/tokens", headers=h_tech, json={"name": "x", "days": 0})
    assert bad.status_code == 400 and bad.json["error"]["fields"][0]["field"] == "days"


def test_password_change_and_logout_everywhere_end_the_other_sessions(
        app: Flask, services: Services) -> None:
    with transaction(services.db) as db:
        services.accounts.create_user(db, "test", "alice", "admin", password="Alice-Pass-123!")
    laptop = _page_login(app, "alice", "Alice-Pass-123!")
    phone = _page_login(app, "alice", "Alice-Pass-123!")
    page = laptop.get("/account/password").get_data(as_text=True)
    changed = laptop.post("/account/password", data={
        "current": "Alice-Pass-123!", "new": "Alice-New-Pass-1", "csrf_token": csrf_from(page)})
    assert changed.status_code == 302
    assert laptop.get("/admin/").status_code == 200
    assert phone.get("/admin/").headers["Location"].startswith("/login")
    tablet = _page_login(app, "alice", "Alice-New-Pass-1")
    page = laptop.get("/account").get_data(as_text=True)
    out = laptop.post("/account/logout-everywhere", data={"csrf_token": csrf_from(page)})
    assert out.status_code == 302
    assert laptop.get("/admin/").status_code == 200
    assert tablet.get("/admin/").headers["Location"].startswith("/login")


def test_admin_password_reset_ends_every_session(app: Flask, world: World,
                                                 services: Services) -> None:
    with transaction(services.db) as db:
        bob, _ = services.accounts.create_user(db, "test", "bob", "technician",
                                               password="Bobs-Pass-12345")
        bobs_token = services.tokens.create(db, "test", "bob")
    browser = _page_login(app, "bob", "Bobs-Pass-12345")
    reset = app.test_client().post(f"/api/v1/users/{bob.id}/password-reset",
                                   headers=auth(world.admin_token))
    assert reset.status_code == 200 and len(reset.json["password"]) >= 12
    assert reset.headers["Cache-Control"] == "no-store"
    assert browser.get("/tech/devices").headers["Location"].startswith("/login")
    # A reset answers a suspected compromise: the tokens are revoked too.
    assert app.test_client().get("/api/v1/me", headers=auth(bobs_token)).status_code == 401
    again = _page_login(app, "bob", reset.json["password"])
    assert again.get("/tech/devices").headers["Location"] == "/account/password"


def test_a_one_time_password_session_gets_403_from_the_api(app: Flask, services: Services
                                                           ) -> None:
    """Settled: a browser session still on a generated password is held to choosing its
    own, in the API too; a token made at the machine keeps working."""
    with transaction(services.db) as db:
        _, generated = services.accounts.create_user(db, "test", "newbie", "technician")
        token = services.tokens.create(db, "test", "newbie")
    assert generated is not None
    browser = app.test_client()
    page = browser.get("/login").get_data(as_text=True)
    browser.post("/login", data={"username": "newbie", "password": generated,
                                 "csrf_token": csrf_from(page)})
    resp = browser.get("/api/v1/me")
    assert resp.status_code == 403 and "password" in resp.json["error"]["message"]
    assert browser.get("/tech/devices").headers["Location"] == "/account/password"
    assert app.test_client().get("/api/v1/me", headers=auth(token)).status_code == 200


def test_totp_on_pages_with_recovery_codes(app: Flask, services: Services) -> None:
    with transaction(services.db) as db:
        services.accounts.create_user(db, "test", "alice", "admin", password="Alice-Pass-123!")
    browser = _page_login(app, "alice", "Alice-Pass-123!")
    page = browser.get("/account/totp")
    assert page.headers["Cache-Control"] == "no-store"
    html = page.get_data(as_text=True)
    secret = html.split('id="totp-secret">')[1].split("<")[0]
    wrong = browser.post("/account/totp", data={"code": "000000", "password": "Alice-Pass-123!",
                                                "csrf_token": csrf_from(html)})
    assert wrong.status_code == 400 and "does not match" in wrong.get_data(as_text=True)
    assert secret in wrong.get_data(as_text=True)  # a typo keeps the same secret
    done = browser.post("/account/totp", data={"code": pyotp.TOTP(secret).at(services.clock()),
                                               "password": "Alice-Pass-123!",
                                               "csrf_token": csrf_from(html)})
    codes = [c.split("</code>")[0] for c in
             done.get_data(as_text=True).split('id="recovery-codes">')[1].split("<code>")[1:]]
    assert len(codes) == 10
    with transaction(services.db) as db:
        alice = db.scalar(select(User).where(User.username == "alice"))
        assert alice is not None and alice.totp_secret_path is not None
        # An admin removes it (a lost phone): the next login needs no code.
        services.accounts.create_user(db, "test", "root2", "admin", password="Root2-Pass-1234")
        services.accounts.second_factor.reset(db, Principal(0, "root2", "admin", None), alice.id)
    again = app.test_client()
    page_html = again.get("/login").get_data(as_text=True)
    assert again.post("/login", data={"username": "alice", "password": "Alice-Pass-123!",
                                      "csrf_token": csrf_from(page_html)}).status_code == 302


def test_a_role_can_require_a_second_factor(tmp_path: Any, sqlite_url: str, smtp: Any,
                                            clock: FrozenClock) -> None:
    with installation(tmp_path, sqlite_url, smtp.port, clock,
                      security={"require_totp_roles": ["admin"]}) as (services, app):
        with transaction(services.db) as db:
            services.accounts.create_user(db, "test", "alice", "admin", password="Alice-Pass-123!")
            services.accounts.create_user(db, "test", "tom", "technician",
                                          password="Toms-Pass-12345")
        browser = app.test_client()
        page = browser.get("/login").get_data(as_text=True)
        resp = browser.post("/login", data={"username": "alice", "password": "Alice-Pass-123!",
                                            "csrf_token": csrf_from(page)})
        assert resp.headers["Location"] == "/account/totp"
        assert browser.get("/admin/").headers["Location"] == "/account/totp"
        assert browser.get("/api/v1/me").status_code == 403
        html = browser.get("/account/totp").get_data(as_text=True)
        secret = html.split('id="totp-secret">')[1].split("<")[0]
        browser.post("/account/totp", data={"code": pyotp.TOTP(secret).at(clock()),
                                            "password": "Alice-Pass-123!",
                                            "csrf_token": csrf_from(html)})
        assert browser.get("/admin/").status_code == 200
        assert _page_login(app, "tom", "Toms-Pass-12345").get("/tech/devices").status_code == 200


def test_anonymous_visitors_store_no_session(app: Flask, services: Services,
                                             clock: FrozenClock) -> None:
    with transaction(services.db) as db:
        services.accounts.create_user(db, "test", "alice", "admin", password="Alice-Pass-123!")
    for _ in range(20):
        app.test_client().get("/login")
    with services.db() as db:
        assert db.scalar(select(func.count()).select_from(WebSession)) == 0
    _page_login(app, "alice", "Alice-Pass-123!")
    with services.db() as db:
        assert db.scalar(select(func.count()).select_from(WebSession)) == 1
    clock.advance(hours=services.settings.security.session_hours + 1)
    from custody.jobs.accounts import sweep_web_sessions

    sweep_web_sessions(services)
    with services.db() as db:
        assert db.scalar(select(func.count()).select_from(WebSession)) == 0


def test_a_forged_anonymous_cookie_is_ignored(app: Flask, services: Services) -> None:
    """Unsigned, or even signed with the right key: the cookie that carries a visitor's
    data before login never signs anyone in (only a stored session does)."""
    from itsdangerous import URLSafeTimedSerializer

    with transaction(services.db) as db:
        services.accounts.create_user(db, "test", "alice", "admin", password="Alice-Pass-123!")
    signed = URLSafeTimedSerializer(services.signing_key, salt="custody-anonymous-session")
    for forged in ('a.{"uid": 1}', "a." + signed.dumps({"uid": 1})):
        c = app.test_client()
        c.set_cookie("custody_session", forged)
        assert c.get("/admin/").headers["Location"].startswith("/login")
        assert c.get("/api/v1/me").status_code == 401


def test_metrics_are_for_loopback_or_the_token(app: Flask) -> None:
    assert app.test_client().get("/metrics").status_code == 200
    outside = app.test_client()
    outside.environ_base["REMOTE_ADDR"] = "198.51.100.7"
    assert outside.get("/metrics").status_code == 403
    proxied = app.test_client().get("/metrics", headers={"X-Forwarded-For": "198.51.100.7"})
    assert proxied.status_code == 403


def test_verification_tokens_stay_out_of_the_access_log(
        client: FlaskClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("INFO", logger="custody.access"):
        client.get("/contacts/verify/SECRET-TOKEN-123")
        client.get("/unsubscribe/SECRET-TOKEN-456")
        client.put("/contacts/verify/SECRET-TOKEN-789")  # no route matches: 405
    paths = [r.fields["path"] for r in caplog.records if hasattr(r, "fields")]
    assert "/contacts/verify/[token]" in paths and "/unsubscribe/[token]" in paths
    assert "SECRET-TOKEN" not in caplog.text


def test_the_cli_offboards(services: Services, world: World, settings: Any) -> None:
    runner = CliRunner()
    env = {"CUSTODY_CONFIG": str(settings.base_dir / "custody.toml")}

    def cli(*args: str) -> Any:
        result = runner.invoke(main, list(args), env=env, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return json.loads(result.output) if "--json" in args else result.output

    users = {u["username"]: u for u in cli("user", "list", "--json")}
    assert users["tech"]["state"] == "active"
    disabled = cli("user", "disable", "tech", "--json")
    assert disabled["user"]["state"] == "disabled" and disabled["ended"]["tokens_revoked"] == 1
    assert cli("user", "enable", "tech", "--json")["user"]["state"] == "active"
    assert cli("user", "set-role", "tech", "admin", "--json")["user"]["role"] == "admin"
    tokens = cli("token", "list", "--user", "root", "--json")
    assert [t["user"] for t in tokens] == ["root"] and "token" not in tokens[0]
    assert cli("token", "revoke", str(tokens[0]["id"]), "--json")["revoked_at"]
    assert cli("user", "delete", "user-a", "--yes", "--json")["user"]["state"] == "deleted"
    missing = runner.invoke(main, ["user", "disable", "nobody"], env=env)
    assert missing.exit_code == 1 and "no user named 'nobody'" in missing.output
    cli("user", "disable", "tech", "--json")
    no_token = runner.invoke(main, ["token", "create", "tech"], env=env)
    assert no_token.exit_code == 1 and "disabled" in no_token.output


def test_staff_email_is_confirmed_then_gets_notices(
        app: Flask, client: FlaskClient, world: World, services: Services,
        mailbox: Any) -> None:
    """Settled: staff e-mail goes through the same double opt-in as contacts; then the
    approval requests and security notices for that person go there."""
    h = auth(world.admin_token)
    assert client.put("/api/v1/me/email", headers=auth(world.user_a_token),
                      json={"email": "x@example.test"}).status_code == 403
    bad = client.put("/api/v1/me/email", headers=h, json={"email": "not an address"})
    assert bad.status_code == 400 and bad.json["error"]["fields"][0]["field"] == "email"
    resp = client.put("/api/v1/me/email", headers=h, json={"email": "Root@Provider.test"})
    assert resp.status_code == 202 and resp.json == {"email": "root@provider.test",
                                                     "verification_sent": True}
    [mail] = [m for m in mailbox.wait_for(1) if m["To"] == "root@provider.test"]
    link = next(line for line in mail.get_payload(decode=True).decode().splitlines()
                if "/account/email/verify/" in line).strip()
    path = link.removeprefix("http://localhost")
    browser = app.test_client()
    page = browser.get(path)  # a scanner opening the link confirms nothing
    with services.db() as db:
        assert db.scalar(select(User.email_verified_at).where(User.username == "root")) is None
    done = browser.post(path, data={"csrf_token": csrf_from(page.get_data(as_text=True))})
    assert done.status_code == 200 and "Thank you" in done.get_data(as_text=True)
    # Approval requests reach the confirmed address of whoever may approve.
    _pin_a_host_key(services, world.device_a)
    client.put(f"/api/v1/clients/{world.client_a}/policy", headers=h,
               json={"require_approval": True, "approver_role": "admin"})
    asked = client.post(f"/api/v1/devices/{world.device_a}/sessions",
                        headers=auth(world.tech_token), json={"reason": "INC-7 uplink"})
    assert asked.status_code == 202
    [approval] = [m for m in mailbox.wait_for(2) if m["To"] == "root@provider.test"
                  and "Approval needed" in m["Subject"]]
    assert "INC-7 uplink" in approval.get_payload(decode=True).decode()
    # A tampered link confirms nothing.
    page = browser.get(path[:-4] + "AAAA")
    bad_link = browser.post(path[:-4] + "AAAA",
                            data={"csrf_token": csrf_from(page.get_data(as_text=True))})
    assert bad_link.status_code == 400
