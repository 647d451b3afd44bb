"""Lines held for a second person's approval (allow-list policies with ``confirm``).

JumpServer's command filters are the model: a line the client's allow-list does not
name is not sent to the device; it waits, in the same queue as session requests, for
one of the people the client's policy names as approvers. Nobody decides in time:
refused. An approved line runs once, in the session it was asked for, as it was asked.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from custody.accounts.roles import STAFF
from custody.accounts.service import Principal
from custody.audit.service import AuditLog
from custody.clock import Clock
from custody.config import BrokerSettings
from custody.db import transaction
from custody.devices.models import AccessSession, ClientPolicy, CommandApproval
from custody.errors import Conflict, Forbidden, NotFound
from custody.tenancy import require_role


class ApprovalState(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    EXPIRED = "expired"
    USED = "used"  # approved, and run
    CANCELLED = "cancelled"  # its requester was disabled


def may_approve(policy: ClientPolicy | None, who: Principal, requester_id: int | None) -> None:
    """Raise Forbidden unless ``who`` approves this client's requests (never their own)."""
    approver_role = policy.approver_role if policy else "admin"
    if not (who.role == "admin" or (approver_role == "technician" and who.role == "technician")):
        raise Forbidden(f"this client's requests are approved by: {approver_role}")
    if who.user_id == requester_id:
        raise Forbidden("a request cannot be approved by the person who made it")


class CommandApprovals:
    """Ask, wait for and decide approvals of single command lines."""

    def __init__(self, db: sessionmaker[Session], audit: AuditLog, clock: Clock,
                 settings: BrokerSettings) -> None:
        self._db = db
        self._audit = audit
        self._clock = clock
        self._settings = settings

    def ask(self, db: Session, session: AccessSession, actor: str, command: str
            ) -> CommandApproval:
        """Hold ``command`` (already redacted) for approval; audited."""
        now = self._clock()
        approval = CommandApproval(
            session_id=session.id, client_id=session.client_id, user_id=session.user_id,
            command=command, state=ApprovalState.PENDING, requested_at=now,
            expires_at=now + timedelta(seconds=self._settings.confirm_timeout_seconds))
        db.add(approval)
        db.flush()
        self._audit.record(db, actor, "command.approval_request", f"session:{session.id}",
                           approval_id=approval.id, command=command)
        return approval

    def wait(self, approval_id: int, stopped: Callable[[], bool] = lambda: False,
             poll: float = 0.25) -> ApprovalState:
        """Block until the approval is decided, expires, or ``stopped()``; return its state."""
        deadline = time.monotonic() + self._settings.confirm_timeout_seconds + 1
        while True:
            with transaction(self._db) as db:
                approval = db.get(CommandApproval, approval_id)
                if approval is None:
                    return ApprovalState.DENIED  # the session (and its requests) were purged
                if approval.state == ApprovalState.PENDING and (
                        self._clock() >= approval.expires_at or time.monotonic() > deadline
                        or stopped()):
                    self._expire(db, approval)
                if approval.state != ApprovalState.PENDING:
                    return ApprovalState(approval.state)
            time.sleep(poll)

    def _expire(self, db: Session, approval: CommandApproval) -> None:
        approval.state = ApprovalState.EXPIRED
        approval.decided_at = self._clock()
        self._audit.record(db, "broker", "command.approval_expire",
                           f"session:{approval.session_id}", approval_id=approval.id)

    def decide(self, db: Session, who: Principal, approval_id: int, approve: bool
               ) -> CommandApproval:
        approval = db.get(CommandApproval, approval_id)
        if approval is None:
            raise NotFound(f"approval request {approval_id} does not exist")
        if approval.state == ApprovalState.PENDING and self._clock() >= approval.expires_at:
            self._expire(db, approval)
        if approval.state != ApprovalState.PENDING:
            raise Conflict(f"approval request {approval_id} is {approval.state}")
        may_approve(db.get(ClientPolicy, approval.client_id), who, approval.user_id)
        approval.state = ApprovalState.APPROVED if approve else ApprovalState.DENIED
        approval.decided_by = who.user_id
        approval.decided_at = self._clock()
        self._audit.record(db, who.actor, "command.approve" if approve else "command.deny",
                           f"session:{approval.session_id}", approval_id=approval.id)
        return approval

    def get_for(self, db: Session, who: Principal, approval_id: int) -> CommandApproval:
        """An approval its requester or one of its approvers may see."""
        require_role(who, *STAFF)
        approval = db.get(CommandApproval, approval_id)
        if approval is None or not self._visible(db, who, approval):
            raise NotFound(f"approval request {approval_id} does not exist")
        return approval

    def _visible(self, db: Session, who: Principal, approval: CommandApproval) -> bool:
        if who.role == "admin" or approval.user_id == who.user_id:
            return True
        policy = db.get(ClientPolicy, approval.client_id)
        return bool(policy and policy.approver_role == "technician")

    def pending(self, db: Session, who: Principal) -> Sequence[CommandApproval]:
        """Requests ``who`` may decide, oldest first (expired ones are marked as such)."""
        require_role(who, *STAFF)
        rows = db.scalars(select(CommandApproval).where(
            CommandApproval.state == ApprovalState.PENDING).order_by(CommandApproval.id)).all()
        now = self._clock()
        for row in rows:
            if now >= row.expires_at:
                self._expire(db, row)
        return [r for r in rows if r.state == ApprovalState.PENDING and r.user_id != who.user_id
                and self._visible(db, who, r)]

    def mark_used(self, db: Session, approval_id: int) -> None:
        approval = db.get(CommandApproval, approval_id)
        if approval is not None and approval.state == ApprovalState.APPROVED:
            approval.state = ApprovalState.USED

    def use(self, db: Session, who: Principal, session_id: int, approval_id: int,
            command: str) -> None:
        """Spend an approval on the line it was given for (the API's second send)."""
        approval = self.get_for(db, who, approval_id)
        if approval.session_id != session_id or approval.user_id != who.user_id \
                or approval.command != command:
            raise Conflict(f"approval request {approval_id} was for another line or session")
        if approval.state != ApprovalState.APPROVED:
            raise Conflict(f"approval request {approval_id} is {approval.state}, not approved")
        approval.state = ApprovalState.USED
