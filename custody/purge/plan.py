"""The purge plan: for every device and closed client, what is due, when and why (DESIGN §4).

Computed from a handful of aggregate queries, so it stays linear in the number of
devices and needs no per-device round trips.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from sqlalchemy import case, func, select, true
from sqlalchemy.orm import Session

from custody.clients.models import Client, Engagement, engagement_devices
from custody.devices.models import Device
from custody.errors import Conflict
from custody.purge.models import Hold, HoldTarget


class PlanState(StrEnum):
    DUE = "due"
    SCHEDULED = "scheduled"
    WAITING = "waiting_for_payment"
    ON_HOLD = "on_hold"
    NO_ENGAGEMENT = "no_engagement"


class PurgeKind(StrEnum):
    DEVICE_ACCESS = "device_access"  # a device's credentials, addresses, keys, transcripts
    CLIENT = "client"  # everything about a client


DUE, SCHEDULED, WAITING, ON_HOLD, NO_ENGAGEMENT = PlanState


@dataclass(frozen=True)
class PlanItem:
    kind: PurgeKind
    target_id: int
    client_id: int
    name: str
    state: PlanState
    due_at: datetime | None
    reason: str

    @property
    def target(self) -> str:
        return f"{'device' if self.kind == PurgeKind.DEVICE_ACCESS else 'client'}:{self.target_id}"


@dataclass(frozen=True)
class _Terms:
    engagements: int
    unpaid: int
    last_paid: datetime | None
    last_warranty: datetime | None


def _end_of_service(terms: _Terms) -> datetime | None:
    ends = [d for d in (terms.last_paid, terms.last_warranty) if d is not None]
    return max(ends) if ends else None


def _aware(value: datetime | None) -> datetime | None:
    """SQLite aggregates (MAX) come back without the zone the column type would add."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def compute_plan(db: Session, now: datetime, grace_days: int,
                 client_id: int | None = None) -> list[PlanItem]:
    """Every active device and every closed client (or only ``client_id``'s), with its
    purge state."""
    grace = timedelta(days=grace_days)
    unpaid = func.sum(case((Engagement.paid_at.is_(None), 1), else_=0))
    device_terms = {
        row.device_id: _Terms(row.n, row.unpaid or 0, _aware(row.last_paid), _aware(row.last_w))
        for row in db.execute(
            select(engagement_devices.c.device_id, func.count().label("n"),
                   unpaid.label("unpaid"), func.max(Engagement.paid_at).label("last_paid"),
                   func.max(Engagement.warranty_until).label("last_w"))
            .join(Engagement, Engagement.id == engagement_devices.c.engagement_id)
            .where(Engagement.client_id == client_id if client_id is not None else true())
            .group_by(engagement_devices.c.device_id))
    }
    client_terms = {
        row.client_id: _Terms(row.n, row.unpaid or 0, _aware(row.last_paid), _aware(row.last_w))
        for row in db.execute(
            select(Engagement.client_id, func.count().label("n"), unpaid.label("unpaid"),
                   func.max(Engagement.paid_at).label("last_paid"),
                   func.max(Engagement.warranty_until).label("last_w"))
            .where(Engagement.client_id == client_id if client_id is not None else true())
            .group_by(Engagement.client_id))
    }
    holds = _active_holds(db, now)

    items: list[PlanItem] = []
    clients = {c.id: c for c in db.scalars(select(Client).where(
        Client.id == client_id if client_id is not None else true()))}
    for cid, client in clients.items():
        if client.closed_at is None and client.erasure_confirmed_at is None:
            continue
        items.append(_client_item(client, client_terms.get(cid), holds, now, grace))
    for row in db.execute(select(Device.id, Device.client_id, Device.name)
                          .where(Device.access_state == "active",
                                 Device.client_id == client_id if client_id is not None
                                 else true()).order_by(Device.id)):
        terms = device_terms.get(row.id)
        hold = holds.get((HoldTarget.DEVICE, row.id)) or holds.get((HoldTarget.CLIENT, row.client_id))
        items.append(_device_item(row.id, row.client_id, row.name, terms, hold, now, grace))
    return items


