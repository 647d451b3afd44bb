"""Import engagement and warranty dates from CSV: all rows or none, errors by line number.

Columns: client, device, engagement, paid_at, warranty_until (dates ISO 8601, or empty
for "not paid" / "no warranty"). Each row links the device to the engagement (created
if the client has none with that title) and sets the engagement's dates.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from custody.accounts.service import Principal
from custody.audit.service import AuditLog
from custody.clients.models import Client, Engagement
from custody.clients.service import check_order
from custody.clock import Clock, parse_when
from custody.devices.models import Device
from custody.errors import InvalidInput
from custody.purge.plan import PlanItem, PurgeKind, compute_plan
from custody.tenancy import require_role

COLUMNS = ["client", "device", "engagement", "paid_at", "warranty_until"]
MAX_ROWS = 100_000


@dataclass(frozen=True)
class ImportRow:
    line: int
    client: str
    device: str
    engagement: str
    paid_at: datetime | None
    warranty_until: datetime | None


@dataclass(frozen=True)
class PlanChange:
    device: str
    before: str
    after: str


@dataclass(frozen=True)
class ImportResult:
    rows: int
    engagements_created: int
    changes: list[PlanChange]
    dry_run: bool


def _date(value: str, column: str, line: int) -> datetime | None:
    value = value.strip()
    if not value:
        return None
    try:
        return parse_when(value)
    except ValueError:
        raise InvalidInput(f"line {line}: {column} {value!r} is not an ISO date "
                           "(YYYY-MM-DD)") from None


def parse(text: str) -> list[ImportRow]:
    """Parse and check every row; raise one InvalidInput listing every problem found."""
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None or [h.strip().lower() for h in header] != COLUMNS:
        raise InvalidInput(f"line 1: the header must be exactly: {','.join(COLUMNS)}")
    rows, problems = [], []
    for line, fields in enumerate(reader, start=2):
        if not any(f.strip() for f in fields):
            continue
        if len(fields) != len(COLUMNS):
            problems.append(f"line {line}: expected {len(COLUMNS)} fields, found {len(fields)}")
            continue
        client, device, engagement, paid, warranty = (f.strip() for f in fields)
        try:
            for name, value in (("client", client), ("device", device),
                                ("engagement", engagement)):
                if not value:
                    raise InvalidInput(f"line {line}: {name} is empty")
            paid_at = _date(paid, "paid_at", line)
            warranty_until = _date(warranty, "warranty_until", line)
            check_order(paid_at, warranty_until, f"line {line}: ")
        except InvalidInput as exc:
            problems.append(str(exc))
            continue
        rows.append(ImportRow(line, client, device, engagement, paid_at, warranty_until))
        if len(rows) > MAX_ROWS:
            raise InvalidInput(f"more than {MAX_ROWS} rows; split the file")
    if problems:
        raise InvalidInput("nothing was imported:\n" + "\n".join(problems))
    return rows


class DatesImporter:
    def __init__(self, audit: AuditLog, clock: Clock, grace_days: int) -> None:
        self._audit = audit
        self._clock = clock
        self._grace_days = grace_days

    def apply(self, db: Session, who: Principal, rows: list[ImportRow],
              dry_run: bool) -> ImportResult:
        """Apply the rows in ``db``'s transaction (the caller commits, or rolls back a dry run)."""
        require_role(who, "admin")
        clients = {c.name: c for c in db.scalars(select(Client))}
        problems = []
        resolved = []
        for row in rows:
            client = clients.get(row.client)
            device = None if client is None else db.scalar(select(Device).where(
                Device.client_id == client.id, Device.name == row.device))
            if client is None:
                problems.append(f"line {row.line}: client {row.client!r} not found")
            elif device is None:
                problems.append(f"line {row.line}: client {row.client!r} has no device "
                                f"{row.device!r}")
            else:
                resolved.append((row, client, device))
        if problems:
            raise InvalidInput("nothing was imported:\n" + "\n".join(problems))
        before = _states(compute_plan(db, self._clock(), self._grace_days))
        created = 0
        for row, client, device in resolved:
            eng = db.scalar(select(Engagement).where(Engagement.client_id == client.id,
                                                     Engagement.title == row.engagement))
            if eng is None:
                eng = Engagement(client_id=client.id, title=row.engagement,
                                 created_at=self._clock())
                db.add(eng)
                created += 1
            eng.paid_at = row.paid_at
            eng.warranty_until = row.warranty_until
            if device not in eng.devices:
                eng.devices.append(device)
            db.flush()
        after = _states(compute_plan(db, self._clock(), self._grace_days))
        changes = [PlanChange(name, before.get(name, "-"), state)
                   for name, state in sorted(after.items()) if before.get(name) != state]
        if not dry_run:
            self._audit.record(db, who.actor, "purge.import", "engagements", rows=len(rows),
                               engagements_created=created)
        return ImportResult(len(rows), created, changes, dry_run)


def _states(plan: list[PlanItem]) -> dict[str, str]:
    return {f"{i.target} {i.name}": i.state + (f" {i.due_at:%Y-%m-%d}" if i.due_at else "")
            for i in plan if i.kind == PurgeKind.DEVICE_ACCESS}
