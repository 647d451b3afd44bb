"""The JSON API of DESIGN §6 against SQLite and a real PostgreSQL."""

from __future__ import annotations

from flask.testing import FlaskClient

from custody.services import Services
from tests.conftest import World, auth, csrf_from
from tests.peers import SmtpSink


def test_client_lifecycle_through_the_api(client: FlaskClient, world: World) -> None:
    h = auth(world.admin_token)
    created = client.post("/api/v1/clients", json={"name": "Contoso"}, headers=h)
    assert created.status_code == 201
    cid = created.json["id"]
    assert client.get(f"/api/v1/clients/{cid}", headers=h).json["name"] == "Contoso"
    names = [c["name"] for c in client.get("/api/v1/clients", headers=h).json["items"]]
    assert "Contoso" in names and len(names) == 3

    eng = client.post(f"/api/v1/clients/{cid}/engagements", headers=h,
                      json={"title": "Core switch swap", "warranty_until": "2027-05-31"})
    assert eng.status_code == 201
    assert eng.json["warranty_until"] == "2027-05-31T00:00:00+00:00"
    assert eng.json["paid_at"] is None
    patched = client.patch(f"/api/v1/engagements/{eng.json['id']}", headers=h,
                           json={"paid_at": "2026-11-20T10:30:00+01:00"})
    assert patched.status_code == 200
    assert patched.json["paid_at"] == "2026-11-20T09:30:00+00:00"
    assert patched.json["warranty_until"] == "2027-05-31T00:00:00+00:00"  # untouched
    cleared = client.patch(f"/api/v1/engagements/{eng.json['id']}", headers=h,
                           json={"paid_at": None})
    assert cleared.json["paid_at"] is None


def test_device_credentials_are_write_only(client: FlaskClient, world: World,
                                           services: Services) -> None:
    h = auth(world.admin_token)
    body = client.get(f"/api/v1/devices/{world.device_a}", headers=h)
    assert body.status_code == 200
    assert body.json["has_credentials"] is True
    assert "DevicePw-a-9f3k" not in body.get_data(as_text=True)
    assert "credentials" not in body.json
    path = f"client-{world.client_a}/devices/{world.device_a}"
    stored = services.secrets.get(path)
    assert stored["password"].reveal() == "DevicePw-a-9f3k"
    assert stored["username"].reveal() == "netops"
    listing = client.get("/api/v1/devices", headers=h).get_data(as_text=True)
    assert "DevicePw" not in listing


def test_device_engagements_must_belong_to_the_client(client: FlaskClient, world: World,
                                                      services: Services) -> None:
    resp = client.post("/api/v1/devices", headers=auth(world.admin_token), json={
        "client_id": world.client_a, "name": "sw1", "host": "sw1.example.test",
        "device_type": "cisco_ios", "engagement_ids": [world.engagement_b],
        "credentials": {"username": "u", "password": "Pw-123456789"}})
    assert resp.status_code == 400
    assert "engagement_ids" in resp.json["error"]["message"]
    assert services.secrets.list_paths(f"client-{world.client_a}") == [
        f"client-{world.client_a}/devices/{world.device_a}"]


def test_contact_double_opt_in(client: FlaskClient, world: World, mailbox: SmtpSink) -> None:
    h = auth(world.admin_token)
    resp = client.post(f"/api/v1/clients/{world.client_a}/contacts", headers=h,
                       json={"kind": "email", "value": "Billing@Example.test",
                             "purposes": ["billing", "technical"]})
    assert resp.status_code == 201
    assert resp.json["verified"] is False and resp.json["verification_sent"] is True
    [mail] = [m for m in mailbox.wait_for(1) if m["To"] == "billing@example.test"]
    text = mail.get_payload(decode=True).decode()
    link = next(line for line in text.splitlines() if "/contacts/verify/" in line).strip()
    path = link.removeprefix("http://localhost")

    def verified() -> bool:
        contacts = client.get(f"/api/v1/clients/{world.client_a}/contacts",
                              headers=h).json["items"]
        return bool({c["value"]: c["verified"] for c in contacts}["billing@example.test"])

    page = client.get(path)  # what a mail scanner following the link does: confirms nothing
    assert page.status_code == 200 and "Confirm my address" in page.get_data(as_text=True)
    assert not verified()
    assert client.post(path).status_code == 400  # a cross-site form without the token
    assert not verified()
    assert client.post(path, data={"csrf_token": csrf_from(page.get_data(as_text=True))}
                       ).status_code == 200
    assert verified()
    tampered = path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB")
    page = client.get(tampered).get_data(as_text=True)
    assert client.post(tampered, data={"csrf_token": csrf_from(page)}).status_code == 400


