"""Staff single sign-on against a real OpenID provider (panva's oidc-provider on loopback):
the code flow with PKCE, roles from groups, just-in-time users, a second factor for
admins, and the answers an attacker would try (a tampered or foreign ID token, a
replayed state). The browser test signs in through the provider in Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from custody.accounts.models import User
from custody.accounts.service import Principal
from custody.audit.models import AuditEvent
from custody.config import Settings
from custody.db import transaction
from custody.services import Services
from tests.conftest import csrf_from, installation, write_settings
from tests.peers import OidcProvider, SmtpSink


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """SQLite only: nothing here differs by database, and the suite has a time budget
    (the accounts' locks and races run on both in test_login.py and test_audit.py)."""
    return sqlite_url


def sso_section(oidc: OidcProvider, **overrides: Any) -> dict[str, Any]:
    return {"enabled": True, "issuer": oidc.issuer, "client_id": oidc.CLIENT_ID,
            "client_secret": oidc.CLIENT_SECRET, "scopes": "openid email profile groups",
            "roles": {"custody-admins": "admin", "custody-techs": "technician"},
            "admin_amr": ["otp", "mfa", "hwk"], "break_glass": ["root"]} | overrides


@pytest.fixture
def settings(tmp_path: Path, database_url: str, smtp: SmtpSink, oidc: OidcProvider) -> Settings:
    return write_settings(tmp_path, database_url, smtp.port, sso=sso_section(oidc),
                          security={"notify_email": "soc@provider.test"})


@pytest.fixture
def sso(oidc: OidcProvider) -> Iterator[OidcProvider]:
    oidc.mode("normal")
    yield oidc
    oidc.mode("normal")


def sign_in(client: FlaskClient, oidc: OidcProvider, login: str, password: str
            ) -> tuple[Any, str]:
    """Start at custody, sign in at the provider, come back; return custody's answer and
    the callback URL it was given."""
    start = client.get("/login/sso")
    assert start.status_code == 302, start.get_data(as_text=True)
    authorize = start.headers["Location"]
    query = parse_qs(urlsplit(authorize).query)
    assert query["code_challenge_method"] == ["S256"] and query["nonce"] and query["state"]
    callback = oidc.sign_in(authorize, login, password)
    parts = urlsplit(callback)
    return client.get(f"{parts.path}?{parts.query}"), callback


def actions(services: Services) -> list[tuple[str, str, dict[str, Any]]]:
    with services.db() as db:
        return [(e.action, e.target, e.details) for e in db.scalars(select(AuditEvent))]


def test_staff_sign_in_with_roles_from_groups(client: FlaskClient, sso: OidcProvider,
                                              services: Services) -> None:
    resp, _ = sign_in(client, sso, "alice", "alice-sso-pass")
    assert resp.status_code == 302 and resp.headers["Location"] == "/admin/"
    assert client.get("/api/v1/me").json["role"] == "admin"
    tech = client.application.test_client()
    resp, _ = sign_in(tech, sso, "tom", "tom-sso-pass")
    assert resp.headers["Location"] == "/admin/"
    assert tech.get("/api/v1/me").json == {"id": 2, "username": "tom", "role": "technician",
                                           "client_id": None}
    with services.db() as db:
        alice = db.scalar(select(User).where(User.username == "alice"))
    assert alice is not None and alice.sso_subject == f"{sso.issuer}|alice"
    assert alice.email == "alice@provider.test" and alice.email_verified_at is not None
    assert alice.password_hash == "!"  # no password: only the provider signs her in
    assert ("login", f"user:{alice.id}", {"method": "sso", "amr": ["pwd", "otp"]}) in \
        actions(services)


def test_refusals_name_the_reason(client: FlaskClient, sso: OidcProvider,
                                  services: Services) -> None:
    no_mfa, _ = sign_in(client, sso, "mallory", "mallory-sso-pass")
    assert no_mfa.status_code == 401 and "second factor" in no_mfa.get_data(as_text=True)
    no_role, _ = sign_in(client, sso, "nora", "nora-sso-pass")
    assert no_role.status_code == 401 and "no group" in no_role.get_data(as_text=True)
    assert client.get("/api/v1/me").status_code == 401
    with services.db() as db:
        assert db.scalars(select(User)).all() == []  # nobody was created
    refused = [(a, d["why"]) for a, _, d in actions(services) if a == "login.sso_refused"]
    assert refused == [("login.sso_refused", "no_second_factor"),
                       ("login.sso_refused", "no_role")]


def test_a_tampered_id_token_is_refused(client: FlaskClient, sso: OidcProvider,
                                        caplog: pytest.LogCaptureFixture) -> None:
    """The provider's token response is altered after signing (groups and subject of
    someone else): the signature no longer matches the provider's published key."""
    sso.mode("tamper")
    resp, _ = sign_in(client, sso, "tom", "tom-sso-pass")
    assert resp.status_code == 401 and "single sign-on failed" in resp.get_data(as_text=True)
    assert client.get("/api/v1/me").status_code == 401
    assert "BadSignatureError" in caplog.text


@pytest.mark.parametrize(("mode", "why"), [
    ("audience", "'azp'"),  # aud names another client, and no azp names this one
    ("expired", "ExpiredTokenError"),
    ("nonce", "Invalid claim: 'nonce'")])
def test_a_signed_but_wrong_id_token_is_refused(client: FlaskClient, sso: OidcProvider,
                                                mode: str, why: str,
                                                caplog: pytest.LogCaptureFixture) -> None:
    """Validly signed with the provider's key, but issued to another application (aud),
    expired, or minted for another sign-in attempt (nonce)."""
    sso.mode(mode)
    resp, _ = sign_in(client, sso, "alice", "alice-sso-pass")
    assert resp.status_code == 401 and "single sign-on failed" in resp.get_data(as_text=True)
    assert client.get("/api/v1/me").status_code == 401
    assert why in caplog.text


def test_a_replayed_callback_is_refused(app: Flask, client: FlaskClient,
                                        sso: OidcProvider) -> None:
    resp, callback = sign_in(client, sso, "alice", "alice-sso-pass")
    assert resp.status_code == 302
    parts = urlsplit(callback)
    again = client.get(f"{parts.path}?{parts.query}")  # the same browser: state is used up
    assert again.status_code == 401
    stranger = app.test_client()  # a stolen callback URL in another browser
    assert stranger.get(f"{parts.path}?{parts.query}").status_code == 401
    assert stranger.get("/api/v1/me").status_code == 401


def test_disabling_in_custody_wins(client: FlaskClient, sso: OidcProvider,
                                   services: Services) -> None:
    sign_in(client, sso, "tom", "tom-sso-pass")
    with transaction(services.db) as db:
        tom = db.scalar(select(User).where(User.username == "tom"))
        assert tom is not None
        services.accounts.disable_user(db, Principal.operator("test"), tom.id)
    assert client.get("/api/v1/me").status_code == 401
    resp, _ = sign_in(client.application.test_client(), sso, "tom", "tom-sso-pass")
    assert resp.status_code == 401 and "disabled" in resp.get_data(as_text=True)
    # Deleted, the person is not made anew by their next sign-in at the provider.
    with transaction(services.db) as db:
        services.accounts.delete_user(db, Principal.operator("test"), tom.id)
    resp, _ = sign_in(client.application.test_client(), sso, "tom", "tom-sso-pass")
    assert resp.status_code == 401 and "deleted" in resp.get_data(as_text=True)
    with services.db() as db:
        assert db.scalar(select(User.username).where(User.id == tom.id)) == f"deleted#{tom.id}"
        assert db.scalar(select(User.id).where(User.username == "tom")) is None


def test_local_passwords_off_but_break_glass(tmp_path: Path, sqlite_url: str, smtp: SmtpSink,
                                             oidc: OidcProvider, mailbox: SmtpSink) -> None:
    with installation(tmp_path, sqlite_url, smtp.port,
                      sso=sso_section(oidc, local_passwords=False),
                      security={"notify_email": "soc@provider.test"}) as (services, app):
        with transaction(services.db) as db:
            services.accounts.create_user(db, "test", "root", "admin", password="Root-Pass-12345")
            services.accounts.create_user(db, "test", "tina", "technician",
                                          password="Tina-Pass-12345")
            client_id = services.clients.create_client(db, "test", "Acme").id
            services.accounts.create_user(db, "test", "carla", "client", client_id,
                                          password="Carla-Pass-12345")

        def login(username: str, password: str) -> Any:
            c = app.test_client()
            page = c.get("/login").get_data(as_text=True)
            assert "Sign in with your company account" in page
            return c.post("/login", data={"username": username, "password": password,
                                          "csrf_token": csrf_from(page)})

        tina = login("tina", "Tina-Pass-12345")
        assert tina.status_code == 401 and "single sign-on" in tina.get_data(as_text=True)
        assert login("carla", "Carla-Pass-12345").status_code == 302  # client users keep theirs
        assert login("root", "Root-Pass-12345").status_code == 302  # the break-glass admin
        [notice] = [m for m in mailbox.wait_for(1) if "break-glass" in m["Subject"]]
        assert notice["To"] == "soc@provider.test"
        with services.db() as db:
            assert "login.break_glass" in set(db.scalars(select(AuditEvent.action)))


def test_sso_settings_are_checked(oidc: OidcProvider) -> None:
    from custody.config import load_settings
    from custody.errors import ConfigError

    with pytest.raises(ConfigError, match="sso.client_secret"):
        load_settings(None, environ={"CUSTODY_SSO__ENABLED": "true",
                                     "CUSTODY_SSO__ISSUER": oidc.issuer,
                                     "CUSTODY_SSO__CLIENT_ID": "x",
                                     "CUSTODY_SSO__ROLES": '{"g": "admin"}'})
    with pytest.raises(ConfigError, match="sso.roles"):
        load_settings(None, environ={"CUSTODY_SSO__ENABLED": "true",
                                     "CUSTODY_SSO__ISSUER": oidc.issuer,
                                     "CUSTODY_SSO__CLIENT_ID": "x",
                                     "CUSTODY_SSO__CLIENT_SECRET": "s"})
