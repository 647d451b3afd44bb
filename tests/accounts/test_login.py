"""Accounts: argon2id hashes, login with backoff and TOTP, tokens, 401/403, CSRF."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyotp
import pytest
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from custody.accounts.models import ApiToken, User
from custody.accounts.service import Principal
from custody.audit.models import AuditEvent
from custody.config import Settings
from custody.db import transaction
from custody.errors import Conflict, InvalidInput
from custody.services import Services
from tests.conftest import FrozenClock, World, auth, csrf_from, installation, write_settings
from tests.peers import SmtpSink

Login = Callable[..., Any]


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """Sign-in's reads and writes are the same on either database; the rate-limit
    counters, whose statements differ, are tested on both in tests/test_ratelimit.py."""
    return sqlite_url


@pytest.fixture
def settings(tmp_path: Path, database_url: str, smtp: SmtpSink) -> Settings:
    return write_settings(tmp_path, database_url, smtp.port,
                          security={"notify_email": "soc@provider.test"})


@pytest.fixture
def alice(services: Services) -> User:
    with transaction(services.db) as db:
        user, _ = services.accounts.create_user(db, "test", "alice", "admin",
                                                password="Alice-Pass-123!")
    return user


def test_password_is_stored_as_argon2id(services: Services, alice: User) -> None:
    with services.db() as db:
        stored = db.scalar(select(User.password_hash).where(User.username == "alice"))
    assert stored is not None and stored.startswith("$argon2id$")
    assert "Alice-Pass-123!" not in stored


def test_login_and_logout(client: FlaskClient, login: Login, alice: User) -> None:
    resp = login("alice", "Alice-Pass-123!")
    assert resp.status_code == 302 and resp.headers["Location"] == "/admin/"
    cookie = resp.headers["Set-Cookie"]
    assert "custody_session=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert client.get("/admin/").status_code == 200
    page = client.get("/admin/clients").get_data(as_text=True)
    out = client.post("/logout", data={"csrf_token": csrf_from(page)})
    assert out.status_code == 302
    assert client.get("/admin/").status_code == 302  # back to the login form


def test_session_id_changes_at_login(client: FlaskClient, login: Login, alice: User) -> None:
    client.get("/login")
    before = client.get_cookie("custody_session")
    assert before is not None
    login("alice", "Alice-Pass-123!")
    after = client.get_cookie("custody_session")
    assert after is not None and after.value != before.value


def test_failures_slow_the_address_down_never_the_owner(
        app: Flask, alice: User, services: Services, clock: FrozenClock,
        mailbox: SmtpSink) -> None:
    """Five bad passwords from one address: that address waits, with the right password
    too; the owner on another address still gets in (after the short pause an account
    under attack imposes), and the notice goes out once."""
    pauses: list[float] = []
    services.accounts.pause = pauses.append
    attacker, owner = _client(app, "198.51.100.7"), _client(app, "203.0.113.9")
    for _ in range(5):
        resp = _login(attacker, "alice", "wrong-password-xx")
        assert resp.status_code == 401
        assert "invalid username, password or code" in resp.get_data(as_text=True)
    slowed = _login(attacker, "alice", "Alice-Pass-123!")
    assert slowed.status_code == 429 and "try again in" in slowed.get_data(as_text=True)
    assert _login(owner, "alice", "Alice-Pass-123!").status_code == 302
    assert pauses == [services.settings.security.attack_delay_seconds]
    [notice] = [m for m in mailbox.wait_for(1) if "failed logins" in m["Subject"]]
    assert notice["To"] == "soc@provider.test" and "alice" in notice["Subject"]
    clock.advance(seconds=2)  # the attacker's first wait is over: it may try once more
    assert _login(attacker, "alice", "wrong-password-xx").status_code == 401
    assert _login(attacker, "alice", "Alice-Pass-123!").status_code == 429  # now 2 s
    with services.db() as db:
        actions = list(db.scalars(select(AuditEvent.action).where(
            AuditEvent.target == f"user:{alice.id}")))
    assert actions.count("login.under_attack") == 1 and actions.count("login.failed") == 6


def test_the_right_password_is_never_locked_out(app: Flask, alice: User,
                                                services: Services) -> None:
    """An attacker rotating addresses cannot keep the owner out (the old hard lock could)."""
    services.accounts.pause = lambda _seconds: None
    for n in range(30):
        _login(_client(app, f"198.51.100.{n + 1}"), "alice", "wrong-password-xx")
    assert _login(_client(app, "203.0.113.9"), "alice", "Alice-Pass-123!").status_code == 302


def test_unknown_and_known_users_cost_the_same_and_read_the_same(
        app: Flask, alice: User, services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    """Structurally comparable timing: an unknown user costs one verification through
    the same hasher, as a known one does; the answers and the backoff are the same."""
    calls: list[str] = []
    real = PasswordHasher.verify

    def counting(self: PasswordHasher, hash: str, password: str) -> bool:
        calls.append(hash)
        return real(self, hash, password)

    pauses: list[str] = []
    services.accounts.pause = lambda _seconds: pauses.append("pause")
    with transaction(services.db) as db:  # a single sign-on user: no password hash at all
        sam, _ = services.accounts.create_user(db, "test", "sam", "technician",
                                               password="Sams-Pass-12345")
        db.get(User, sam.id).password_hash = "!"  # type: ignore[union-attr]
    monkeypatch.setattr(PasswordHasher, "verify", counting)
    answers = []
    for n, name in enumerate(("alice", "nobody", "sam")):
        c = _client(app, f"198.51.100.{n + 7}")
        for _ in range(6):
            resp = _login(c, name, "wrong-password-xx")
            answers.append((name, resp.status_code, _message(resp)))
        # Once failing from anywhere, the next try of any name waits alike (from a
        # fresh address, so the address's own backoff does not answer first).
        _login(_client(app, f"203.0.113.{n + 7}"), name, "wrong-password-xx")
    real_work = [h for h in calls if h.startswith("$argon2")]
    assert len(real_work) == 18  # six each: the address's sixth try is turned away
    assert pauses == ["pause"] * 3
    first = [a[1:] for a in answers if a[0] == "alice"]
    assert first == [a[1:] for a in answers if a[0] == "nobody"] == \
        [a[1:] for a in answers if a[0] == "sam"]


def test_disabled_user_reads_like_a_wrong_password(client: FlaskClient, login: Login,
                                                   alice: User, services: Services) -> None:
    with transaction(services.db) as db:
        services.accounts.create_user(db, "test", "carol", "admin", password="Carol-Pass-123!")
        services.accounts.disable_user(db, Principal.operator("test"), alice.id)
    resp = login("alice", "Alice-Pass-123!")
    assert resp.status_code == 401 and "invalid username, password or code" in _message(resp)


def test_unknown_user_gets_the_same_answer(login: Login, alice: User) -> None:
    resp = login("nobody", "whatever-password")
    assert resp.status_code == 401
    assert "invalid username, password or code" in resp.get_data(as_text=True)


def test_login_is_rate_limited(login: Login, alice: User) -> None:
    statuses = [login(f"nobody{i}", f"guess-{i}-xxxxxxx").status_code for i in range(12)]
    assert statuses[:10] == [401] * 10
    assert statuses[10:] == [429, 429]


def test_a_made_up_header_picks_no_rate_limit_bucket(client: FlaskClient, alice: User) -> None:
    """A bearer header, or an X-Forwarded-For with no trusted proxy configured, changes
    nothing: the eleventh attempt from this address is still refused."""
    statuses = []
    for i in range(12):
        token = csrf_from(client.get("/login").get_data(as_text=True))
        statuses.append(client.post("/login", headers={
            "Authorization": f"Bearer x{i}", "X-Forwarded-For": f"192.0.2.{i}"},
            data={"username": f"nobody{i}", "password": "guess-xxxxxxxx",
                  "csrf_token": token}).status_code)
    assert statuses[10:] == [429, 429]


def _client(app: Flask, address: str) -> FlaskClient:
    c = app.test_client()
    c.environ_base["REMOTE_ADDR"] = address
    return c


def _login(c: FlaskClient, username: str, password: str, code: str = "") -> Any:
    token = csrf_from(c.get("/login").get_data(as_text=True))
    return c.post("/login", data={"username": username, "password": password, "code": code,
                                  "csrf_token": token})


def _message(resp: Any) -> str:
    found = re.search(r'class="error"[^>]*>([^<]*)<', resp.get_data(as_text=True))
    return found.group(1) if found else ""


def test_generated_password_must_be_changed(client: FlaskClient, login: Login,
                                            services: Services) -> None:
    with transaction(services.db) as db:
        _, generated = services.accounts.create_user(db, "test", "bob", "technician")
    assert generated is not None
    resp = login("bob", generated)
    assert resp.headers["Location"] == "/account/password"
    assert client.get("/admin/").headers["Location"] == "/account/password"
    page = client.get("/account/password").get_data(as_text=True)
    resp = client.post("/account/password", data={
        "current": generated, "new": "Bobs-Own-Pass-1", "csrf_token": csrf_from(page)})
    assert resp.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_totp_is_required_once_enabled(client: FlaskClient, login: Login, alice: User,
                                       services: Services, clock: FrozenClock) -> None:
    with transaction(services.db) as db:
        user = db.get(User, alice.id)
        assert user is not None
        uri = services.accounts.second_factor.start(user)
        totp = pyotp.TOTP(pyotp.parse_uri(uri).secret)
        with pytest.raises(InvalidInput, match="does not match"):
            services.accounts.second_factor.confirm(db, user, "000000", "Alice-Pass-123!")
        # A stolen cookie or token cannot swap the second factor: the password is asked.
        with pytest.raises(InvalidInput, match="current password"):
            services.accounts.second_factor.confirm(db, user, totp.at(clock()), "wrong-password-xx")
        services.accounts.second_factor.confirm(db, user, totp.at(clock()), "Alice-Pass-123!")
    assert login("alice", "Alice-Pass-123!").status_code == 401
    assert login("alice", "Alice-Pass-123!", "123456").status_code == 401
    assert login("alice", "Alice-Pass-123!", totp.at(clock())).status_code == 302
    # A code is good once, even within its 30 seconds: someone who saw it cannot reuse it.
    assert login("alice", "Alice-Pass-123!", totp.at(clock())).status_code == 401
    clock.advance(seconds=30)
    assert login("alice", "Alice-Pass-123!", totp.at(clock())).status_code == 302
    assert services.secrets.list_paths("provider") == [f"provider/users/{alice.id}/totp"]


def test_form_without_csrf_token_is_refused(client: FlaskClient, alice: User) -> None:
    client.get("/login")
    resp = client.post("/login", data={"username": "alice", "password": "Alice-Pass-123!"})
    assert resp.status_code == 400
    assert "CSRF" in resp.get_data(as_text=True)


def test_cookie_session_api_writes_need_csrf(client: FlaskClient, login: Login,
                                             alice: User) -> None:
    login("alice", "Alice-Pass-123!")
    resp = client.post("/api/v1/clients", json={"name": "Via cookie"})
    assert resp.status_code == 400 and "CSRF" in resp.json["error"]["message"]


def test_api_errors_are_json(client: FlaskClient, world: World) -> None:
    anon = client.get("/api/v1/clients")
    assert anon.status_code == 401
    assert anon.json["error"]["code"] == "unauthorized"
    assert anon.headers["WWW-Authenticate"].startswith("Bearer")
    # No token and no session cookie: nothing to forge, so the answer is 401, not a CSRF 400.
    anon_write = client.post("/api/v1/clients", json={"name": "X"})
    assert anon_write.status_code == 401 and anon_write.json["error"]["code"] == "unauthorized"
    bad = client.get("/api/v1/clients", headers=auth("cst_not-a-real-token-at-all-xxxxx"))
    assert bad.status_code == 401
    forbidden = client.post("/api/v1/clients", json={"name": "X"}, headers=auth(world.tech_token))
    assert forbidden.status_code == 403
    assert forbidden.json == {"error": {"code": "forbidden",
                                        "message": "this needs the admin role"}}
    client_user = client.post("/api/v1/devices", json={}, headers=auth(world.user_a_token))
    assert client_user.status_code == 403


def test_tokens_are_stored_hashed(services: Services, world: World) -> None:
    with services.db() as db:
        hashes = db.scalars(select(ApiToken.token_hash)).all()
    assert hashes and world.admin_token not in hashes
    assert all(len(h) == 64 for h in hashes)


def test_user_rules(services: Services, world: World) -> None:
    with transaction(services.db) as db:
        with pytest.raises(Conflict, match="taken"):
            services.accounts.create_user(db, "t", "tech", "technician", password="X-123456789012")
        with pytest.raises(InvalidInput, match="needs --client"):
            services.accounts.create_user(db, "t", "carol", "client", password="X-123456789012")
        with pytest.raises(InvalidInput, match="belongs to the provider"):
            services.accounts.create_user(db, "t", "dave", "admin", world.client_a,
                                          password="X-123456789012")
        with pytest.raises(InvalidInput, match="at least 12"):
            services.accounts.create_user(db, "t", "erin", "admin", password="short")


def test_totp_enrolment_through_the_api(client: FlaskClient, world: World, login: Login,
                                        services: Services, clock: FrozenClock) -> None:
    h = auth(world.user_a_token)
    pw = "Client-a-Pass-123!"
    early = client.post("/api/v1/me/totp/confirm", headers=h,
                        json={"code": "123456", "password": pw})
    assert early.status_code == 400 and "start TOTP enrolment first" in early.json["error"]["message"]
    started = client.post("/api/v1/me/totp", headers=h)
    assert started.status_code == 201
    seed = pyotp.parse_uri(started.json["provisioning_uri"]).secret
    bad = client.post("/api/v1/me/totp/confirm", headers=h, json={"code": "12345", "password": pw})
    assert bad.status_code == 400 and "code:" in bad.json["error"]["message"]
    ok = client.post("/api/v1/me/totp/confirm", headers=h,
                     json={"code": pyotp.TOTP(seed).at(clock()), "password": pw})
    assert ok.status_code == 200 and ok.json["enabled"] is True
    codes = ok.json["recovery_codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    # The seed is a secret of client A's tenant: it is shredded with the client.
    assert services.secrets.list_paths(f"client-{world.client_a}") == [
        f"client-{world.client_a}/devices/{world.device_a}",
        f"client-{world.client_a}/users/{_user_id(services, 'user-a')}/totp"]
    assert login("user-a", "Client-a-Pass-123!").status_code == 401
    assert login("user-a", "Client-a-Pass-123!", pyotp.TOTP(seed).at(clock())).status_code == 302
    # A recovery code stands in for a code once; only hashes of them are kept.
    with services.db() as db:
        stored = db.scalar(select(User.recovery_codes).where(User.username == "user-a"))
    assert stored is not None and not set(codes) & set(stored)
    assert login("user-a", "Client-a-Pass-123!", codes[3]).status_code == 302
    assert login("user-a", "Client-a-Pass-123!", codes[3]).status_code == 401
    assert login("user-a", "Client-a-Pass-123!", codes[4].upper()).status_code == 302


def _user_id(services: Services, username: str) -> int:
    with services.db() as db:
        uid = db.scalar(select(User.id).where(User.username == username))
    assert uid is not None
    return uid


def test_the_default_hasher_uses_the_recommended_cost() -> None:
    """Production hashes with argon2's recommended parameters; only tests inject cheap ones."""
    from custody.accounts.passwords import Passwords

    default, cheap = Passwords().hash("a-long-password-1"), Passwords.cheap().hash("a-long-password-1")
    assert default.startswith("$argon2id$") and "m=65536" in default
    assert cheap.startswith("$argon2id$") and "m=1024" in cheap
    assert Passwords().needs_rehash(cheap) and not Passwords().needs_rehash(default)
    assert Passwords().verify(cheap, "a-long-password-1")


def test_api_limits_count_the_person_not_each_token(tmp_path: Path, sqlite_url: str,
                                                    smtp: SmtpSink, clock: FrozenClock) -> None:
    """Minting more tokens buys no more calls; an invalid token counts against its
    sender's address, whatever it says."""
    with installation(tmp_path, sqlite_url, smtp.port, clock,
                      security={"api_rate_limit": "5 per minute"}) as (services, app):
        with transaction(services.db) as db:
            services.accounts.create_user(db, "test", "tom", "technician",
                                          password="Toms-Pass-12345")
            tokens = [services.tokens.create(db, "test", "tom", f"t{i}") for i in range(3)]
        c = app.test_client()
        statuses = [c.get("/api/v1/clients", headers=auth(tokens[i % 3])).status_code
                    for i in range(7)]
        assert statuses == [200] * 5 + [429] * 2
        made_up = [c.get("/api/v1/clients", headers=auth(f"cst_made-up-{i}")).status_code
                   for i in range(7)]
        assert made_up == [401] * 5 + [429] * 2