def test_verification_link_expires(client: FlaskClient, world: World, mailbox: SmtpSink,
                                   clock: object, services: Services) -> None:
    import time

    from custody.clients.models import Contact

    real = time.time
    with services.db() as db:
        contact = db.get(Contact, world.contact_a)
        assert contact is not None
        try:
            time.time = lambda: real() - 73 * 3600  # itsdangerous reads the wall clock
            token = services.clients.verification_token(contact)  # sent 73 hours ago
        finally:
            time.time = real
    page = client.get(f"/contacts/verify/{token}").get_data(as_text=True)
    resp = client.post(f"/contacts/verify/{token}", data={"csrf_token": csrf_from(page)})
    assert resp.status_code == 400
    assert "expired" in resp.get_data(as_text=True)


def test_bad_input_is_named_and_changes_nothing(client: FlaskClient, world: World) -> None:
    h = auth(world.admin_token)
    before = client.get("/api/v1/clients", headers=h).json["items"]
    cases = [
        (b"{not json", "body: not valid JSON"),
        (b"[1, 2]", "body: must be a JSON object"),
        (b'{"name": 42}', "name: Input should be a valid string"),
        (b'{"name": "X", "color": "red"}', "color: unknown field"),
        (b"{}", "name: required"),
    ]
    for raw, message in cases:
        resp = client.post("/api/v1/clients", data=raw, headers=h,
                           content_type="application/json")
        assert resp.status_code == 400, raw
        assert resp.json["error"]["code"] == "invalid_input"
        assert message in resp.json["error"]["message"], (raw, resp.json)
    dup = client.post("/api/v1/clients", json={"name": "Client A"}, headers=h)
    assert dup.status_code == 409 and "exists already" in dup.json["error"]["message"]
    not_json = client.post("/api/v1/clients", data="name=x", headers=h)
    assert not_json.status_code == 400 and "application/json" in not_json.json["error"]["message"]
    assert client.get("/api/v1/clients", headers=h).json["items"] == before


def test_oversize_body_is_refused(client: FlaskClient, world: World) -> None:
    resp = client.post("/api/v1/clients", data=b'{"name": "' + b"x" * 2_000_000 + b'"}',
                       headers=auth(world.admin_token), content_type="application/json")
    assert resp.status_code == 413
    assert "larger than 1048576 bytes" in resp.json["error"]["message"]


def test_bad_device_fields_are_named(client: FlaskClient, world: World) -> None:
    h = auth(world.admin_token)
    base = {"client_id": world.client_a, "name": "edge", "host": "192.0.2.10", "port": 22,
            "device_type": "cisco_ios", "credentials": {"username": "u", "password": "P-12345678"}}
    for change, message, field in [
        ({"device_type": "cisco_ios_telnet"}, "device_type must be one of", "device_type"),
        ({"port": 70000}, "port must be between", "port"),
        ({"host": "not a host!"}, "host must be", "host"),
        ({"egress_ip": "nope"}, "egress_ip must be an IP", "egress_ip"),
        ({"credentials": {"username": "u"}}, "password or a private_key", None),
        ({"client_id": 999}, "client 999 does not exist", None),
        ({"port": "22"}, "port: Input should be a valid integer", "port"),
        ({"port": 22.5, "name": 7}, "port: Input should be a valid integer", "name"),
    ]:
        resp = client.post("/api/v1/devices", headers=h, json=base | change)
        assert resp.status_code in (400, 404), change
        assert message in resp.json["error"]["message"], (change, resp.json)
        # The field comes as data, for forms and scripts: nobody parses the message.
        named = [f["field"] for f in resp.json["error"].get("fields", [])]
        assert (field in named) if field else named == [], (change, resp.json)
    dup = client.post("/api/v1/devices", headers=h, json=base | {"name": "router-a-ZZCANARYA"})
    assert dup.status_code == 409


