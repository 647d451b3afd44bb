"""Append to and verify the hash-chained audit log."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from custody.audit.models import AuditEvent, AuditHead
from custody.db import write_kept

GENESIS = "0" * 64


def _digest(prev_hash: str, event_id: int, at: datetime, actor: str, action: str,
            target: str, details: dict[str, Any]) -> str:
    body = json.dumps(
        [event_id, at.isoformat(), actor, action, target, details],
        sort_keys=True, separators=(",", ":"), default=str,
    )
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


class AuditLog:
    """Write audit events inside the caller's transaction, so they commit with the change."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self._clock = clock

    def record(self, db: Session, actor: str, action: str, target: str = "",
               **details: Any) -> AuditEvent:
        """Append one event; the head row update serializes concurrent appenders."""
        # Take the write lock first (UPDATE), then read the tip: no two appenders chain off one tip.
        locked = db.execute(
            update(AuditHead).where(AuditHead.id == 1).values(count=AuditHead.count + 1)
        )
        if locked.rowcount == 0:  # type: ignore[attr-defined]
            db.add(AuditHead(id=1, last_id=0, last_hash=GENESIS, count=1))
            db.flush()
        head = db.execute(
            select(AuditHead).where(AuditHead.id == 1).execution_options(populate_existing=True)
        ).scalar_one()
        at = self._clock()
        event = AuditEvent(at=at, actor=actor, action=action, target=target,
                           details=details, prev_hash=head.last_hash, hash="")
        db.add(event)
        db.flush()
        event.hash = _digest(head.last_hash, event.id, at, actor, action, target, details)
        head.last_id = event.id
        head.last_hash = event.hash
        db.flush()
        return event

    def recent(self, db: Session, action_prefix: str = "", limit: int = 200
               ) -> Sequence[AuditEvent]:
        """The newest events, optionally of actions starting with ``action_prefix``."""
        stmt = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
        if action_prefix:
            stmt = stmt.where(AuditEvent.action.startswith(action_prefix))
        return db.scalars(stmt).all()

    def record_kept(self, db: Session, actor: str, action: str, target: str = "",
                    **details: Any) -> AuditEvent:
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
