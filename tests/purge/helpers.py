"""Helpers for purge tests: set dates through the API, search every stored byte."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.lab import Lab


def engagement(lab: Lab, device_ids: list[int], paid: str | None, warranty: str | None,
               title: str = "Router refresh") -> int:
    body: dict[str, Any] = {"title": title}
    if paid:
        body["paid_at"] = paid
    if warranty:
        body["warranty_until"] = warranty
    resp = lab.client.post(f"/api/v1/clients/{lab.client_id}/engagements", headers=lab.admin,
                           json=body)
    assert resp.status_code == 201, resp.json
    eid = int(resp.json["id"])
    from custody.clients.models import Engagement
    from custody.devices.models import Device

    with lab.services.db() as db:
        eng = db.get(Engagement, eid)
        assert eng is not None
        for did in device_ids:
            device = db.get(Device, did)
            assert device is not None
            eng.devices.append(device)
        db.commit()
    return eid


def schedule(lab: Lab) -> dict[str, dict[str, Any]]:
    resp = lab.client.get("/api/v1/purge/schedule", headers=lab.admin)
    assert resp.status_code == 200
    return {item["target"]: item for item in resp.json["items"]}


def stored_bytes(root: Path) -> bytes:
    """Every file under the installation: database and WAL, secret store, logs."""
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())
