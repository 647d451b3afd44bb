"""Devices are edited with the checks of their enrolment, and deleted as a purge would
destroy them: credentials gone with a receipt, never while a session is live, the name
free again."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select

from custody.audit.models import AuditEvent
from custody.db import transaction
from custody.devices.models import AccessSession, Device, EgressProfile
from custody.services import Services
from tests.conftest import FrozenClock, World, auth, csrf_from
from tests.lab import Lab
from tests.peers import SshDevice


def test_a_device_is_edited_with_the_checks_of_its_enrolment(
        client: FlaskClient, world: World, services: Services) -> None:
    h = auth(world.admin_token)
    path = f"/api/v1/devices/{world.device_a}"
    with transaction(services.db) as db:
        device = db.get(Device, world.device_a)
        assert device is not None
        device.host_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJk6fEwbaQ1s4vaIYPkoX8p4Q7sN1n1"

    resp = client.patch(path, headers=h, json={"name": "edge-renamed"})
    assert resp.status_code == 200 and resp.json["name"] == "edge-renamed"
    assert resp.json["host_key_pinned"] is True  # same address: the key stays pinned
    resp = client.patch(path, headers=h, json={"host": "10.9.9.9", "port": 2222})
    assert resp.status_code == 200, resp.json
    assert (resp.json["host"], resp.json["port"]) == ("10.9.9.9", 2222)
    assert resp.json["host_key_pinned"] is False  # the key belonged to the old address
    assert client.patch(path, headers=h, json={"egress_ip": None}).json["egress_ip"] is None

    refused = {
        "host": ({"host": "not a host!"}, 400),
        "port": ({"port": 70000}, 400),
        "device_type": ({"device_type": "telnet_thing"}, 400),
        "egress_ip": ({"egress_ip": "192.0.2.77"}, 400),  # not an egress profile
        "engagement_ids": ({"engagement_ids": [world.engagement_b]}, 400),  # another client's
        "name": ({"name": None}, 400),
    }
    for field, (body, status) in refused.items():
        resp = client.patch(path, headers=h, json=body)
        assert resp.status_code == status, (field, resp.json)
        assert resp.json["error"]["fields"][0]["field"] == field
    client.post("/api/v1/devices", headers=h, json={
        "client_id": world.client_a, "name": "edge-2", "host": "10.0.0.5", "device_type":
        "cisco_ios", "credentials": {"username": "netops", "password": "DevicePw-2-9f3k"}})
    assert client.patch(path, headers=h, json={"name": "edge-2"}).status_code == 409
    assert client.patch(path, headers=auth(world.tech_token), json={"name": "x"}).status_code == 403
    assert client.patch(path, headers=auth(world.user_a_token),
                        json={"name": "x"}).status_code == 403
    with services.db() as db:
        device = db.get(Device, world.device_a)
        assert device is not None and (device.name, device.host) == ("edge-renamed", "10.9.9.9")
        fields = [e.details.get("fields") for e in db.scalars(select(AuditEvent).where(
            AuditEvent.action == "device.update").order_by(AuditEvent.id))]
    assert fields == [["name"], ["host", "port"], ["egress_ip"]]


def test_deleting_a_device_destroys_its_access_data_with_a_receipt_and_frees_its_name(
        client: FlaskClient, world: World, services: Services, clock: FrozenClock) -> None:
    h = auth(world.admin_token)
    path = f"/api/v1/devices/{world.device_a}"
    with services.db() as db:
        device = db.get(Device, world.device_a)
        assert device is not None and device.secret_path is not None
        secret_path, name = device.secret_path, device.name
    assert services.secrets.versions(secret_path)

    with transaction(services.db) as db:  # a live session keeps the device
        db.add(AccessSession(device_id=world.device_a, client_id=world.client_a, user_id=None,
                             reason="INC-1", ttl_seconds=600, state="open",
                             requested_at=clock(), opened_at=clock(),
                             expires_at=clock() + timedelta(minutes=10)))
    resp = client.delete(path, headers=h)
    assert resp.status_code == 409 and "live session" in resp.json["error"]["message"]
    with transaction(services.db) as db:
        for session in db.scalars(select(AccessSession)):
            session.state = "closed"
    assert client.delete(path, headers=auth(world.tech_token)).status_code == 403

    resp = client.delete(path, headers=h)
    assert resp.status_code == 200, resp.json
    receipt = resp.json
    assert (receipt["kind"], receipt["target_id"], receipt["state"]) == (
        "device_access", world.device_a, "done")
    assert receipt["counts"]["secrets"] == 1 and receipt["counts"]["secret_versions"] >= 1
    assert services.secrets.versions(secret_path) == []  # every version destroyed
    shown = client.get(path, headers=h).json
    assert shown["access_state"] == "purged" and shown["host"] is None
    assert client.delete(path, headers=h).status_code == 409  # once

    again = client.post("/api/v1/devices", headers=h, json={
        "client_id": world.client_a, "name": name, "host": "10.0.0.1", "device_type": "cisco_ios",
        "credentials": {"username": "netops", "password": "DevicePw-new-9f3k"}})
    assert again.status_code == 201, again.json  # the name is free again
    with services.db() as db:
        actions = list(db.scalars(select(AuditEvent.action).where(
            AuditEvent.target == f"device:{world.device_a}").order_by(AuditEvent.id)))
    assert actions[-2:] == ["device.delete", "purge.device_access"]
    # The client's export lists the receipt: what was destroyed, when, and why.
    exported = client.get(f"/api/v1/clients/{world.client_a}/export",
                          headers=auth(world.user_a_token)).json
    assert [(r["kind"], r["target_id"]) for r in exported["purge_receipts"]] == [
        ("device_access", world.device_a)]
    other = client.get(f"/api/v1/clients/{world.client_b}/export",
                       headers=auth(world.user_b_token)).json
    assert other["purge_receipts"] == []


def test_an_egress_profile_must_be_bindable_here_and_unused_to_change(
        client: FlaskClient, world: World, services: Services) -> None:
    """An address this node is to use must be one of its own, checked when saved; a
    profile a live device uses keeps its address until the devices move."""
    h = auth(world.admin_token)
    resp = client.post("/api/v1/egress-profiles", headers=h,
                       json={"name": "far", "source_ip": "192.0.2.77"})
    assert resp.status_code == 400
    assert resp.json["error"]["fields"][0]["field"] == "source_ip"
    assert "192.0.2.77 is not configured on this host" in resp.json["error"]["message"]

    spare = client.post("/api/v1/egress-profiles", headers=h,
                        json={"name": "spare", "source_ip": "127.0.0.3"})
    assert spare.status_code == 201, spare.json
    used = next(p for p in client.get("/api/v1/egress-profiles", headers=h).json["items"]
                if p["source_ip"] == "127.0.0.2")
    for attempt in (client.patch(f"/api/v1/egress-profiles/{used['id']}", headers=h,
                                 json={"source_ip": "127.0.0.4"}),
                    client.delete(f"/api/v1/egress-profiles/{used['id']}", headers=h)):
        assert attempt.status_code == 409
        assert "used by 2 device(s)" in attempt.json["error"]["message"]

    path = f"/api/v1/egress-profiles/{spare.json['id']}"
    assert client.patch(path, headers=h, json={"source_ip": "192.0.2.78"}).status_code == 400
    resp = client.patch(path, headers=h, json={"name": "spare-2", "source_ip": "127.0.0.4"})
    assert resp.status_code == 200 and resp.json["source_ip"] == "127.0.0.4"
    assert client.patch(path, headers=auth(world.tech_token), json={"name": "x"}
                        ).status_code == 403
    for device in (world.device_a, world.device_b):  # the devices move; the old one goes
        assert client.patch(f"/api/v1/devices/{device}", headers=h,
                            json={"egress_ip": "127.0.0.4"}).status_code == 200
    assert client.delete(f"/api/v1/egress-profiles/{used['id']}", headers=h).status_code == 204
    assert client.delete(f"/api/v1/egress-profiles/{used['id']}", headers=h).status_code == 404
    with services.db() as db:
        assert db.get(EgressProfile, used["id"]) is None


def test_an_admin_scans_compares_and_pins_a_host_key_on_the_device_page(
        lab: Lab, sshd: SshDevice, login: Any) -> None:
    """The first session needs a pinned key: the device page does it, against a real sshd
    (scan from the egress address, compare, pin), or from a pasted public key."""
    device = lab.enrol(sshd.port, pin=False)
    login("boss", "boss-Pass-12345")
    page = lab.client.get(f"/tech/devices/{device}").get_data(as_text=True)
    assert "No host key is pinned" in page
    token = csrf_from(page)
    lab.client.post(f"/admin/devices/{device}/host-key/scan", data={"csrf_token": token})
    page = lab.client.get(f"/tech/devices/{device}").get_data(as_text=True)
    shown = re.search(r"The device presented <code>(SHA256:[^<]+)</code>", page)
    assert shown is not None
    assert shown.group(1) == sshd_fingerprint(sshd)  # what the device itself says
    lab.client.post(f"/admin/devices/{device}/host-key",
                    data={"csrf_token": token, "fingerprint": shown.group(1)})
    pinned = lab.client.get(f"/api/v1/devices/{device}", headers=lab.admin).json
    assert pinned["host_key_pinned"] is True
    assert lab.open(device) > 0  # the first session opens

    other = lab.enrol(sshd.port, name="edge-2", pin=False)
    refused = lab.client.post(f"/admin/devices/{other}/host-key", follow_redirects=True,
                              data={"csrf_token": token, "public_key": "ssh-rsa nonsense"})
    assert "Not pinned" in refused.get_data(as_text=True)
    lab.client.post(f"/admin/devices/{other}/host-key",
                    data={"csrf_token": token, "public_key": sshd.public_host_key()})
    assert lab.client.get(f"/api/v1/devices/{other}", headers=lab.admin
                          ).json["host_key_pinned"] is True


def sshd_fingerprint(sshd: SshDevice) -> str:
    from custody.devices.ssh import fingerprint

    return fingerprint(sshd.public_host_key())


def test_an_admin_edits_and_deletes_a_device_on_its_page(
        client: FlaskClient, world: World, services: Services, login: Any) -> None:
    login("root", "Admin-Pass-123!")
    page = client.get(f"/tech/devices/{world.device_a}").get_data(as_text=True)
    token = csrf_from(page)
    edit = f"/admin/devices/{world.device_a}/edit"
    form = {"csrf_token": token, "name": "edge-renamed", "host": "10.9.9.9", "port": "2222",
            "device_type": "cisco_ios", "egress_ip": "127.0.0.2"}
    bad = client.post(edit, data=form | {"host": "not a host!"}, follow_redirects=True)
    assert "Not saved: host must be an IP address or a DNS name" in bad.get_data(as_text=True)
    odd = client.post(edit, data=form | {"port": "²"}, follow_redirects=True)
    assert "Not saved: port must be a whole number" in odd.get_data(as_text=True)
    client.post(edit, data=form)
    shown = client.get(f"/api/v1/devices/{world.device_a}",
                       headers=auth(world.admin_token)).json
    assert (shown["name"], shown["host"], shown["port"]) == ("edge-renamed", "10.9.9.9", 2222)

    delete = f"/admin/devices/{world.device_a}/delete"
    asked = client.post(delete, data={"csrf_token": token}).get_data(as_text=True)
    assert "Delete edge-renamed?" in asked and "cannot be undone" in asked
    assert services.secrets.versions(f"client-{world.client_a}/devices/{world.device_a}")
    done = client.post(delete, data={"csrf_token": token, "confirmed": "yes"},
                       follow_redirects=True).get_data(as_text=True)
    assert "edge-renamed is deleted (receipt" in done and "destroyed with its access data" in done
    assert services.secrets.versions(f"client-{world.client_a}/devices/{world.device_a}") == []


def test_an_admin_edits_and_deletes_egress_profiles_on_their_page(
        client: FlaskClient, world: World, services: Services, login: Any) -> None:
    """The page says which profiles live devices use (those stay as they are), keeps a
    refused edit's values with the reason beside the field, and deletes after a "Yes"."""
    h = auth(world.admin_token)
    spare = client.post("/api/v1/egress-profiles", headers=h,
                        json={"name": "spare", "source_ip": "127.0.0.3"}).json
    used = next(p for p in client.get("/api/v1/egress-profiles", headers=h).json["items"]
                if p["source_ip"] == "127.0.0.2")
    login("root", "Admin-Pass-123!")
    page = client.get("/admin/egress").get_data(as_text=True)
    row = page.split(f'id="profile-{used["id"]}"')[1].split("</tr>")[0]
    assert ">2</a>" in row and "In use" in row and "Delete" not in row
    token = csrf_from(page)
    edit = f"/admin/egress/{spare['id']}/edit"
    prefix = f"edit{spare['id']}-"

    refused = client.post(edit, data={"csrf_token": token, prefix + "name": "spare",
                                      prefix + "source_ip": "192.0.2.78"})
    text = refused.get_data(as_text=True)
    assert refused.status_code == 400
    assert "192.0.2.78 is not configured on this host" in text
    assert f'id="{prefix}source_ip-error"' in text and 'value="192.0.2.78"' in text
    no_token = client.post(edit, data={prefix + "name": "x", prefix + "source_ip": "127.0.0.4"})
    assert no_token.status_code == 400  # refused before the page looks at it
    saved = client.post(edit, data={"csrf_token": token, prefix + "name": "spare-2",
                                    prefix + "source_ip": "127.0.0.4"})
    assert saved.status_code == 302
    with services.db() as db:
        profile = db.get(EgressProfile, spare["id"])
        assert profile and (profile.name, profile.source_ip) == ("spare-2", "127.0.0.4")

    delete = f"/admin/egress/{spare['id']}/delete"
    asked = client.post(delete, data={"csrf_token": token})
    assert asked.status_code == 200 and "Delete egress profile spare-2" in asked.get_data(
        as_text=True)
    with services.db() as db:
        assert db.get(EgressProfile, spare["id"]) is not None  # not before the "Yes"
    done = client.post(delete, data={"csrf_token": token, "confirmed": "yes"},
                       follow_redirects=True)
    assert "Egress profile spare-2 deleted." in done.get_data(as_text=True)
    in_use = client.post(f"/admin/egress/{used['id']}/delete",
                         data={"csrf_token": token, "confirmed": "yes"}, follow_redirects=True)
    assert "Not deleted: egress profile" in in_use.get_data(as_text=True)
    with services.db() as db:
        assert db.get(EgressProfile, spare["id"]) is None
        assert db.get(EgressProfile, used["id"]) is not None
