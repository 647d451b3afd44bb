"""P7: device credentials never leave the server: not in responses, logs, audit or the DB."""

from __future__ import annotations

import io
import logging
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from custody.logs import configure_logging, scrub
from custody.sensitive import Secret
from custody.services import Services
from tests.conftest import World, auth
from tests.privacy.routes import arguments, every_route
from tests.privacy.test_no_client_ip import everything_stored

PASSWORDS = ["DevicePw-a-9f3k", "DevicePw-b-9f3k"]


def test_no_route_returns_a_device_secret(app: Flask, client: FlaskClient, world: World) -> None:
    for token in (world.admin_token, world.tech_token, world.user_a_token):
        for tenant in ("a", "b"):
            for _rule, method, url in every_route(app, arguments(world, tenant)):
                if method != "GET":
                    continue
                with client.get(url, headers=auth(token)) as resp:
                    body = resp.get_data(as_text=True)
                assert not any(p in body for p in PASSWORDS), url


def test_secrets_are_only_in_the_encrypted_store(services: Services, world: World,
                                                 tmp_path: Path) -> None:
    stored = everything_stored(services, tmp_path)
    assert "DevicePw-" not in stored
    assert services.secrets.get(f"client-{world.client_a}/devices/{world.device_a}")[
        "password"].reveal() == PASSWORDS[0]


def test_log_lines_are_scrubbed_in_message_and_arguments() -> None:
    buf = io.StringIO()
    configure_logging("INFO", "text", stream=buf)
    log = logging.getLogger("custody.test")
    try:
        log.info("connecting with password=%s", "Hunter2-Pw-x")
        log.info("device %s creds %s", "r1", Secret("Other-Pw-y"))
        log.info("header %s", "Authorization: Bearer cst_abcdefghijklmnopqrstuvwxyz012345")
        log.info("payload %s", {"password": "In-A-Dict-Pw"})
    finally:
        root = logging.getLogger()
        for h in [h for h in root.handlers if getattr(h, "_custody", False)]:
            root.removeHandler(h)
    out = buf.getvalue()
    for secret in ("Hunter2-Pw-x", "Other-Pw-y", "cst_abcdefghijklmnop", "In-A-Dict-Pw"):
        assert secret not in out
    assert out.count("****") >= 4
    assert scrub("-----BEGIN PRIVATE KEY-----\nMIGk\n-----END PRIVATE KEY-----") == "****"


def test_failed_enrolment_does_not_echo_credentials(client: FlaskClient, world: World) -> None:
    resp = client.post("/api/v1/devices", headers=auth(world.admin_token), json={
        "client_id": world.client_a, "name": "x", "host": "bad host", "device_type": "linux",
        "credentials": {"username": "u", "password": "Echo-Me-Not-1"}})
    assert resp.status_code == 400 and "Echo-Me-Not-1" not in resp.get_data(as_text=True)
    resp = client.post("/api/v1/devices", headers=auth(world.admin_token), json={
        "client_id": world.client_a, "name": "x", "host": "h", "device_type": "linux",
        "credentials": {"username": "u", "password": 12345678}})
    assert resp.status_code == 400 and "12345678" not in resp.get_data(as_text=True)
