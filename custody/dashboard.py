"""The numbers each role's home page shows: counts that matter, and purges per week."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from custody.accounts.service import Principal
from custody.alerts.models import Notification, OutboxMessage
from custody.certs.models import Certificate
from custody.devices.models import AccessSession, Device
from custody.purge.plan import DUE, SCHEDULED, PlanItem
from custody.purge.schedule import due_per_week


@dataclass(frozen=True)
class Dashboard:
    open_sessions: int
    pending_approvals: int
    alerts_mailed_today: int
    certificates_expiring: int  # within 30 days, not revoked
    purges_this_week: int
    purges_per_week: list[int]  # the next 12 weeks


def dashboard(db: Session, who: Principal, plan: list[PlanItem], now: datetime) -> Dashboard:
    """Counts over everything for staff; over their own client for a client's user."""
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
    return Dashboard(
        open_sessions=db.scalar(sessions.where(AccessSession.state == "open")) or 0,
        pending_approvals=db.scalar(sessions.where(AccessSession.state == "pending")) or 0,
        alerts_mailed_today=db.scalar(mailed) or 0,
        certificates_expiring=db.scalar(expiring) or 0,
        purges_this_week=sum(1 for i in plan if i.state in (DUE, SCHEDULED)
                             and i.due_at is not None and i.due_at <= week),
        purges_per_week=due_per_week(plan, now))
