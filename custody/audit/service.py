"""Append to and verify the hash-chained audit log."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from custody.audit.models import AuditEvent, AuditHead
from custody.db import write_kept
from custody.errors import Conflict
from custody.paging import Page, check_limit, newest_first
from custody.statements import DriverStatement

GENESIS = "0" * 64

# Run on the driver's cursor (custody.statements), not through the session: no ORM or
# execution-context bookkeeping per append. The head row's lock serializes appenders, so
# the next id is the head's plus one and the hash is known before the insert: three
# statements per event.
_TAKE_HEAD = DriverStatement(
    update(AuditHead).where(AuditHead.id == 1)
    .values(count=AuditHead.count + 1, last_id=AuditHead.last_id + 1)
    .returning(AuditHead.last_id, AuditHead.last_hash))
_INSERT_EVENT = DriverStatement(insert(AuditEvent), keys=(
    "id", "at", "actor", "action", "target", "details", "prev_hash", "hash"))
_MOVE_HEAD = DriverStatement(
    update(AuditHead).where(AuditHead.id == 1).values(last_hash=bindparam("digest")))


def _digest(prev_hash: str, event_id: int, at: datetime, actor: str, action: str,
            target: str, details: dict[str, Any]) -> str:
    body = json.dumps(
        [event_id, at.isoformat(), actor, action, target, details],
        sort_keys=True, separators=(",", ":"), default=str,
    )
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


@dataclass(frozen=True)
class AuditFilter:
    """Which events a view of the log shows; None or empty: any."""

    actor: str | None = None  # as recorded: "user:3", "purge", "cli"
    action_prefix: str | None = None
    target: str | None = None  # as recorded: "device:3"
    since: datetime | None = None
    until: datetime | None = None  # before this


class AuditLog:
    """Write audit events inside the caller's transaction, so they commit with the change."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self._clock = clock

    def record(self, db: Session, actor: str, action: str, target: str = "",
               **details: Any) -> int:
        """Append one event and return its id; the head row's update serializes concurrent
        appenders. Three prebuilt statements on the driver's cursor, no ORM flush: every
        write of the product pays this."""
        # Take the write lock first (UPDATE), and read the tip with it: no two appenders
        # chain off one tip.
        conn = db.connection()
        tip = _TAKE_HEAD.first(conn)
        if tip is None:  # the migrations make it: a missing head means a tampered database
            raise Conflict("the audit chain's head row is missing; run `custody audit verify`")
        event_id, prev_hash = int(tip.last_id), str(tip.last_hash)
        at = self._clock()
        digest = _digest(prev_hash, event_id, at, actor, action, target, details)
        _INSERT_EVENT.run(conn, {
            "id": event_id, "at": at, "actor": actor, "action": action, "target": target,
            "details": details, "prev_hash": prev_hash, "hash": digest})
        _MOVE_HEAD.run(conn, {"digest": digest})
        return event_id

    def find(self, db: Session, wanted: AuditFilter, limit: int | None = None,
             cursor: str | None = None) -> Page[AuditEvent]:
        """A page of events, newest first, filtered; the next page holds older ones."""
        stmt = select(AuditEvent)
        if wanted.actor:
            stmt = stmt.where(AuditEvent.actor == wanted.actor)
        if wanted.action_prefix:
            stmt = stmt.where(AuditEvent.action.startswith(wanted.action_prefix, autoescape=True))
        if wanted.target:
            stmt = stmt.where(AuditEvent.target == wanted.target)
        if wanted.since is not None:
            stmt = stmt.where(AuditEvent.at >= wanted.since)
        if wanted.until is not None:
            stmt = stmt.where(AuditEvent.at < wanted.until)
        return newest_first(db, stmt, AuditEvent.id, check_limit(limit, default=200), cursor)

    def record_kept(self, db: Session, actor: str, action: str, target: str = "",
                    **details: Any) -> int:
        """Append one event that is kept even if the unit of work fails (a refusal, say)."""
        return write_kept(db, lambda tx: self.record(tx, actor, action, target, **details))


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    problem: str | None = None


def verify_chain(db: Session, progress: Callable[[int], None] | None = None) -> VerifyResult:
    """Recompute every hash; report the first changed, inserted or deleted row."""
    stmt = select(AuditEvent).order_by(AuditEvent.id).execution_options(
        yield_per=500, populate_existing=True)
    events = db.execute(stmt).scalars()
    try:
        return _verify(db, events, progress)
    finally:
        events.close()  # a server-side cursor on PostgreSQL when we stop early


def _verify(db: Session, events: Iterable[AuditEvent],
            progress: Callable[[int], None] | None) -> VerifyResult:
    prev = GENESIS
    count = 0
    last_id = 0
    for event in events:
        count += 1
        if event.prev_hash != prev:
            return VerifyResult(False, count, f"event {event.id}: chain broken before it "
                                "(a row was deleted or inserted)")
        expected = _digest(prev, event.id, event.at, event.actor, event.action, event.target,
                           event.details)
        if expected != event.hash:
            return VerifyResult(False, count, f"event {event.id}: contents changed after writing")
        prev, last_id = event.hash, event.id
        if progress and count % 1000 == 0:
            progress(count)
    head = db.get(AuditHead, 1)
    if head is None:
        if count:
            return VerifyResult(False, count, "the chain head is missing")
        return VerifyResult(True, 0)
    if head.count != count or head.last_id != last_id or head.last_hash != prev:
        return VerifyResult(False, count, f"the chain head expects {head.count} events ending at "
                            f"event {head.last_id}, found {count} ending at {last_id} "
                            "(rows were deleted or added at the end)")
    return VerifyResult(True, count)
