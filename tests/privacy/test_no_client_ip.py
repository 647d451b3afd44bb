"""P3: a client's IP address is written nowhere: not in logs, audit rows or any table."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import inspect, text

from custody.logs import configure_logging
from custody.services import Services
from tests.conftest import World, auth, csrf_from

CLIENT_IP = "203.0.113.77"
STAFF_IP = "198.51.100.9"


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    buf = io.StringIO()
    configure_logging("DEBUG", "json", stream=buf)
    yield buf
    root = logging.getLogger()
    for h in [h for h in root.handlers if getattr(h, "_custody", False)]:
        root.removeHandler(h)


def everything_stored(services: Services, tmp_path: Path) -> str:
    """Every value of every table, plus the raw bytes of every file under the install."""
    parts = []
    with services.engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            for row in conn.execute(text(f"SELECT * FROM {table}")):
                parts.append(" ".join(str(v) for v in row))
    for path in tmp_path.rglob("*"):
        if path.is_file():
            parts.append(path.read_bytes().decode("latin-1"))
    return "\n".join(parts)


def test_client_requests_leave_no_ip(client: FlaskClient, world: World, services: Services,
                                     tmp_path: Path, log_output: io.StringIO) -> None:
    env = {"REMOTE_ADDR": CLIENT_IP}
    page = client.get("/login", environ_base=env).get_data(as_text=True)
    resp = client.post("/login", environ_base=env, data={
        "username": "user-a", "password": "Client-a-Pass-123!", "csrf_token": csrf_from(page)})
    assert resp.status_code == 302
    client.post("/login", environ_base=env, data={
        "username": "user-a", "password": "wrong-password!!", "csrf_token": csrf_from(page)})
    assert client.get("/portal/", environ_base=env).status_code in (200, 302)
    api = client.get("/api/v1/devices", environ_base=env, headers=auth(world.user_a_token))
    assert api.status_code == 200
    client.get("/api/v1/nothing-here", environ_base=env, headers=auth(world.user_a_token))

    # A staff request in the same run is logged with its address: the check can see IPs.
    client.get("/api/v1/clients", environ_base={"REMOTE_ADDR": STAFF_IP},
               headers=auth(world.admin_token))
    logs = log_output.getvalue()
    assert STAFF_IP in logs
    assert '"path": "/api/v1/devices"' in logs  # the client's requests were logged ...
    assert CLIENT_IP not in logs  # ... without the address
    assert CLIENT_IP not in everything_stored(services, tmp_path)


def test_only_the_session_cookie_is_set(client: FlaskClient, world: World) -> None:
    page = client.get("/login")
    cookies = page.headers.getlist("Set-Cookie")
    assert all(c.startswith("custody_session=") for c in cookies)
    resp = client.post("/login", data={"username": "user-a", "password": "Client-a-Pass-123!",
                                       "csrf_token": csrf_from(page.get_data(as_text=True))})
    assert all(c.startswith("custody_session=") for c in resp.headers.getlist("Set-Cookie"))
    assert {c.key for c in client._cookies.values()} == {"custody_session"}
