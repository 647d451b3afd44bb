"""Shared fixtures: settings in a temp dir, SQLite and a real PostgreSQL, SMTP, the app."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from custody.accounts.passwords import Passwords
from custody.config import Settings, load_settings
from custody.db import transaction
from custody.secrets.local import generate_kek_file
from custody.services import Services, build_services
from custody.web import create_app
from tests.lab import auth, fresh_sshd, ios, lab, sshd
from tests.peers import OidcProvider, OpenBao, PostgresCluster, SmtpSink, free_port

__all__ = ["auth", "fresh_sshd", "ios", "lab", "sshd"]  # shared fixtures, defined in tests/lab.py


class FrozenClock:
    """A clock tests move by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def smtp() -> Iterator[SmtpSink]:
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture(scope="session")
def openbao() -> Iterator[OpenBao]:
    """One real OpenBao (dev mode, in memory) for the run; tests keep to prefixes of
    their own."""
    server = OpenBao()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def sso_site_port() -> int:
    """The port the browser's single sign-on test serves custody on (registered with the
    provider as a redirect URI before either starts)."""
    return free_port()


@pytest.fixture(scope="session")
def oidc(sso_site_port: int) -> Iterator[OidcProvider]:
    """One real OpenID provider for the run."""
    provider = OidcProvider("http://localhost/login/sso/callback",
                            f"http://127.0.0.1:{sso_site_port}/login/sso/callback")
    yield provider
    provider.stop()


@pytest.fixture
def mailbox(smtp: SmtpSink) -> SmtpSink:
    smtp.messages.clear()
    return smtp


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database the migrations brought to their newest revision, once for the
    run: each test starts from a copy (its own migrations then find nothing to do)."""
    from custody.db import make_engine, migrate

    path = tmp_path_factory.mktemp("template") / "custody.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        migrate(engine)
    finally:
        engine.dispose()  # the last connection's close folds the WAL into the file
    return path


def _sqlite_copy(template: Path, tmp_path: Path) -> str:
    target = tmp_path / "var" / "custody.db"
    target.parent.mkdir(mode=0o700, exist_ok=True)
    shutil.copyfile(template, target)
    target.chmod(0o600)
    return f"sqlite:///{target}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path, migrated_sqlite: Path) -> str:
    if request.param == "sqlite":
        return _sqlite_copy(migrated_sqlite, tmp_path)
    cluster: PostgresCluster = request.getfixturevalue("postgres")
    return cluster.new_database()


@pytest.fixture
def sqlite_url(tmp_path: Path, migrated_sqlite: Path) -> str:
    return _sqlite_copy(migrated_sqlite, tmp_path)


def write_settings(base: Path, database_url: str, smtp_port: int, **sections: dict[str, Any]
                   ) -> Settings:
    """Write custody.toml into ``base`` with a fresh KEK and load it (ignoring the env)."""
    var = base / "var"
    var.mkdir(parents=True, exist_ok=True)
    if not (var / "kek.key").exists():
        generate_kek_file(var / "kek.key")
    doc: dict[str, dict[str, Any]] = {
        "database": {"url": database_url},
        "mail": {"host": "127.0.0.1", "port": smtp_port, "sender": "noc@provider.test"},
        "server": {"base_url": "http://localhost"},
    }
    for name, values in sections.items():
        doc.setdefault(name, {}).update(values)
    lines = []
    for name, values in doc.items():
        lines.append(f"[{name}]")
        lines += [f"{k} = {_toml(v)}" for k, v in values.items()]
    (base / "custody.toml").write_text("\n".join(lines) + "\n")
    return load_settings(base / "custody.toml", environ={})


@contextmanager
def installation(base: Path, database_url: str, smtp_port: int, clock: Any = None,
                 **sections: dict[str, Any]) -> Iterator[tuple[Services, Flask]]:
    """Services and the app on settings of a test's own (``sections`` over the usual
    ones); their database connections are closed afterwards."""
    settings = write_settings(base, database_url, smtp_port, **sections)
    services = build_services(settings, clock=clock or FrozenClock(),
                              passwords=Passwords.cheap())
    try:
        yield services, create_app(services=services)
    finally:
        services.engine.dispose()


def _toml(value: Any) -> str:
    """A value in TOML: JSON's form serves for strings, numbers, booleans and lists."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + "}"
    return json.dumps(value)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def settings(tmp_path: Path, database_url: str, smtp: SmtpSink) -> Settings:
    return write_settings(tmp_path, database_url, smtp.port)


