"""P6: every route, called by client A's user, reveals and changes nothing of client B."""

from __future__ import annotations

import json
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import inspect, text

from custody.services import Services
from tests.conftest import World, auth
from tests.privacy.routes import arguments, every_route

# Routes that act on the caller's own account: a 2xx there touches nothing of client B.
# Routes about the caller's own account (their tokens, their sessions, their TOTP).
SELF_ROUTES = {"/api/v1/me/totp", "/api/v1/tokens", "/api/v1/me/logout-everywhere"}


# Bodies that would succeed for a staff caller, so a write is refused for tenancy, not syntax.
def plausible_bodies(world: World) -> dict[str, list[Any]]:
    b = world.client_b
    return {
        "/api/v1/clients/<int:client_id>/contacts": [
            {"kind": "email", "value": "intruder@example.test", "purposes": ["alerts"]}],
        "/api/v1/clients/<int:client_id>/engagements": [{"title": "intrusion"}],
        "/api/v1/engagements/<int:engagement_id>": [{"paid_at": "2020-01-01"}],
        "/api/v1/devices": [{"client_id": b, "name": "evil", "host": "10.9.9.9",
                             "device_type": "linux",
                             "credentials": {"username": "x", "password": "Xx-123456789"}}],
        "/api/v1/clients": [{"name": "Client B ZZCANARYB"}],
    }


def snapshot_of(services: Services, client_id: int) -> dict[str, Any]:
    """Every row that belongs to one client, and its secrets (paths and versions)."""
    out: dict[str, Any] = {}
    with services.engine.connect() as conn:
        insp = inspect(conn)
        for table in insp.get_table_names():
            cols = [c["name"] for c in insp.get_columns(table)]
            if table == "clients":
                where = f"id = {client_id}"
            elif "client_id" in cols:
                where = f"client_id = {client_id}"
            elif table == "engagement_devices":
                where = f"engagement_id IN (SELECT id FROM engagements WHERE client_id = {client_id})"
            else:
                continue
            rows = conn.execute(text(f"SELECT * FROM {table} WHERE {where}")).mappings().all()
            out[table] = sorted(json.dumps(dict(r), default=str, sort_keys=True) for r in rows)
    tenant = f"client-{client_id}"
    out["secrets"] = {p: services.secrets.versions(p) for p in services.secrets.list_paths(tenant)}
    return out


def test_client_user_cannot_read_or_write_another_client(app: Flask, client: FlaskClient,
                                                         world: World, services: Services) -> None:
    before = snapshot_of(services, world.client_b)
    assert before["devices"] and before["contacts"] and before["secrets"]
    bodies = plausible_bodies(world)
    h = auth(world.user_a_token)
    seen = 0
    for rule, method, url in every_route(app, arguments(world, "b")):
        for body in bodies.get(rule, [{}]) if method != "GET" else [None]:
            resp = client.open(url, method=method, headers=h, json=body)
            seen += 1
            page = resp.get_data(as_text=True)
            resp.close()
            assert resp.status_code < 500, (method, url, resp.status_code)
            assert "ZZCANARYB" not in page and "zzcanaryb" not in page, (method, url)
            if rule.startswith("/api/") and method != "GET" and rule not in SELF_ROUTES:
                assert resp.status_code in (400, 403, 404, 405), (method, url, resp.status_code)
    assert seen >= 15
    assert snapshot_of(services, world.client_b) == before


def test_client_user_sees_own_data_only_in_lists(client: FlaskClient, world: World) -> None:
    h = auth(world.user_a_token)
    clients = client.get("/api/v1/clients", headers=h).json["items"]
    assert [c["id"] for c in clients] == [world.client_a]
    devices = client.get("/api/v1/devices", headers=h).json["items"]
    assert [d["id"] for d in devices] == [world.device_a]
    assert "host" not in devices[0] and "egress_ip" not in devices[0]  # addresses are staff-only
    foreign = client.get(f"/api/v1/devices?client_id={world.client_b}", headers=h).json["items"]
    assert foreign == []


def test_the_walk_really_reaches_own_data(app: Flask, client: FlaskClient, world: World) -> None:
    """Guard against a vacuous isolation test: the same walk on A's own ids finds A's data."""
    h = auth(world.user_a_token)
    found = 0
    for _rule, method, url in every_route(app, arguments(world, "a")):
        if method != "GET":
            continue
        with client.get(url, headers=h) as resp:
            found += "ZZCANARYA" in resp.get_data(as_text=True)
    assert found >= 3
