"""What the scheduled jobs last did, kept in the database so that every node can tell
(/healthz): whether a scheduler leads, and when each job last ran to the end."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from custody.db import Base, UTCDateTime

LEADER = "(leader)"  # the row the active scheduler renews while it leads


class ScheduledJob(Base):
    """One scheduled job's last outcome (or, as LEADER, the active scheduler's heartbeat)."""

    __tablename__ = "scheduled_jobs"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    node: Mapped[str] = mapped_column(String(63))
    last_ok_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(300), nullable=True)


def _row(db: Session, name: str, node: str) -> ScheduledJob:
    row = db.get(ScheduledJob, name)
    if row is None:
        row = ScheduledJob(name=name, node=node)
        db.add(row)
    row.node = node
    return row


def record_run(db: Session, name: str, node: str, at: datetime, error: str | None = None
               ) -> None:
    """Note that job ``name`` ran on ``node``: to the end, or failing with ``error``."""
    row = _row(db, name, node)
    if error is None:
        row.last_ok_at = at
    else:
        row.last_failed_at, row.last_error = at, error[:300]


@dataclass(frozen=True)
class SchedulerStatus:
    active: bool  # a scheduler has renewed the lead recently
    last_ok: dict[str, datetime]  # each job's last run to the end


def status(db: Session, now: datetime, stale_after: timedelta) -> SchedulerStatus:
    rows = db.scalars(select(ScheduledJob)).all()
    leader = next((r for r in rows if r.name == LEADER), None)
    active = bool(leader and leader.last_ok_at and leader.last_ok_at > now - stale_after)
    return SchedulerStatus(active, {r.name: r.last_ok_at for r in rows
                                    if r.name != LEADER and r.last_ok_at is not None})
