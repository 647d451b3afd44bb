"""The numbers each role's home page shows: counts that matter, and purges per week."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from custody.accounts.service import Principal
from custody.alerts.models import Notification, OutboxMessage
from custody.certs.models import Certificate
from custody.clients.models import Client
from custody.devices.models import AccessSession, Device
from custody.purge.plan import DUE, SCHEDULED, PlanItem
from custody.purge.schedule import due_per_week
from custody.scheduling import ScheduledJob


@dataclass(frozen=True)
class Dashboard:
    open_sessions: int
    pending_approvals: int
    alerts_mailed_today: int
    certificates_expiring: int  # within 30 days, not revoked
    purges_this_week: int
    purges_per_week: list[int]  # the next 12 weeks
    week_starts: list[date]  # the first day of each of those weeks
    mail_waiting: int = 0  # alert e-mails not sent yet (staff only)
    mail_failed_last_day: int = 0  # given up on, of those planned in the last 24 h
    mail_last_error: str | None = None  # the latest failure, as the relay said it
    next_sweep_at: datetime | None = None  # when the scheduler's purge sweep runs next
    erasure_requests: int = 0  # clients that asked to be erased, waiting for an admin


def next_sweep(db: Session, every: timedelta) -> datetime | None:
    """When the purge sweep runs next: its last run to the end plus its interval; None
    before its first run."""
    row = db.get(ScheduledJob, "purge_sweep")
    return row.last_ok_at + every if row is not None and row.last_ok_at else None


def dashboard(db: Session, who: Principal, plan: list[PlanItem], now: datetime,
              sweep_every: timedelta | None = None) -> Dashboard:
    """Counts over everything for staff; over their own client for a client's user (who
    is not shown the outbox's health or the sweep's time)."""
    mine = who.client_id if who.role == "client" else None
    sessions = select(func.count()).select_from(AccessSession).join(
        Device, Device.id == AccessSession.device_id)
    mailed = select(func.count()).select_from(OutboxMessage).join(
        Notification, Notification.id == OutboxMessage.notification_id).where(
        OutboxMessage.sent_at >= now.replace(hour=0, minute=0, second=0, microsecond=0))
    expiring = select(func.count()).select_from(Certificate).where(
        Certificate.revoked_at.is_(None), Certificate.not_after > now,
        Certificate.not_after <= now + timedelta(days=30))
    if mine is not None:
        sessions = sessions.where(Device.client_id == mine)
        mailed = mailed.where(Notification.client_id == mine)
        expiring = expiring.where(Certificate.client_id == mine)
        plan = [i for i in plan if i.client_id == mine]
    week = now + timedelta(days=7)
    waiting = failed = erasures = 0
    last_error = sweep = None
    if mine is None:  # the outbox and the scheduler are the provider's, not a client's
        waiting = db.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.state == "pending")) or 0
        failed = db.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.state == "failed",
            OutboxMessage.created_at >= now - timedelta(days=1))) or 0
        last_error = db.scalar(select(OutboxMessage.last_error).where(
            OutboxMessage.last_error.is_not(None)).order_by(OutboxMessage.id.desc()).limit(1))
        sweep = next_sweep(db, sweep_every) if sweep_every is not None else None
        erasures = db.scalar(select(func.count()).select_from(Client).where(
            Client.erasure_requested_at.is_not(None), Client.erasure_confirmed_at.is_(None))) or 0
    return Dashboard(
        open_sessions=db.scalar(sessions.where(AccessSession.state == "open")) or 0,
        pending_approvals=db.scalar(sessions.where(AccessSession.state == "pending")) or 0,
        alerts_mailed_today=db.scalar(mailed) or 0,
        certificates_expiring=db.scalar(expiring) or 0,
        purges_this_week=sum(1 for i in plan if i.state in (DUE, SCHEDULED)
                             and i.due_at is not None and i.due_at <= week),
        purges_per_week=due_per_week(plan, now),
        week_starts=[(now + timedelta(days=7 * n)).date() for n in range(12)],
        mail_waiting=waiting, mail_failed_last_day=failed, mail_last_error=last_error,
        next_sweep_at=sweep, erasure_requests=erasures)
