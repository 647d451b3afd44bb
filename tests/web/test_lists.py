"""Lists a page at a time: the same filters on the API and the pages, a cursor that
carries on where the last page ended, and nothing shown twice or skipped."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from custody.db import transaction
from custody.devices.models import Device
from custody.services import Services
from tests.conftest import FrozenClock, World, auth


@pytest.fixture
def database_url(sqlite_url: str) -> str:  # lists: nothing differs by database
    return sqlite_url


def _add_devices(services: Services, world: World, clock: FrozenClock, count: int) -> None:
    """Rows only (no credentials): lists read rows."""
    with transaction(services.db) as db:
        for n in range(count):
            db.add(Device(client_id=world.client_a, name=f"edge-{n:04d}",
                          host=f"10.9.{n // 250}.{n % 250 + 1}", port=22,
                          device_type="linux" if n % 3 else "cisco_ios",
                          access_state="active", created_at=clock()))


def test_the_devices_api_pages_with_a_cursor_and_filters(
        client: FlaskClient, world: World, services: Services, clock: FrozenClock) -> None:
    _add_devices(services, world, clock, 7)
    h = auth(world.admin_token)
    seen: list[str] = []
    cursor = None
    while True:
        resp = client.get("/api/v1/devices", headers=h, query_string={
            "client_id": world.client_a, "limit": 3, **({"cursor": cursor} if cursor else {})})
        assert resp.status_code == 200, resp.json
        seen += [d["name"] for d in resp.json["items"]]
        cursor = resp.json["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(seen) and len(seen) == len(set(seen)) == 8  # 7 and the world's
    linux = client.get("/api/v1/devices", headers=h, query_string={
        "device_type": "linux", "q": "EDGE-000"}).json["items"]
    assert [d["name"] for d in linux] == ["edge-0001", "edge-0002", "edge-0004", "edge-0005"]
    by_address = client.get("/api/v1/devices", headers=h, query_string={"q": "10.9.0.3"})
    assert [d["name"] for d in by_address.json["items"]] == ["edge-0002"]
    user = client.get("/api/v1/devices", headers=auth(world.user_b_token),
                      query_string={"q": "10.9.0.3"})
    assert user.json["items"] == []  # another client's; and addresses are not searched
    for bad in ({"limit": 0}, {"limit": 501}, {"cursor": "not-a-cursor"}, {"state": "gone"},
                {"client_id": "x"}, {"limit": "²"}, {"client_id": 2**31}):
        resp = client.get("/api/v1/devices", headers=h, query_string=bad)
        assert resp.status_code == 400, bad
        assert resp.json["error"]["fields"][0]["field"] == next(iter(bad))
    odd = client.get("/api/v1/devices", headers=h, query_string={"q": "%_"})
    assert odd.status_code == 200 and odd.json["items"] == []  # LIKE's wildcards are text


def test_the_devices_page_shows_a_hundred_and_links_the_next(
        client: FlaskClient, world: World, services: Services, clock: FrozenClock,
        login: Any) -> None:
    _add_devices(services, world, clock, 150)
    login("tech", "Tech-Pass-123!")
    first = client.get("/tech/devices", query_string={"client_id": world.client_a})
    page = first.get_data(as_text=True)
    assert page.count('href="/tech/devices/') == 100
    next_url = page.split('rel="next"')[0].rsplit('href="', 1)[1].split('"')[0]
    next_url = next_url.replace("&amp;", "&")
    assert f"client_id={world.client_a}" in next_url and "cursor=" in next_url
    rest = client.get(next_url).get_data(as_text=True)
    assert rest.count('href="/tech/devices/') == 51 and 'rel="next"' not in rest
    assert "edge-0149" in rest and "edge-0000" not in rest and "First page" in rest


def test_sessions_are_listed_newest_first_a_page_at_a_time(
        client: FlaskClient, world: World, services: Services, clock: FrozenClock,
        login: Any) -> None:
    from custody.devices.models import AccessSession

    with transaction(services.db) as db:
        for n in range(130):
            device, client_id = ((world.device_a, world.client_a) if n % 2
                                 else (world.device_b, world.client_b))
            db.add(AccessSession(device_id=device, client_id=client_id, user_id=None,
                                 reason=f"INC-{n}", ttl_seconds=60, state="closed",
                                 requested_at=clock()))
    h = auth(world.admin_token)
    first = client.get("/api/v1/sessions", headers=h, query_string={
        "client_id": world.client_a, "limit": 50}).json
    rest = client.get("/api/v1/sessions", headers=h, query_string={
        "client_id": world.client_a, "limit": 50, "cursor": first["next_cursor"]}).json
    reasons = [s["reason"] for s in first["items"] + rest["items"]]
    assert reasons == [f"INC-{n}" for n in range(129, 0, -2)] and rest["next_cursor"] is None
    assert client.get("/api/v1/sessions", headers=h,
                      query_string={"state": "lost"}).status_code == 400
    login("root", "Admin-Pass-123!")
    page = client.get("/tech/sessions").get_data(as_text=True)
    assert page.count("<td>INC-") == 100 and "Older sessions" in page and "INC-129" in page


def test_the_audit_api_pages_with_the_pages_filters(
        client: FlaskClient, world: World, services: Services, clock: FrozenClock) -> None:
    h = auth(world.admin_token)
    seen: list[int] = []
    cursor = None
    while True:
        resp = client.get("/api/v1/audit", headers=h, query_string={
            "limit": 7, **({"cursor": cursor} if cursor else {})})
        assert resp.status_code == 200, resp.json
        seen += [e["id"] for e in resp.json["items"]]
        if (cursor := resp.json["next_cursor"]) is None:
            break
    assert seen == sorted(seen, reverse=True) and len(seen) == len(set(seen)) > 14

    def events(**query: Any) -> list[dict[str, Any]]:
        resp = client.get("/api/v1/audit", headers=h, query_string=query)
        assert resp.status_code == 200, resp.json
        return list(resp.json["items"])

    target = f"device:{world.device_a}"
    on_device = events(target=target)
    assert on_device and {e["target"] for e in on_device} == {target}
    assert {e["action"] for e in events(action="device.")} >= {"device.create"}
    assert all(e["action"].startswith("device.") for e in events(action="device."))
    by_root = events(actor="root")  # a username, as on the page
    assert by_root and {e["actor"] for e in by_root} == {by_root[0]["actor"]}
    assert by_root[0]["actor"].startswith("user:")
    today = clock().date().isoformat()
    assert len(events(**{"from": today, "to": today})) == len(seen)
    assert events(to=(clock().date().replace(year=2000)).isoformat()) == []
    assert events(action="%") == [] and events(action="device_") == []  # plain characters
    for bad in ({"from": "2026-13-01"}, {"to": "yesterday"}, {"to": "9999-12-31"},
                {"limit": 0}, {"cursor": "x"}):
        resp = client.get("/api/v1/audit", headers=h, query_string=bad)
        assert resp.status_code == 400, bad
        assert resp.json["error"]["fields"][0]["field"] == next(iter(bad))
    assert client.get("/api/v1/audit", headers=auth(world.tech_token)).status_code == 403
