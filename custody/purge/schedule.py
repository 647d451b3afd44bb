"""The purge schedule as people read it: what goes in the next days, grouped by client,
what waits for payment, what is held, purges per week, and a CSV export."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from custody.purge.plan import DUE, ON_HOLD, SCHEDULED, WAITING, PlanItem

WINDOWS = (7, 30, 90)
CSV_FIELDS = ("kind", "target", "client_id", "client", "name", "state", "due_at", "reason")


@dataclass(frozen=True)
class ClientGroup:
    client_id: int
    client: str
    items: list[PlanItem]


@dataclass(frozen=True)
class Schedule:
    days: int
    upcoming: list[ClientGroup]  # due now or within ``days``, soonest client first
    waiting: list[PlanItem]  # work done, not paid yet
    held: list[PlanItem]

    @property
    def upcoming_count(self) -> int:
        return sum(len(g.items) for g in self.upcoming)


def build_schedule(plan: Sequence[PlanItem], clients: dict[int, str], now: datetime,
                   days: int) -> Schedule:
    """Group the plan for the next ``days`` by client."""
    horizon = now + timedelta(days=days)
    groups: dict[int, list[PlanItem]] = defaultdict(list)
    for item in plan:
        if item.state in (DUE, SCHEDULED) and item.due_at is not None and item.due_at <= horizon:
            groups[item.client_id].append(item)
    upcoming = [ClientGroup(cid, clients.get(cid, f"client {cid}"),
                            sorted(items, key=lambda i: i.due_at or now))
                for cid, items in groups.items()]
    upcoming.sort(key=lambda g: (g.items[0].due_at or now, g.client))
    return Schedule(days, upcoming, [i for i in plan if i.state == WAITING],
                    [i for i in plan if i.state == ON_HOLD])


def due_per_week(plan: Sequence[PlanItem], now: datetime, weeks: int = 12) -> list[int]:
    """How many purges fall in each of the next ``weeks`` weeks (overdue ones in the first)."""
    counts = [0] * weeks
    for item in plan:
        if item.state in (DUE, SCHEDULED) and item.due_at is not None:
            week = max(0, (item.due_at - now).days // 7)
            if week < weeks:
                counts[week] += 1
    return counts


def schedule_csv(plan: Sequence[PlanItem], clients: dict[int, str]) -> str:
    """The whole plan as CSV, one row per device or client, soonest first."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_FIELDS)
    for item in sorted(plan, key=lambda i: (i.due_at is None,
                                            i.due_at.timestamp() if i.due_at else 0, i.target)):
        writer.writerow([item.kind, item.target, item.client_id,
                         _cell(clients.get(item.client_id, "")), _cell(item.name), item.state,
                         item.due_at.isoformat() if item.due_at else "", _cell(item.reason)])
    return out.getvalue()


def _cell(value: str) -> str:
    """Spreadsheets run cells that start with = + - @ as formulas: defuse them."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
