"""Stored alerts: a client's history, the held ones no client can be told of, and the
client's part of export and purge."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from custody.accounts.service import Principal
from custody.alerts.models import Notification
from custody.audit.service import AuditLog
from custody.clock import iso
from custody.db import rows_changed
from custody.tenancy import require_client_access, require_role


class AlertHistory:
    """Read the stored (pseudonymized) alerts; export and forget a client's."""

    def __init__(self, audit: AuditLog) -> None:
        self._audit = audit

    def notifications(self, db: Session, who: Principal, client_id: int) -> Sequence[Notification]:
        require_client_access(who, client_id)
        return db.scalars(select(Notification).where(Notification.client_id == client_id)
                          .order_by(Notification.id.desc()).limit(200)).all()

    def held(self, db: Session, who: Principal, limit: int = 200) -> Sequence[Notification]:
        """Alerts no client could be told of (unknown or ambiguous), newest first.

        They are pseudonymized under the provider's period key and never mailed; each
        view is audited.
        """
        require_role(who, "admin")
        rows = db.scalars(select(Notification).where(Notification.client_id.is_(None))
                          .order_by(Notification.id.desc()).limit(limit)).all()
        self._audit.record_kept(db, who.actor, "alerts.held_view", "notifications", shown=len(rows))
        return rows

    # -- the client's data (custody.tenancy.ClientData)
    def export_client(self, db: Session, client_id: int) -> dict[str, Any]:
        rows = db.scalars(select(Notification).where(Notification.client_id == client_id)
                          .order_by(Notification.id)).all()
        return {"notifications": [{"id": n.id, "received_at": iso(n.received_at),
                                   "status": n.status, "alertname": n.alertname,
                                   "alert": n.payload} for n in rows]}

    def forget_client(self, db: Session, client_id: int) -> dict[str, int]:
        return {"notifications": rows_changed(db, delete(Notification).where(
            Notification.client_id == client_id))}
