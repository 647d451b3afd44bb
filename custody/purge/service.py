"""Execute purges: destroy device access data and finished clients, resumably, with receipts.

Each purge is a short sequence of idempotent steps, and the receipt (state
``in_progress``) is written before the first one. A run that dies anywhere is
finished by the next run, which resumes every unfinished receipt first.
"""

from __future__ import annotations

import fcntl
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from custody.accounts.service import Principal
from custody.audit.service import AuditLog
from custody.clients.models import Client, Engagement
from custody.clock import Clock
from custody.config import PurgeSettings
from custody.db import fold_log, rows_changed, transaction
from custody.devices.models import LIVE_STATES, AccessSession, Device, TranscriptChunk
from custody.devices.transcripts import TranscriptStore
from custody.errors import Conflict, InvalidInput, NotFound
from custody.purge.models import Hold, HoldTarget, PurgeReceipt, PurgeRun
from custody.purge.plan import PlanItem, PurgeKind, compute_plan, due_items, plan_if
from custody.secrets import SecretStore, tenant_of_client
from custody.tenancy import ClientData, DeviceAccessData, get_owned, require_role

log = logging.getLogger("custody.purge")
PURGE_LOCK_KEY = 0x637573746F6479  # "custody": one advisory lock id for purge runs
Checkpoint = Callable[[str], None]


@dataclass(frozen=True)
class RunResult:
    run_id: int | None
    dry_run: bool
    receipts: list[dict[str, Any]]


class ClientReceipts:
    """The purge receipts about a client and its devices: its part of the client's export
    (custody.tenancy.ClientData). Receipts hold no personal data; they stay when the rest
    goes, as the proof of what was destroyed."""

    def export_client(self, db: Session, client_id: int) -> dict[str, Any]:
        devices = select(Device.id).where(Device.client_id == client_id)
        rows = db.scalars(select(PurgeReceipt).where(
            ((PurgeReceipt.kind == PurgeKind.DEVICE_ACCESS) & PurgeReceipt.target_id.in_(devices))
            | ((PurgeReceipt.kind == PurgeKind.CLIENT) & (PurgeReceipt.target_id == client_id)))
            .order_by(PurgeReceipt.id))
        return {"purge_receipts": [receipt_json(r) for r in rows]}

    def forget_client(self, db: Session, client_id: int) -> dict[str, int]:
        return {}  # the receipts are what stays


def receipt_json(r: PurgeReceipt) -> dict[str, Any]:
    return {"id": r.id, "run_id": r.run_id, "kind": r.kind, "target_id": r.target_id,
            "reason": r.reason, "state": r.state, "started_at": r.started_at.isoformat(),
            "finished_at": r.finished_at.isoformat() if r.finished_at else None,
            "counts": r.counts, "secrets": r.secrets,
            "outcome": "destroyed" if r.state == "done" else "in progress"}


R = TypeVar("R", PurgeRun, PurgeReceipt)


def _row(db: Session, model: type[R], row_id: int) -> R:
    """A run's own record; gone only if someone deleted it under the running purge."""
    row = db.get(model, row_id)
    if row is None:
        raise Conflict(f"{model.__tablename__} {row_id} was deleted while the purge ran")
    return row


