"""Access sessions: who may open one, approval, commands under policy, expiry, transcripts."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from custody.accounts.models import User
from custody.accounts.roles import STAFF
from custody.accounts.service import Principal
from custody.audit.service import AuditLog
from custody.clients.models import Client
from custody.clock import Clock, iso
from custody.config import BrokerSettings
from custody.db import before_io, rows_changed, write_kept
from custody.devices.approvals import ApprovalState, CommandApprovals, may_approve
from custody.devices.broker import Broker, Terminal
from custody.devices.models import (
    LIVE_STATES,
    AccessSession,
    ClientPolicy,
    CommandApproval,
    Device,
    SessionState,
    TranscriptChunk,
)
from custody.devices.platforms import platform_for
from custody.devices.policy import CommandPolicy, Verdict, check_shape
from custody.devices.replay import Line, matches, readable
from custody.devices.transcripts import TranscriptLine, TranscriptStore
from custody.errors import (
    BackendUnavailable,
    CommandRefused,
    Conflict,
    CustodyError,
    Forbidden,
    HostKeyMismatch,
    InvalidInput,
    NotFound,
)
from custody.logs import scrub
from custody.mail import Mailer, Message
from custody.paging import MOST, Page, check_limit, newest_first
from custody.tenancy import require_client_access, require_role

log = logging.getLogger("custody.sessions")
MAX_CONFIG_LINES = 200


@dataclass(frozen=True)
class CommandResult:
    output: str
    approval: CommandApproval | None = None  # set when the line waits for approval instead


@dataclass(frozen=True)
class SessionFilter:
    """Which sessions a list shows; None or empty: any."""

    state: str | None = None
    client_id: int | None = None
    device_id: int | None = None


class SessionService:
    """Open, use and close sessions; every step is audited."""

    def __init__(self, broker: Broker, transcripts: TranscriptStore, audit: AuditLog,
                 clock: Clock, settings: BrokerSettings, mailer: Mailer,
                 approvals: CommandApprovals) -> None:
        self._broker = broker
        self.approvals = approvals
        self._transcripts = transcripts
        self._audit = audit
        self._clock = clock
        self._settings = settings
        self._mailer = mailer

    # -- requesting and opening
    def request(self, db: Session, who: Principal, device_id: int, reason: str,
                ttl_seconds: int | None, privileged: bool = False) -> AccessSession:
        """Create a session; it opens at once unless the client's policy wants approval.

        A privileged session is elevated (enable, sudo) by the broker at login with the
        device's stored secret; the client's policy says who may ask for one."""
        require_role(who, *STAFF)
        reason = reason.strip()
        if not 3 <= len(reason) <= 200:
            raise InvalidInput("reason must be 3-200 characters (a ticket reference)", field="reason")
        ttl = self._settings.default_ttl_seconds if ttl_seconds is None else ttl_seconds
        if not 60 <= ttl <= self._settings.max_ttl_seconds:
            raise InvalidInput(f"ttl_seconds must be between 60 and {self._settings.max_ttl_seconds}",
                               field="ttl_seconds")
        device = db.get(Device, device_id)
        if device is None:
            raise NotFound(f"device {device_id} does not exist")
        if device.access_state != "active" or not device.secret_path:
            raise Conflict(f"device {device_id} has no access data (purged); an admin must "
                           "re-enrol it")
        if device.host_key is None:
            raise Conflict(f"device {device_id} has no pinned host key; an admin must scan and "
                           "confirm it first")
        if device.egress_ip is None:
            raise Conflict(f"device {device_id} names no egress address")
        if device.rotating_since is not None:
            raise Conflict(f"device {device_id}'s credentials are being rotated; try again "
                           "in a minute")
        busy = db.scalar(select(func.count()).select_from(AccessSession).where(
            AccessSession.device_id == device_id, AccessSession.state.in_(LIVE_STATES)))
        if (busy or 0) >= self._settings.max_sessions_per_device:
            raise Conflict(f"device {device_id} already has {busy} sessions "
                           f"(limit {self._settings.max_sessions_per_device})")
        policy = db.get(ClientPolicy, device.client_id)
        if privileged:
            _may_elevate(policy, who, device)
        needs_approval = policy is not None and policy.require_approval
        session = AccessSession(device_id=device.id, client_id=device.client_id,
                                user_id=who.user_id, reason=reason, ttl_seconds=ttl,
                                state=SessionState.PENDING if needs_approval else SessionState.APPROVED,
                                requested_at=self._clock(), privileged=privileged)
        db.add(session)
        db.flush()
        self._audit.record(db, who.actor, "session.request", f"session:{session.id}",
                           device_id=device.id, client_id=device.client_id, reason=reason,
                           ttl_seconds=ttl, needs_approval=needs_approval, privileged=privileged)
        return session

    def notify_approvers(self, db: Session, session: AccessSession, requester: str) -> bool:
        """Mail the approval request to ``broker.approval_email``, else to the confirmed
        addresses of the people who may approve it; return whether any went out."""
        recipients = [self._settings.approval_email] if self._settings.approval_email else \
            self._approver_addresses(db, session)
        if not recipients:
            return False
        before_io(db)
        sent = False
        for to in recipients:
            try:
                self._mailer.send(Message(
                    to=to, subject=f"Approval needed: session {session.id}",
                    text=(f"{requester} asks for a session on device {session.device_id} "
                          f"({session.ttl_seconds // 60} minutes).\nReason: {session.reason}\n\n"
                          f"Approve or deny it in custody: session {session.id}.\n")))
                sent = True
            except BackendUnavailable as exc:
                log.warning("an approval request for session %s was not sent: %s",
                            session.id, exc)
        return sent

    def _approver_addresses(self, db: Session, session: AccessSession) -> list[str]:
        policy = db.get(ClientPolicy, session.client_id)
        roles = ["admin"] if (policy is None or policy.approver_role == "admin") else list(STAFF)
        return list(db.scalars(select(User.email).where(
            User.role.in_(roles), User.disabled_at.is_(None), User.email.is_not(None),
            User.email_verified_at.is_not(None), User.id != session.user_id)))

    def open(self, db: Session, session_id: int) -> AccessSession:
        """Connect an approved session; on failure it ends as 'failed', never left open."""
        session = self._get(db, session_id)
        if session.state != SessionState.APPROVED:
            raise Conflict(f"session {session_id} is {session.state}, not approved")
        _device_of(db, session)  # refuse before connecting when the device is gone
        before_io(db)
        try:
            opened = self._broker.open(session_id)
        except CustodyError as exc:
            write_kept(db, partial(self._record_open_failure, session_id=session_id, exc=exc))
            raise
        session = self._get(db, session_id)
        now = self._clock()
        session.state = SessionState.OPEN
        session.opened_at = now
        session.expires_at = now + timedelta(seconds=session.ttl_seconds)
        session.source_ip = opened.source_ip
        session.node = opened.node
        session.host_key_verified = True
        self._audit.record(db, "broker", "session.open", f"session:{session_id}",
                           source_ip=opened.source_ip)
        return session

    def _record_open_failure(self, db: Session, session_id: int, exc: CustodyError) -> None:
        session = self._get(db, session_id)
        device = _device_of(db, session)
        self._mark_closed(session, SessionState.FAILED, str(exc)[:200])
        if isinstance(exc, HostKeyMismatch):
            device.host_key_mismatch_at = self._clock()
            self._audit.record(db, "broker", "device.host_key_mismatch", f"device:{device.id}",
                               session_id=session_id)
        self._audit.record(db, "broker", "session.refused", f"session:{session_id}",
                           error=exc.code)

    def decide(self, db: Session, who: Principal, session_id: int, approve: bool) -> AccessSession:
        """Approve or deny a pending session, as the client's policy says who may."""
        session = self._get(db, session_id)
        if session.state != SessionState.PENDING:
            raise Conflict(f"session {session_id} is {session.state}, not waiting for approval")
        may_approve(db.get(ClientPolicy, session.client_id), who, session.user_id)
        session.approved_by = who.user_id
        if approve:
            session.state = SessionState.APPROVED
        else:
            session.state = SessionState.DENIED
            session.closed_at = self._clock()
        self._audit.record(db, who.actor, "session.approve" if approve else "session.deny",
                           f"session:{session_id}")
        return session

    # -- using
    def _get(self, db: Session, session_id: int) -> AccessSession:
        session = db.get(AccessSession, session_id)
        if session is None:
            raise NotFound(f"session {session_id} does not exist")
        return session

    def get_for(self, db: Session, who: Principal, session_id: int) -> AccessSession:
        """A session the caller may see: admins all, technicians their own."""
        require_role(who, *STAFF)
        session = self._get(db, session_id)
        if who.role != "admin" and session.user_id != who.user_id:
            policy = db.get(ClientPolicy, session.client_id)
            if not (policy and policy.approver_role == "technician"
                    and session.state == SessionState.PENDING):
                raise NotFound(f"session {session_id} does not exist")
        return session

    def _usable(self, db: Session, who: Principal, session_id: int) -> AccessSession:
        session = self.get_for(db, who, session_id)
        if who.role != "admin" and session.user_id != who.user_id:
            raise Forbidden("only the technician who opened the session can use it")
        if session.state == SessionState.OPEN and session.expires_at and session.expires_at <= self._clock():
            self._broker.close(session.id)
            write_kept(db, lambda tx: self._mark_closed(self._get(tx, session_id),
                                                        SessionState.EXPIRED, "time limit reached"))
        if session.state == SessionState.FAILED:  # e.g. its node died (custody.cluster)
            raise Conflict(f"session {session_id} failed: {session.close_reason}; "
                           "open a new one")
        if session.state != SessionState.OPEN:
            raise Conflict(f"session {session_id} is {session.state}; open a new one")
        return session

    def policy_for(self, db: Session, device: Device) -> CommandPolicy:
        client_policy = db.get(ClientPolicy, device.client_id)
        extra = [*self._settings.deny_commands, *(client_policy.deny_commands if client_policy else [])]
        allow = client_policy.allow_commands if client_policy else None
        confirm = bool(client_policy and client_policy.unlisted_action == "confirm")
        return CommandPolicy.for_device(device.device_type, extra, allow, confirm)

    def run(self, db: Session, who: Principal, session_id: int,
            command: str | Sequence[str], approval_id: int | None = None) -> CommandResult:
        """Check the command against policy, then send it through the broker.

        Under an allow-list with ``confirm``, an unlisted command is not run: the result
        carries an approval request instead, and the same command sent again with that
        request's id runs once it is approved."""
        session = self._usable(db, who, session_id)
        policy = self.policy_for(db, _device_of(db, session))
        lines = [command] if isinstance(command, str) else list(command)
        if not lines or len(lines) > MAX_CONFIG_LINES:
            raise InvalidInput(f"config must hold 1-{MAX_CONFIG_LINES} lines", field="config")
        shown = self._broker.redact(session_id, scrub(" ; ".join(lines)))
        unlisted = False
        for line in lines:
            check_shape(line)
            try:
                decision = policy.decide(line)  # read once: bashlex is the costly part
                if decision.verdict is Verdict.UNLISTED and policy.confirm:
                    unlisted = True
                elif (message := decision.refusal(line)) is not None:
                    raise CommandRefused(message)
            except CommandRefused:
                self._audit.record_kept(db, who.actor, "session.command_refused",
                                        f"session:{session_id}",
                                        command=self._broker.redact(session_id, scrub(line)))
                raise
        if unlisted:
            if approval_id is None:
                return CommandResult("", self.approvals.ask(db, session, who.actor, shown))
            self.approvals.use(db, who, session_id, approval_id, shown)
        before_io(db)
        output = self._broker.run(session_id, command)
        self._audit.record(db, who.actor, "session.command" if isinstance(command, str)
                           else "session.config", f"session:{session_id}", command=shown)
        return CommandResult(output)

    def terminal(self, db: Session, who: Principal, session_id: int) -> Terminal:
        session = self._usable(db, who, session_id)
        stream = self._broker.attach(session_id, self.policy_for(db, _device_of(db, session)),
                                     who.actor)
        self._audit.record(db, who.actor, "session.terminal", f"session:{session_id}")
        return stream

    # -- ending
    def close(self, db: Session, who: Principal, session_id: int) -> AccessSession:
        """End a session: its technician or any admin (who may terminate others' sessions)."""
        session = self.get_for(db, who, session_id)
        if who.role != "admin" and session.user_id != who.user_id:
            raise Forbidden("only the session's technician or an admin can close it")
        if session.state in LIVE_STATES:
            reason = "closed by technician" if session.user_id == who.user_id else \
                f"terminated by {who.username}"
            self._end(db, session, SessionState.CLOSED, reason)
            self._audit.record(db, who.actor, "session.close", f"session:{session_id}",
                               reason=reason)
        return session

    def _end(self, db: Session, session: AccessSession, state: SessionState, reason: str
             ) -> None:
        self._broker.close(session.id)
        self._mark_closed(session, state, reason)

    def _mark_closed(self, session: AccessSession, state: SessionState, reason: str) -> None:
        session.state = state
        session.closed_at = self._clock()
        session.close_reason = reason

    # -- the client's data (custody.tenancy.ClientData) and a device's access data
    def export_client(self, db: Session, client_id: int) -> dict[str, Any]:
        sessions = db.scalars(select(AccessSession).where(AccessSession.client_id == client_id)
                              .order_by(AccessSession.id)).all()
        return {"access_sessions": [{"id": s.id, "device_id": s.device_id, "reason": s.reason,
                                     "state": s.state, "opened_at": iso(s.opened_at),
                                     "closed_at": iso(s.closed_at)} for s in sessions]}

    def forget_client(self, db: Session, client_id: int) -> dict[str, int]:
        """Live sessions are closed first; then transcripts and sessions go."""
        device_ids = list(db.scalars(select(Device.id).where(Device.client_id == client_id)))
        session_ids = select(AccessSession.id).where(AccessSession.client_id == client_id)
        return {
            "sessions_closed": self._close_live(db, device_ids, "client purged"),
            "transcript_chunks": rows_changed(db, delete(TranscriptChunk).where(
                TranscriptChunk.session_id.in_(session_ids))),
            "sessions": rows_changed(db, delete(AccessSession).where(
                AccessSession.client_id == client_id)),
        }

    def forget_device_access(self, db: Session, device_id: int) -> dict[str, int]:
        """Close its live sessions, delete its transcripts, and forget where they came from."""
        session_ids = select(AccessSession.id).where(AccessSession.device_id == device_id)
        return {
            "sessions_closed": self._close_live(db, [device_id], "device access data purged"),
            "transcript_chunks": rows_changed(db, delete(TranscriptChunk).where(
                TranscriptChunk.session_id.in_(session_ids))),
            "session_addresses": rows_changed(db, update(AccessSession).where(
                AccessSession.device_id == device_id, AccessSession.source_ip.is_not(None))
                .values(source_ip=None)),
        }

    def end_user_activity(self, db: Session, user_id: int, reason: str) -> dict[str, int]:
        """Offboarding (custody.accounts.service.UserActivity): close the user's live and
        pending sessions and cancel the lines they hold for approval."""
        live = db.scalars(select(AccessSession).where(
            AccessSession.user_id == user_id, AccessSession.state.in_(LIVE_STATES))).all()
        for session in live:
            self._end(db, session, SessionState.CLOSED, reason)
            self._audit.record(db, "custody", "session.close", f"session:{session.id}",
                               reason=reason)
        cancelled = rows_changed(db, update(CommandApproval).where(
            CommandApproval.user_id == user_id,
            CommandApproval.state == ApprovalState.PENDING)
            .values(state=ApprovalState.CANCELLED, decided_at=self._clock()))
        return {"device_sessions_closed": len(live), "approvals_cancelled": cancelled}

    def _close_live(self, db: Session, device_ids: list[int], reason: str) -> int:
        live = db.scalars(select(AccessSession).where(
            AccessSession.device_id.in_(device_ids),
            AccessSession.state.in_(LIVE_STATES))).all()
        for session in live:
            self._end(db, session, SessionState.CLOSED, reason)
        return len(live)

    def expire_due(self, db: Session, node: str | None = None) -> list[int]:
        """Close every open session past its time limit (the scheduled job calls this);
        with ``node``, only those whose connection that node's broker holds."""
        now = self._clock()
        query = select(AccessSession).where(AccessSession.state == SessionState.OPEN,
                                            AccessSession.expires_at <= now)
        if node is not None:
            query = query.where((AccessSession.node == node) | AccessSession.node.is_(None))
        due = db.scalars(query).all()
        for session in due:
            self._end(db, session, SessionState.EXPIRED, "time limit reached")
            self._audit.record(db, "scheduler", "session.expire", f"session:{session.id}")
        return [s.id for s in due]

    # -- transcripts
    def _may_read_transcripts(self, db: Session, who: Principal) -> None:
        user = db.get(User, who.user_id)
        if user is None or not (who.role == "admin" or (who.role == "technician"
                                                         and user.can_read_transcripts)):
            raise Forbidden("reading transcripts needs the transcript permission")

    def read_transcript(self, db: Session, who: Principal, session_id: int,
                        action: str = "transcript.read") -> Sequence[TranscriptLine]:
        """Decrypt a transcript for a reader holding the transcript permission (audited)."""
        self._may_read_transcripts(db, who)
        session = self._get(db, session_id)
        self._audit.record_kept(db, who.actor, action, f"session:{session_id}")
        return self._transcripts.read(db, session_id, session.client_id)

    def search_transcripts(self, db: Session, who: Principal, client_id: int, query: str,
                           limit: int = 200) -> list[tuple[int, Line]]:
        """Lines of a client's transcripts holding ``query``: decrypted while searching (no
        index at rest), newest sessions first; one audit event per search."""
        self._may_read_transcripts(db, who)
        query = query.strip()
        if not 2 <= len(query) <= 200:
            raise InvalidInput("q must be 2-200 characters", field="q")
        if db.get(Client, client_id) is None:
            raise NotFound(f"client {client_id} does not exist")
        sessions = db.scalars(select(AccessSession.id).where(
            AccessSession.client_id == client_id).order_by(AccessSession.id.desc())).all()
        found: list[tuple[int, Line]] = []
        for session_id in sessions:
            lines = readable(self._transcripts.read(db, session_id, client_id))
            found += [(session_id, line) for line in matches(lines, query)]
            if len(found) >= limit:
                break
        self._audit.record_kept(db, who.actor, "transcript.search", f"client:{client_id}",
                           query=scrub(query), sessions=len(sessions), hits=len(found))
        return found[:limit]

    def watch(self, db: Session, who: Principal, session_id: int) -> AccessSession:
        """Start watching a live session (admins): audited once per viewing."""
        require_role(who, "admin")
        session = self._get(db, session_id)
        self._audit.record_kept(db, who.actor, "session.watch", f"session:{session_id}")
        return session

    def events_since(self, db: Session, session: AccessSession, after: int
                     ) -> Sequence[TranscriptLine]:
        """A watched session's new events (the viewing was audited by ``watch``)."""
        return self._transcripts.read(db, session.id, session.client_id, after)

    def on_client_devices(self, db: Session, who: Principal, client_id: int, limit: int = 100
                          ) -> list[tuple[AccessSession, str, str | None]]:
        """The sessions run on a client's devices, newest first, each with its device's
        name and who ran it: what a client may know of access to its devices (who, when,
        why), never the transcripts."""
        require_client_access(who, client_id)
        return [(s, device, user) for s, device, user in db.execute(
            select(AccessSession, Device.name, User.username)
            .join(Device, Device.id == AccessSession.device_id)
            .outerjoin(User, User.id == AccessSession.user_id)
            .where(AccessSession.client_id == client_id)
            .order_by(AccessSession.id.desc()).limit(limit))]

    def list_sessions(self, db: Session, who: Principal, state: str | None = None
                      ) -> Sequence[AccessSession]:
        """The newest 500 sessions the caller may see (see ``find_sessions``)."""
        return self.find_sessions(db, who, SessionFilter(state=state), limit=MOST).rows

    def find_sessions(self, db: Session, who: Principal, wanted: SessionFilter,
                      limit: int | None = None, cursor: str | None = None
                      ) -> Page[AccessSession]:
        """A page of sessions, newest first: an admin's view of all; a technician's of
        their own and of the requests they may approve (clients approved by technicians)."""
        require_role(who, *STAFF)
        stmt = select(AccessSession)
        if who.role != "admin":
            approvable = select(ClientPolicy.client_id).where(
                ClientPolicy.approver_role == "technician")
            stmt = stmt.where((AccessSession.user_id == who.user_id) | (
                (AccessSession.state == SessionState.PENDING) & AccessSession.client_id.in_(approvable)))
        if wanted.state:
            stmt = stmt.where(AccessSession.state == wanted.state)
        if wanted.client_id is not None:
            stmt = stmt.where(AccessSession.client_id == wanted.client_id)
        if wanted.device_id is not None:
            stmt = stmt.where(AccessSession.device_id == wanted.device_id)
        return newest_first(db, stmt, AccessSession.id, check_limit(limit), cursor)


def _device_of(db: Session, session: AccessSession) -> Device:
    """The session's device (its row goes only with the session's, by cascade)."""
    device = db.get(Device, session.device_id)
    if device is None:
        raise NotFound(f"device {session.device_id} of session {session.id} does not exist")
    return device


def _may_elevate(policy: ClientPolicy | None, who: Principal, device: Device) -> None:
    """Raise unless ``who`` may open a privileged session on ``device``."""
    allowed = policy.privileged_role if policy else "technician"
    if allowed == "none" or (allowed == "admin" and who.role != "admin"):
        raise Forbidden("this client's policy does not allow privileged sessions"
                        + (" for technicians" if allowed == "admin" else ""))
    if platform_for(device.device_type).elevation is None:
        raise Conflict(f"custody cannot elevate {device.device_type} sessions (the family has "
                       "no enable/sudo step); open a normal session")
