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
from typing import Any

from sqlalchemy import delete, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from custody.accounts.models import User
from custody.accounts.service import Principal
from custody.alerts.models import Notification
from custody.audit.service import AuditLog
from custody.certs.service import CertService
from custody.clients.models import Client, Contact, Engagement, engagement_devices
from custody.clock import Clock
from custody.config import PurgeSettings
from custody.db import transaction
from custody.devices.broker import Broker
from custody.devices.models import LIVE_STATES, AccessSession, ClientPolicy, Device, TranscriptChunk
from custody.devices.transcripts import TranscriptStore
from custody.errors import Conflict, InvalidInput, NotFound
from custody.purge.models import Hold, HoldTarget, PurgeReceipt, PurgeRun
from custody.purge.plan import PlanItem, PurgeKind, compute_plan, due_items
from custody.secrets import SecretStore, tenant_of_client
from custody.tenancy import require_role

log = logging.getLogger("custody.purge")
PURGE_LOCK_KEY = 0x637573746F6479  # "custody": one advisory lock id for purge runs
Checkpoint = Callable[[str], None]


@dataclass(frozen=True)
class RunResult:
    run_id: int | None
    dry_run: bool
    receipts: list[dict[str, Any]]


def receipt_json(r: PurgeReceipt) -> dict[str, Any]:
    return {"id": r.id, "run_id": r.run_id, "kind": r.kind, "target_id": r.target_id,
            "reason": r.reason, "state": r.state, "started_at": r.started_at.isoformat(),
            "finished_at": r.finished_at.isoformat() if r.finished_at else None,
            "counts": r.counts, "secrets": r.secrets,
            "outcome": "destroyed" if r.state == "done" else "in progress"}


class PurgeService:
    """Plan, hold and run purges."""

    def __init__(self, db: sessionmaker[Session], secrets: SecretStore, broker: Broker,
                 transcripts: TranscriptStore, audit: AuditLog, clock: Clock,
                 settings: PurgeSettings, lock_path: Path | None,
                 checkpoint: Checkpoint | None = None, certs: CertService | None = None) -> None:
        self._db = db
        self._secrets = secrets
        self._broker = broker
        self._transcripts = transcripts
        self._audit = audit
        self._clock = clock
        self._settings = settings
        self._lock_path = lock_path
        self._checkpoint = checkpoint or (lambda _step: None)
        self._certs = certs

    # -- plan and holds
    def plan(self, db: Session, client_id: int | None = None) -> list[PlanItem]:
        """The purge plan of everything, or of one client only."""
        return compute_plan(db, self._clock(), self._settings.grace_days, client_id)

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
                run_row = db.get(PurgeRun, run_id)
                assert run_row is not None
                run_row.finished_at = self._clock()
                run_row.outcome = "done"
                self._audit.record(db, actor, "purge.run.end", f"purge_run:{run_id}",
                                   receipts=receipt_ids)
                receipts = [receipt_json(r) for r in db.scalars(
                    select(PurgeReceipt).where(PurgeReceipt.id.in_(receipt_ids))
                    .order_by(PurgeReceipt.id))]
            self._compact()
            return RunResult(run_id, False, receipts)

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

    def _close_sessions(self, db: Session, device_ids: list[int], reason: str) -> int:
        live = db.scalars(select(AccessSession).where(
            AccessSession.device_id.in_(device_ids),
            AccessSession.state.in_(LIVE_STATES))).all()
        for s in live:
            self._broker.close(s.id)
            s.state, s.closed_at, s.close_reason = "closed", self._clock(), reason
        return len(live)

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
            receipt = db.get(PurgeReceipt, receipt_id)
            device = db.get(Device, device_id)
            assert receipt is not None
            counts = dict(receipt.counts)
            if device is not None and device.access_state != "purged":
                session_ids = list(db.scalars(select(AccessSession.id).where(
                    AccessSession.device_id == device_id)))
                counts["sessions_closed"] = self._close_sessions(db, [device_id],
                                                                 "device access data purged")
                counts["transcript_chunks"] = db.execute(delete(TranscriptChunk).where(
                    TranscriptChunk.session_id.in_(session_ids))).rowcount  # type: ignore[attr-defined]
                counts["session_addresses"] = db.execute(
                    update(AccessSession).where(AccessSession.device_id == device_id,
                                                AccessSession.source_ip.is_not(None))
                    .values(source_ip=None)).rowcount  # type: ignore[attr-defined]
                counts["host_keys"] = int(device.host_key is not None) + int(
                    device.host_key_pending is not None)
                counts["addresses"] = int(device.host is not None) + int(
                    device.egress_ip is not None)
                device.host = device.egress_ip = None
                device.host_key = device.host_key_pending = None
                device.secret_path = None
                device.access_state = "purged"
                device.purged_at = self._clock()
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
            receipt = db.get(PurgeReceipt, receipt_id)
            assert receipt is not None
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
            receipt = db.get(PurgeReceipt, receipt_id)
            assert receipt is not None
            receipt.state = "done"
            receipt.finished_at = self._clock()
            self._audit.record(db, "purge", "purge.client", f"client:{client_id}",
                               receipt_id=receipt_id, counts=receipt.counts)
        return receipt_id

    def _delete_client_rows(self, db: Session, client_id: int) -> dict[str, int]:
        device_ids = list(db.scalars(select(Device.id).where(Device.client_id == client_id)))
        session_ids = list(db.scalars(select(AccessSession.id).where(
            AccessSession.client_id == client_id)))
        counts = {"sessions_closed": self._close_sessions(db, device_ids, "client purged")}
        if self._certs is not None:
            # Ledger rows go; CRL entries stay (signed into a last CRL) until expiry.
            counts.update(self._certs.retire_client(db, client_id))

        def gone(stmt: Any) -> int:
            return int(db.execute(stmt).rowcount)  # type: ignore[attr-defined]

        counts["notifications"] = gone(delete(Notification).where(
            Notification.client_id == client_id))
        counts["transcript_chunks"] = gone(delete(TranscriptChunk).where(
            TranscriptChunk.session_id.in_(session_ids)))
        counts["sessions"] = gone(delete(AccessSession).where(AccessSession.client_id == client_id))
        counts["engagement_links"] = gone(delete(engagement_devices).where(
            engagement_devices.c.device_id.in_(device_ids)))
        counts["devices"] = gone(delete(Device).where(Device.client_id == client_id))
        counts["engagements"] = gone(delete(Engagement).where(Engagement.client_id == client_id))
        counts["contacts"] = gone(delete(Contact).where(Contact.client_id == client_id))
        counts["users"] = gone(delete(User).where(User.client_id == client_id))
        counts["policies"] = gone(delete(ClientPolicy).where(ClientPolicy.client_id == client_id))
        counts["holds"] = gone(delete(Hold).where(
            ((Hold.target_kind == HoldTarget.CLIENT) & (Hold.target_id == client_id))
            | ((Hold.target_kind == HoldTarget.DEVICE) & Hold.target_id.in_(device_ids))))
        counts["clients"] = gone(delete(Client).where(Client.id == client_id))
        return counts

    def _compact(self) -> None:
        """SQLite: fold the WAL back (its old page images would still hold purged rows)."""
        with self._db() as db:
            if db.get_bind().dialect.name == "sqlite":
                db.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))

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