def test_contacts_are_validated(client: FlaskClient, world: World) -> None:
    h = auth(world.admin_token)
    url = f"/api/v1/clients/{world.client_a}/contacts"
    for body, message in [
        ({"kind": "email", "value": "not-an-address", "purposes": ["alerts"]}, "valid e-mail"),
        ({"kind": "phone", "value": "0301234", "purposes": ["alerts"]}, "E.164"),
        ({"kind": "email", "value": "a@b.test", "purposes": ["marketing"]}, "purposes must be"),
        ({"kind": "fax", "value": "a@b.test", "purposes": ["alerts"]}, "kind must be"),
    ]:
        resp = client.post(url, headers=h, json=body)
        assert resp.status_code == 400 and message in resp.json["error"]["message"], body


def test_unknown_engagement_and_empty_patch(client: FlaskClient, world: World) -> None:
    h = auth(world.admin_token)
    assert client.patch("/api/v1/engagements/9999", headers=h,
                        json={"paid_at": "2026-01-01"}).status_code == 404
    empty = client.patch(f"/api/v1/engagements/{world.engagement_a}", headers=h, json={})
    assert empty.status_code == 400
    bad_date = client.patch(f"/api/v1/engagements/{world.engagement_a}", headers=h,
                            json={"paid_at": "last tuesday"})
    assert bad_date.status_code == 400 and "paid_at" in bad_date.json["error"]["message"]


def test_portal_shows_the_clients_own_services(client: FlaskClient, world: World,
                                               login: object) -> None:
    login("user-a", "Client-a-Pass-123!")  # type: ignore[operator]
    page = client.get("/portal/").get_data(as_text=True)
    assert "job a ZZCANARYA" in page and "router-a-ZZCANARYA" in page
    assert "ZZCANARYB" not in page
    assert "10.0.0.97" not in page  # device addresses are staff-only
    assert client.get("/admin/").status_code == 403


def test_ids_beyond_the_columns_and_wrong_methods_are_answered_plainly(
        client: FlaskClient, world: World) -> None:
    """An id no id column can hold names nothing (404, not an overflow, on either
    database); a 405 says which methods the resource takes."""
    h = auth(world.admin_token)
    for huge in (2**31, 2**63, 10**30):
        for path in (f"/api/v1/clients/{huge}", f"/api/v1/devices/{huge}",
                     f"/api/v1/users/{huge}", f"/api/v1/certificates/{huge}"):
            assert client.get(path, headers=h).status_code == 404, path
        assert client.get(f"/crl/{huge}.crl").status_code == 404  # anonymous
        # Not a 405 because another method's route would have taken the path.
        assert client.get(f"/api/v1/clients/{huge}/certificates",
                          headers=h).status_code == 404
        assert client.post(f"/api/v1/clients/{huge}/certificates", headers=h,
                           json={"csr": "x"}).status_code == 404
    assert client.get(f"/api/v1/clients/{2**31 - 1}", headers=h).status_code == 404
    # In a body too: refused with the field named, before the database sees it.
    for body in ({"name": "prom", "kind": "alertmanager", "client_id": 2**31},
                 {"name": "prom", "kind": "alertmanager", "client_id": 0}):
        resp = client.post("/api/v1/alert-sources", headers=h, json=body)
        assert resp.status_code == 400, resp.json
        assert resp.json["error"]["fields"][0]["field"] == "client_id"
    resp = client.post("/api/v1/holds", headers=h, json={
        "target_kind": "device", "target_id": 10**12, "reason": "x", "until": "2027-01-01"})
    assert resp.status_code == 400 and "target_id" in str(resp.json)
    wrong = client.put("/api/v1/clients", headers=h, json={})
    assert wrong.status_code == 405
    assert set(wrong.headers["Allow"].split(", ")) >= {"GET", "POST"}
