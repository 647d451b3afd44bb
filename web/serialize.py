"""Turn domain objects into JSON-ready dicts; what a client user sees is chosen here."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from custody.accounts.service import Principal
from custody.clients.models import Client, Contact, Engagement
from custody.devices.models import Device


def when(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def client_json(c: Client) -> dict[str, Any]:
    return {"id": c.id, "name": c.name, "status": c.status, "created_at": when(c.created_at),
            "closed_at": when(c.closed_at)}


def contact_json(c: Contact) -> dict[str, Any]:
    return {"id": c.id, "client_id": c.client_id, "kind": c.kind, "value": c.value,
            "purposes": c.purposes, "verified": c.verified_at is not None,
            "verified_at": when(c.verified_at), "unsubscribed_at": when(c.unsubscribed_at)}


def engagement_json(e: Engagement) -> dict[str, Any]:
    return {"id": e.id, "client_id": e.client_id, "title": e.title, "paid_at": when(e.paid_at),
            "warranty_until": when(e.warranty_until), "closed_at": when(e.closed_at),
            "device_ids": sorted(d.id for d in e.devices)}


def device_json(d: Device, who: Principal) -> dict[str, Any]:
    """Staff see addresses; a client sees its device names and state only. Nobody sees secrets."""
    out: dict[str, Any] = {"id": d.id, "client_id": d.client_id, "name": d.name,
                           "device_type": d.device_type, "access_state": d.access_state,
                           "purged_at": when(d.purged_at),
                           "engagement_ids": sorted(e.id for e in d.engagements)}
    if who.is_staff:
        out.update(host=d.host, port=d.port, egress_ip=d.egress_ip,
                   has_credentials=d.secret_path is not None,
                   host_key_pinned=d.host_key is not None)
    return out