@pytest.fixture
def services(settings: Settings, clock: FrozenClock) -> Iterator[Services]:
    # argon2id with a thousandth of the work: these tests are not about hashing cost
    # (tests/accounts checks the hashes; the default is what production uses).
    svc = build_services(settings, clock=clock, passwords=Passwords.cheap())
    yield svc
    svc.engine.dispose()


@pytest.fixture
def app(services: Services) -> Flask:
    app = create_app(services=services)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


# Tokens of the test world outlive the clock jumps some tests make (tokens expire).
LONG = 3650


@dataclass
class World:
    """Two tenants with users, tokens and data, for isolation and API tests."""

    admin_token: str
    tech_token: str
    client_a: int
    client_b: int
    user_a_token: str
    user_b_token: str
    engagement_a: int
    engagement_b: int
    device_a: int
    device_b: int
    contact_a: int
    contact_b: int
    canary_b: str


@pytest.fixture
def world(services: Services, client: FlaskClient) -> World:
    with transaction(services.db) as db:
        services.accounts.create_user(db, "test", "root", "admin", password="Admin-Pass-123!")
        services.accounts.create_user(db, "test", "tech", "technician", password="Tech-Pass-123!")
        admin_token = services.tokens.create(db, "test", "root", days=LONG)
        tech_token = services.tokens.create(db, "test", "tech", days=LONG)
    ids: dict[str, Any] = {}
    client.post("/api/v1/egress-profiles", json={"name": "node-a", "source_ip": "127.0.0.2"},
                headers=auth(admin_token))
    for tag in ("a", "b"):
        name = f"Client {tag.upper()}" + (" ZZCANARYB" if tag == "b" else "")
        cid = client.post("/api/v1/clients", json={"name": name}, headers=auth(admin_token)).json["id"]
        eid = client.post(f"/api/v1/clients/{cid}/engagements", headers=auth(admin_token),
                          json={"title": f"job {tag} ZZCANARY{tag.upper()}"}).json["id"]
        did = client.post("/api/v1/devices", headers=auth(admin_token), json={
            "client_id": cid, "name": f"router-{tag}-ZZCANARY{tag.upper()}", "host": f"10.0.0.{ord(tag)}",
            "port": 22, "device_type": "cisco_ios", "egress_ip": "127.0.0.2",
            "engagement_ids": [eid],
            "credentials": {"username": "netops", "password": f"DevicePw-{tag}-9f3k"}}).json["id"]
        ctid = client.post(f"/api/v1/clients/{cid}/contacts", headers=auth(admin_token), json={
            "kind": "email", "value": f"ops-{tag}-zzcanary{tag}@example.test",
            "purposes": ["alerts"]}).json["id"]
        with transaction(services.db) as db:
            services.accounts.create_user(db, "test", f"user-{tag}", "client", cid,
                                          password=f"Client-{tag}-Pass-123!")
            token = services.tokens.create(db, "test", f"user-{tag}", days=LONG)
        ids[tag] = (cid, eid, did, ctid, token)
    return World(admin_token, tech_token, ids["a"][0], ids["b"][0], ids["a"][4], ids["b"][4],
                 ids["a"][1], ids["b"][1], ids["a"][2], ids["b"][2], ids["a"][3], ids["b"][3],
                 canary_b="ZZCANARYB")


@pytest.fixture
def login(client: FlaskClient) -> Callable[[str, str], Any]:
    """Log in through the real form (fetching its CSRF token first)."""

    def do(username: str, password: str, code: str = "") -> Any:
        page = client.get("/login")
        token = csrf_from(page.get_data(as_text=True))
        return client.post("/login", data={"username": username, "password": password,
                                           "code": code, "csrf_token": token})

    return do


def csrf_from(html: str) -> str:
    import re

    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)