def plan_if(db: Session, now: datetime, grace_days: int, engagement_id: int,
            paid_at: datetime | None, warranty_until: datetime | None) -> list[PlanItem]:
    """The plan of the engagement's devices as it would be with these dates: what saving
    them would make due (nothing is written)."""
    grace = timedelta(days=grace_days)
    devices = list(db.execute(
        select(Device.id, Device.client_id, Device.name)
        .join(engagement_devices, engagement_devices.c.device_id == Device.id)
        .where(engagement_devices.c.engagement_id == engagement_id,
               Device.access_state == "active")))
    dates: dict[int, list[tuple[datetime | None, datetime | None]]] = {d.id: [] for d in devices}
    for device_id, eid, paid, warranty in db.execute(
            select(engagement_devices.c.device_id, Engagement.id, Engagement.paid_at,
                   Engagement.warranty_until)
            .join(Engagement, Engagement.id == engagement_devices.c.engagement_id)
            .where(engagement_devices.c.device_id.in_(list(dates)))):
        dates[device_id].append((paid_at, warranty_until) if eid == engagement_id
                                else (_aware(paid), _aware(warranty)))
    holds = _active_holds(db, now)
    items = []
    for d in devices:
        paid = [p for p, _ in dates[d.id] if p is not None]
        warranties = [w for _, w in dates[d.id] if w is not None]
        terms = _Terms(len(dates[d.id]), len(dates[d.id]) - len(paid),
                       max(paid) if paid else None, max(warranties) if warranties else None)
        hold = holds.get((HoldTarget.DEVICE, d.id)) or holds.get((HoldTarget.CLIENT, d.client_id))
        items.append(_device_item(d.id, d.client_id, d.name, terms, hold, now, grace))
    return items


def _active_holds(db: Session, now: datetime) -> dict[tuple[str, int], Hold]:
    """The hold in force for each target: the one that ends last."""
    holds: dict[tuple[str, int], Hold] = {}
    for active in db.scalars(select(Hold).where(Hold.released_at.is_(None), Hold.until > now)):
        key = (active.target_kind, active.target_id)
        if key not in holds or active.until > holds[key].until:
            holds[key] = active
    return holds


def _state(due_at: datetime, hold: Hold | None, now: datetime, reason: str
           ) -> tuple[PlanState, datetime, str]:
    # A hold matters only if it ends after the data would otherwise be destroyed.
    if hold is not None and hold.until > now and hold.until > due_at:
        return ON_HOLD, max(due_at, hold.until), f"on hold until {hold.until:%Y-%m-%d}: {hold.reason}"
    return (DUE if due_at <= now else SCHEDULED), due_at, reason


def _device_item(device_id: int, client_id: int, name: str, terms: _Terms | None,
                 hold: Hold | None, now: datetime, grace: timedelta) -> PlanItem:
    if terms is None:
        return PlanItem(PurgeKind.DEVICE_ACCESS, device_id, client_id, name, NO_ENGAGEMENT, None,
                        "no engagement covers this device: nothing to wait for, nothing due")
    if terms.unpaid:
        return PlanItem(PurgeKind.DEVICE_ACCESS, device_id, client_id, name, WAITING, None,
                        f"waiting for payment of {terms.unpaid} of {terms.engagements} engagements")
    end = _end_of_service(terms)
    if end is None:  # paid engagements always have a payment date; a row without one is damaged
        raise Conflict(f"device {device_id}: its engagements are paid but carry no dates")
    why = "paid" + (f", warranty until {terms.last_warranty:%Y-%m-%d}" if terms.last_warranty else "")
    if grace:
        why += f", plus {grace.days} days' grace"
    state, due, reason = _state(end + grace, hold, now, why)
    return PlanItem(PurgeKind.DEVICE_ACCESS, device_id, client_id, name, state, due, reason)


def _client_item(client: Client, terms: _Terms | None, holds: dict[tuple[str, int], Hold],
                 now: datetime, grace: timedelta) -> PlanItem:
    hold = holds.get((HoldTarget.CLIENT, client.id))
    if client.erasure_confirmed_at is not None:
        state, due, reason = _state(_aware(client.erasure_confirmed_at) or now, hold, now,
                                    "erasure requested by the client and confirmed")
        return PlanItem(PurgeKind.CLIENT, client.id, client.id, client.name, state, due, reason)
    if terms is not None and terms.unpaid:
        return PlanItem(PurgeKind.CLIENT, client.id, client.id, client.name, WAITING, None,
                        f"closed; waiting for payment of {terms.unpaid} engagements")
    closed = _aware(client.closed_at)
    if closed is None:
        raise Conflict(f"client {client.id} is {client.status} but has no closing date")
    ends = [closed] + ([e] if terms and (e := _end_of_service(terms)) else [])
    why = "closed and paid" + (f", warranty until {terms.last_warranty:%Y-%m-%d}"
                               if terms and terms.last_warranty else "")
    state, due, reason = _state(max(ends) + grace, hold, now, why)
    return PlanItem(PurgeKind.CLIENT, client.id, client.id, client.name, state, due, reason)


def due_items(items: Sequence[PlanItem]) -> list[PlanItem]:
    """What a run destroys now: clients first, then devices of clients not being purged."""
    clients = [i for i in items if i.kind == PurgeKind.CLIENT and i.state == DUE]
    gone = {i.target_id for i in clients}
    devices = [i for i in items if i.kind == PurgeKind.DEVICE_ACCESS and i.state == DUE
               and i.client_id not in gone]
    return clients + devices