class PurgeService:
    """Plan, hold and run purges."""

    def __init__(self, db: sessionmaker[Session], secrets: SecretStore,
                 transcripts: TranscriptStore, audit: AuditLog, clock: Clock,
                 settings: PurgeSettings, lock_path: Path | None,
                 client_data: Sequence[ClientData], device_access: Sequence[DeviceAccessData],
                 checkpoint: Checkpoint | None = None) -> None:
        """``client_data`` and ``device_access`` are the domains' own purges, in the order
        they must run (whatever others point at goes first; the client's row last)."""
        self._db = db
        self._secrets = secrets
        self._client_data = client_data
        self._device_access = device_access
        self._transcripts = transcripts
        self._audit = audit
        self._clock = clock
        self._settings = settings
        self._lock_path = lock_path
        self._checkpoint = checkpoint or (lambda _step: None)

    # -- plan and holds
    def plan(self, db: Session, client_id: int | None = None) -> list[PlanItem]:
        """The purge plan of everything, or of one client only."""
        return compute_plan(db, self._clock(), self._settings.grace_days, client_id)

    def newly_due(self, db: Session, who: Principal, engagement_id: int,
                  paid_at: datetime | None, warranty_until: datetime | None) -> list[PlanItem]:
        """The devices that saving these dates on the engagement would make due at once
        (destroyed at the next sweep) and are not due already."""
        require_role(who, "admin")
        now = self._clock()
        engagement = db.get(Engagement, engagement_id)
        if engagement is None:
            raise NotFound(f"engagement {engagement_id} does not exist")
        due_now = {i.target_id for i in self.plan(db, engagement.client_id) if i.state == "due"}
        return [i for i in plan_if(db, now, self._settings.grace_days, engagement_id, paid_at,
                                   warranty_until)
                if i.state == "due" and i.target_id not in due_now]

    def add_hold(self, db: Session, who: Principal, target_kind: str, target_id: int,
                 reason: str, until: datetime) -> Hold:
        require_role(who, "admin")
        if target_kind not in tuple(HoldTarget):
            raise InvalidInput("target_kind must be device or client", field="target_kind")
        reason = reason.strip()
        if not 3 <= len(reason) <= 500:
            raise InvalidInput("reason must be 3-500 characters: say why the data must stay", field="reason")
        if until <= self._clock():
            raise InvalidInput("until must be in the future", field="until")
        model = Device if target_kind == HoldTarget.DEVICE else Client
        if db.get(model, target_id) is None:
            raise NotFound(f"{target_kind} {target_id} does not exist")
        hold = Hold(target_kind=target_kind, target_id=target_id, reason=reason, until=until,
                    created_by=who.user_id, created_at=self._clock())
        db.add(hold)
        db.flush()
        self._audit.record(db, who.actor, "hold.add", f"{target_kind}:{target_id}",
                           hold_id=hold.id, until=until.isoformat(), reason=reason)
        return hold

    def get_hold(self, db: Session, who: Principal, hold_id: int) -> Hold:
        require_role(who, "admin")
        hold = db.get(Hold, hold_id)
        if hold is None:
            raise NotFound(f"hold {hold_id} does not exist")
        return hold

    def release_hold(self, db: Session, who: Principal, hold_id: int) -> Hold:
        require_role(who, "admin")
        hold = db.get(Hold, hold_id)
        if hold is None:
            raise NotFound(f"hold {hold_id} does not exist")
        if hold.released_at is None:
            hold.released_at = self._clock()
            self._audit.record(db, who.actor, "hold.release",
                               f"{hold.target_kind}:{hold.target_id}", hold_id=hold.id)
        return hold

    def active_holds(self, db: Session) -> Sequence[Hold]:
        return db.scalars(select(Hold).where(Hold.released_at.is_(None),
                                             Hold.until > self._clock()).order_by(Hold.until)).all()

    # -- running
    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        """One purge run at a time; a second one is refused, not queued.

        PostgreSQL installations (several nodes) use an advisory lock; SQLite ones a lock file.
        """
        with self._db() as db:
            if db.get_bind().dialect.name == "postgresql":
                if not db.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": PURGE_LOCK_KEY}):
                    raise Conflict("another purge run is in progress; try again when it ends")
                try:
                    yield
                finally:
                    db.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": PURGE_LOCK_KEY})
                return
        if self._lock_path is None:
            yield
            return
        self._lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self._lock_path, "a+") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise Conflict("another purge run is in progress; try again when it ends") from None
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def run(self, actor: str, dry_run: bool = False, trigger: str = "manual",
            progress: Callable[[int, int], None] | None = None) -> RunResult:
        """Destroy everything due (and finish anything a crashed run left); or just list it."""
        with transaction(self._db) as db:
            items = due_items(self.plan(db))
            pending = db.scalars(select(PurgeReceipt).where(
                PurgeReceipt.state != "done").order_by(PurgeReceipt.id)).all()
            resumed = [(PurgeKind(r.kind), r.target_id) for r in pending]
        if dry_run:
            return RunResult(None, True, [
                {"kind": i.kind, "target_id": i.target_id, "target": i.target,
                 "due_at": i.due_at.isoformat() if i.due_at else None, "reason": i.reason,
                 "outcome": "would be destroyed"} for i in items])
        with self._exclusive():
            with transaction(self._db) as db:
                run = PurgeRun(started_at=self._clock(), dry_run=False, trigger=trigger)
                db.add(run)
                db.flush()
                run_id = run.id
                self._audit.record(db, actor, "purge.run.start", f"purge_run:{run_id}",
                                   due=len(items), resuming=len(resumed))
            work = resumed + [(i.kind, i.target_id) for i in items
                              if (i.kind, i.target_id) not in resumed]
            reasons = {(i.kind, i.target_id): i.reason for i in items}
            receipt_ids = []
            for n, (kind, target_id) in enumerate(work, 1):
                reason = reasons.get((kind, target_id), "resumed after an interrupted run")
                if kind == PurgeKind.CLIENT:
                    receipt_ids.append(self._purge_client(run_id, target_id, reason))
                else:
                    receipt_ids.append(self._purge_device(run_id, target_id, reason))
                if progress:
                    progress(n, len(work))
            with transaction(self._db) as db:
                run_row = _row(db, PurgeRun, run_id)
                run_row.finished_at = self._clock()
                run_row.outcome = "done"
                self._audit.record(db, actor, "purge.run.end", f"purge_run:{run_id}",
                                   receipts=receipt_ids)
                receipts = [receipt_json(r) for r in db.scalars(
                    select(PurgeReceipt).where(PurgeReceipt.id.in_(receipt_ids))
                    .order_by(PurgeReceipt.id))]
            self._compact()
            return RunResult(run_id, False, receipts)

    def delete_device(self, db: Session, who: Principal, device_id: int) -> dict[str, Any]:
        """Delete a device now, as a purge would destroy its access data: every version
        of its credentials, its addresses and host keys, with a receipt. Refused while a
        session on it is live. Its row stays as the receipt's target, and its name is
        free again. ``db`` is only read: the destruction runs in units of its own."""
        require_role(who, "admin")
        device = get_owned(db, Device, device_id, who, "device")
        if device.access_state == "purged":
            raise Conflict(f"device {device_id} is deleted (or purged) already")
        live = db.scalar(select(func.count()).select_from(AccessSession).where(
            AccessSession.device_id == device_id, AccessSession.state.in_(LIVE_STATES)))
        if live:
            raise Conflict(f"device {device_id} has {live} live session(s): close them first")
        with self._exclusive():
            with transaction(self._db) as tx:
                run = PurgeRun(started_at=self._clock(), dry_run=False, trigger="delete")
                tx.add(run)
                tx.flush()
                run_id = run.id
                self._audit.record(tx, who.actor, "device.delete", f"device:{device_id}",
                                   purge_run=run_id)
            receipt_id = self._purge_device(run_id, device_id, f"deleted by {who.actor}")
            with transaction(self._db) as tx:
                run_row = _row(tx, PurgeRun, run_id)
                run_row.finished_at, run_row.outcome = self._clock(), "done"
                receipt = receipt_json(_row(tx, PurgeReceipt, receipt_id))
        self._compact()
        return receipt

    def _receipt(self, run_id: int, kind: str, target_id: int, reason: str,
                 secret_paths: list[str]) -> int:
        """Find the unfinished receipt for this target, or start one listing what will go."""
        with transaction(self._db) as db:
            existing = db.scalar(select(PurgeReceipt).where(
                PurgeReceipt.kind == kind, PurgeReceipt.target_id == target_id,
                PurgeReceipt.state != "done"))
            if existing is not None:
                existing.run_id = run_id
                return existing.id
            receipt = PurgeReceipt(
                run_id=run_id, kind=kind, target_id=target_id, reason=reason[:200],
                state="in_progress", started_at=self._clock(), counts={},
                secrets=[{"path": p, "versions": self._secrets.versions(p)} for p in secret_paths])
            db.add(receipt)
            db.flush()
            return receipt.id

    def _purge_device(self, run_id: int, device_id: int, reason: str) -> int:
        with transaction(self._db) as db:
            device = db.get(Device, device_id)
            path = device.secret_path if device else None
        receipt_id = self._receipt(run_id, PurgeKind.DEVICE_ACCESS, device_id, reason,
                                   [path] if path else [])
        self._checkpoint("device:receipt")
        if path:
            self._secrets.destroy(path)  # every version and the metadata
        self._checkpoint("device:secrets")
        with transaction(self._db) as db:
            receipt = _row(db, PurgeReceipt, receipt_id)
            device = db.get(Device, device_id)
            counts = dict(receipt.counts)
            if device is not None and device.access_state != "purged":
                for domain in self._device_access:
                    counts.update(domain.forget_device_access(db, device_id))
            counts["secrets"] = len(receipt.secrets)
            counts["secret_versions"] = sum(len(s["versions"]) for s in receipt.secrets)
            receipt.counts = counts
            receipt.state = "done"
            receipt.finished_at = self._clock()
            self._checkpoint("device:before-commit")
            self._audit.record(db, "purge", "purge.device_access", f"device:{device_id}",
                               receipt_id=receipt_id, counts=counts)
        return receipt_id

    def _purge_client(self, run_id: int, client_id: int, reason: str) -> int:
        tenant = tenant_of_client(client_id)
        receipt_id = self._receipt(run_id, "client", client_id, reason,
                                   self._secrets.list_paths(tenant))
        self._checkpoint("client:receipt")
        with transaction(self._db) as db:
            receipt = _row(db, PurgeReceipt, receipt_id)
            if receipt.state == "in_progress":
                counts = self._delete_client_rows(db, client_id)
                counts["secrets"] = len(receipt.secrets)
                counts["secret_versions"] = sum(len(s["versions"]) for s in receipt.secrets)
                receipt.counts = counts
                receipt.state = "rows_deleted"
        self._checkpoint("client:rows")
        # Last, the client's data key: every copy of its secrets, in any backup, goes dark.
        self._secrets.shred_tenant(tenant)
        self._transcripts.forget_client(client_id)
        self._checkpoint("client:secrets")
        with transaction(self._db) as db:
            receipt = _row(db, PurgeReceipt, receipt_id)
            receipt.state = "done"
            receipt.finished_at = self._clock()
            self._audit.record(db, "purge", "purge.client", f"client:{client_id}",
                               receipt_id=receipt_id, counts=receipt.counts)
        return receipt_id

    def _delete_client_rows(self, db: Session, client_id: int) -> dict[str, int]:
        """Each domain deletes its own rows of the client; the purge's own holds go here."""
        device_ids = list(db.scalars(select(Device.id).where(Device.client_id == client_id)))
        counts: dict[str, int] = {}
        for domain in self._client_data:
            counts.update(domain.forget_client(db, client_id))
        counts["holds"] = rows_changed(db, delete(Hold).where(
            ((Hold.target_kind == HoldTarget.CLIENT) & (Hold.target_id == client_id))
            | ((Hold.target_kind == HoldTarget.DEVICE) & Hold.target_id.in_(device_ids))))
        return counts

    def _compact(self) -> None:
        """SQLite: fold the WAL back (its old page images would still hold purged rows)."""
        with self._db() as db:
            if not fold_log(db):
                log.error("the write-ahead log could not be folded back after a purge: "
                          "page images of purged rows stay in it until the next checkpoint")

    def receipts(self, db: Session, limit: int = 100) -> Sequence[PurgeReceipt]:
        return db.scalars(select(PurgeReceipt).order_by(PurgeReceipt.id.desc()).limit(limit)).all()

    def retention_sweep(self, db: Session) -> int:
        """Delete closed sessions (and transcripts) older than the retention period (P4)."""
        cutoff = self._clock() - timedelta(days=self._settings.session_retention_days)
        old = list(db.scalars(select(AccessSession.id).where(
            AccessSession.closed_at.is_not(None), AccessSession.closed_at < cutoff)))
        if not old:
            return 0
        db.execute(delete(TranscriptChunk).where(TranscriptChunk.session_id.in_(old)))
        db.execute(delete(AccessSession).where(AccessSession.id.in_(old)))
        self._audit.record(db, "scheduler", "retention.sessions", "sessions", deleted=len(old))
        return len(old)

