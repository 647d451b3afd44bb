"""The purge plan follows payment, warranty, grace and holds, and changes at once."""

from __future__ import annotations

from custody.services import Services
from tests.conftest import FrozenClock, World
from tests.lab import Lab
from tests.peers import SshDevice
from tests.purge.helpers import engagement, schedule

# The frozen clock starts at 2026-11-01 12:00 UTC.


def test_device_states_follow_the_engagements(lab: Lab, sshd: SshDevice,
                                              clock: FrozenClock) -> None:
    bare = lab.enrol(sshd.port, name="bare", pin=False)
    device = lab.enrol(sshd.port, name="edge", pin=False)
    assert schedule(lab)[f"device:{bare}"]["state"] == "no_engagement"
    eid = engagement(lab, [device], paid=None, warranty=None)
    item = schedule(lab)[f"device:{device}"]
    assert item["state"] == "waiting_for_payment" and item["due_at"] is None
    assert "waiting for payment of 1 of 1" in item["reason"]

    lab.client.patch(f"/api/v1/engagements/{eid}", headers=lab.admin,
                     json={"paid_at": "2026-10-01", "warranty_until": "2026-12-31"})
    item = schedule(lab)[f"device:{device}"]
    assert item["state"] == "scheduled" and item["due_at"].startswith("2026-12-31")
    assert item["reason"] == "paid, warranty until 2026-12-31"

    lab.client.patch(f"/api/v1/engagements/{eid}", headers=lab.admin,
                     json={"warranty_until": "2026-10-15"})
    assert schedule(lab)[f"device:{device}"]["state"] == "due"

    # A second engagement covering the device, unpaid, puts it back to waiting.
    engagement(lab, [device], paid=None, warranty=None, title="Follow-up")
    assert schedule(lab)[f"device:{device}"]["state"] == "waiting_for_payment"


def test_holds_postpone_and_expire(lab: Lab, sshd: SshDevice, clock: FrozenClock) -> None:
    device = lab.enrol(sshd.port, pin=False)
    engagement(lab, [device], paid="2026-09-01", warranty="2026-10-01")
    assert schedule(lab)[f"device:{device}"]["state"] == "due"
    hold = lab.client.post("/api/v1/holds", headers=lab.admin, json={
        "target_kind": "device", "target_id": device, "reason": "billing dispute #88",
        "until": "2026-11-20"})
    assert hold.status_code == 201
    item = schedule(lab)[f"device:{device}"]
    assert item["state"] == "on_hold" and item["due_at"].startswith("2026-11-20")
    assert item["reason"] == "on hold until 2026-11-20: billing dispute #88"
    clock.advance(days=20)  # the hold ends on its own
    assert schedule(lab)[f"device:{device}"]["state"] == "due"
    clock.advance(days=-20)
    assert lab.client.delete(f"/api/v1/holds/{hold.json['id']}", headers=lab.admin).status_code == 204
    assert schedule(lab)[f"device:{device}"]["state"] == "due"


def test_client_hold_covers_its_devices(lab: Lab, sshd: SshDevice) -> None:
    device = lab.enrol(sshd.port, pin=False)
    engagement(lab, [device], paid="2026-09-01", warranty=None)
    lab.client.post("/api/v1/holds", headers=lab.admin, json={
        "target_kind": "client", "target_id": lab.client_id, "reason": "legal request",
        "until": "2027-01-01"})
    assert schedule(lab)[f"device:{device}"]["state"] == "on_hold"


def test_closed_client_plan(lab: Lab, sshd: SshDevice) -> None:
    device = lab.enrol(sshd.port, pin=False)
    eid = engagement(lab, [device], paid=None, warranty=None)
    assert f"client:{lab.client_id}" not in schedule(lab)  # active clients are not planned
    lab.client.post(f"/api/v1/clients/{lab.client_id}/close", headers=lab.admin)
    assert schedule(lab)[f"client:{lab.client_id}"]["state"] == "waiting_for_payment"
    lab.client.patch(f"/api/v1/engagements/{eid}", headers=lab.admin,
                     json={"paid_at": "2026-10-01", "warranty_until": "2027-03-01"})
    item = schedule(lab)[f"client:{lab.client_id}"]
    assert item["state"] == "scheduled" and item["due_at"].startswith("2027-03-01")


def test_bad_holds_and_dates(lab: Lab, sshd: SshDevice) -> None:
    device = lab.enrol(sshd.port, pin=False)
    for body, status, message in [
        ({"target_kind": "device", "target_id": device, "reason": "", "until": "2027-01-01"},
         400, "reason"),
        ({"target_kind": "device", "target_id": device, "reason": "dispute",
          "until": "2026-01-01"}, 400, "until must be in the future"),
        ({"target_kind": "router", "target_id": device, "reason": "dispute",
          "until": "2027-01-01"}, 400, "target_kind must be device or client"),
        ({"target_kind": "device", "target_id": 999, "reason": "dispute",
          "until": "2027-01-01"}, 404, "device 999 does not exist"),
    ]:
        resp = lab.client.post("/api/v1/holds", headers=lab.admin, json=body)
        assert resp.status_code == status and message in resp.json["error"]["message"], body
    swapped = lab.client.post(f"/api/v1/clients/{lab.client_id}/engagements", headers=lab.admin,
                              json={"title": "x", "paid_at": "2026-10-01",
                                    "warranty_until": "2026-09-01"})
    assert swapped.status_code == 400
    assert "warranty_until (2026-09-01) is before paid_at (2026-10-01)" in swapped.json["error"]["message"]
    unknown = lab.client.patch("/api/v1/engagements/4242", headers=lab.admin,
                               json={"paid_at": "2026-10-01"})
    assert unknown.status_code == 404
    assert lab.client.get("/api/v1/purge/schedule", headers=lab.tech).status_code == 403


def test_a_clients_plan_is_its_own_part_of_the_whole(services: Services, world: World) -> None:
    with services.db() as db:
        whole = services.purge.plan(db)
        mine = services.purge.plan(db, world.client_a)
    assert {i.client_id for i in whole} == {world.client_a, world.client_b}
    assert mine and mine == [i for i in whole if i.client_id == world.client_a]
