"""Accounts: argon2id hashes, login with lockout and TOTP, tokens, 401/403, CSRF."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyotp
import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from custody.accounts.models import ApiToken, User
from custody.db import transaction
from custody.errors import Conflict, InvalidInput
from custody.services import Services
from tests.conftest import FrozenClock, World, auth, csrf_from

Login = Callable[..., Any]


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


def test_wrong_password_then_lockout(client: FlaskClient, login: Login, alice: User,
                                     clock: FrozenClock) -> None:
    for _ in range(4):
        resp = login("alice", "wrong-password-xx")
        assert resp.status_code == 401
        assert "invalid username, password or code" in resp.get_data(as_text=True)
    resp = login("alice", "wrong-password-xx")  # the fifth failure locks
    assert resp.status_code == 401
    locked = login("alice", "Alice-Pass-123!")
    assert locked.status_code == 401 and "locked" in locked.get_data(as_text=True)
    clock.advance(minutes=16)
    assert login("alice", "Alice-Pass-123!").status_code == 302


def test_unknown_user_gets_the_same_answer(login: Login, alice: User) -> None:
    resp = login("nobody", "whatever-password")
    assert resp.status_code == 401
    assert "invalid username, password or code" in resp.get_data(as_text=True)


def test_login_is_rate_limited(login: Login, alice: User) -> None:
    statuses = [login("nobody", f"guess-{i}-xxxxxxx").status_code for i in range(12)]
    assert statuses[:10] == [401] * 10
    assert statuses[10:] == [429, 429]


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
                                       services: Services) -> None:
    with transaction(services.db) as db:
        user = db.get(User, alice.id)
        assert user is not None
        uri = services.accounts.start_totp(user)
        seed = pyotp.parse_uri(uri).secret
        with pytest.raises(InvalidInput, match="does not match"):
            services.accounts.confirm_totp(db, user, "000000")
        services.accounts.confirm_totp(db, user, pyotp.TOTP(seed).now())
    assert login("alice", "Alice-Pass-123!").status_code == 401
    assert login("alice", "Alice-Pass-123!", "123456").status_code == 401
    assert login("alice", "Alice-Pass-123!", pyotp.TOTP(seed).now()).status_code == 302
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
                                        services: Services) -> None:
    h = auth(world.user_a_token)
    early = client.post("/api/v1/me/totp/confirm", headers=h, json={"code": "123456"})
    assert early.status_code == 400 and "start TOTP enrolment first" in early.json["error"]["message"]
    started = client.post("/api/v1/me/totp", headers=h)
    assert started.status_code == 201
    seed = pyotp.parse_uri(started.json["provisioning_uri"]).secret
    bad = client.post("/api/v1/me/totp/confirm", headers=h, json={"code": "12345"})
    assert bad.status_code == 400 and "code:" in bad.json["error"]["message"]
    ok = client.post("/api/v1/me/totp/confirm", headers=h, json={"code": pyotp.TOTP(seed).now()})
    assert ok.status_code == 200 and ok.json == {"enabled": True}
    # The seed is a secret of client A's tenant: it is shredded with the client.
    assert services.secrets.list_paths(f"client-{world.client_a}") == [
        f"client-{world.client_a}/devices/{world.device_a}",
        f"client-{world.client_a}/users/{_user_id(services, 'user-a')}/totp"]
    assert login("user-a", "Client-a-Pass-123!").status_code == 401
    assert login("user-a", "Client-a-Pass-123!", pyotp.TOTP(seed).now()).status_code == 302


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
