"""Notices about coming purges: one to each closed client's verified contacts, a digest for admins."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from custody.audit.service import AuditLog
from custody.clients.models import Client
from custody.clients.service import mail_recipients
from custody.mail import Mailer, Message
from custody.purge.plan import SCHEDULED, PlanItem


def client_notices(db: Session, plan: list[PlanItem], mailer: Mailer, audit: AuditLog,
                   now: datetime, notice_days: int) -> int:
    """Tell each client whose purge is near, once, what will be destroyed and when (P2)."""
    sent = 0
    horizon = now + timedelta(days=notice_days)
    for item in plan:
        if item.kind != "client" or item.state != SCHEDULED or item.due_at is None \
                or item.due_at > horizon:
            continue
        client = db.get(Client, item.target_id)
        if client is None or client.purge_notice_sent_at is not None:
            continue
        contacts = mail_recipients(db, client.id)
        for contact in contacts:
            mailer.send(Message(
                to=contact.value,
                subject="Your data with your IT provider will be deleted",
                text=(f"Hello,\n\nyour service with us has ended and is paid. On "
                      f"{item.due_at:%Y-%m-%d} we will permanently delete everything we hold "
                      "about you: contacts, user accounts, devices and their access data, "
                      "session records and transcripts, certificates' records, alert history "
                      "and the keys that protect them.\n\nIf you want a copy first, download "
                      "your data from the portal before that date.\n")))
            sent += 1
        client.purge_notice_sent_at = now
        audit.record(db, "scheduler", "purge.notice", f"client:{client.id}",
                     recipients=len(contacts))
    return sent


def admin_digest(plan: list[PlanItem], mailer: Mailer, to: str, now: datetime) -> bool:
    """The next 7 days' purges for admins; nothing is sent when nothing is due."""
    week = [i for i in plan if i.due_at is not None and i.due_at <= now + timedelta(days=7)
            and i.state in ("due", SCHEDULED)]
    if not week:
        return False
    lines = [f"{i.due_at:%Y-%m-%d}  {i.kind:<13} {i.target:<12} {i.name}  ({i.reason})"
             for i in sorted(week, key=lambda i: i.due_at or now)]
    mailer.send(Message(to=to, subject=f"custody: {len(week)} purges in the next 7 days",
                        text="\n".join(lines) + "\n"))
    return True
