"""Retention: old notifications and delivery records go, and old pseudonym keys with them."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from custody.alerts.models import Notification, OutboxMessage
from custody.audit.service import AuditLog
from custody.clients.models import Client
from custody.clock import Clock
from custody.config import AlertSettings
from custody.db import rows_changed
from custody.secrets import SecretStore


class AlertRetention:
    """The scheduled forgetting of alerts (P4) and of the keys behind their pseudonyms."""

    def __init__(self, secrets_store: SecretStore, audit: AuditLog, clock: Clock,
                 settings: AlertSettings) -> None:
        self._secrets = secrets_store
        self._audit = audit
        self._clock = clock
        self._settings = settings

    def retention_sweep(self, db: Session) -> int:
        """Delete notifications past retention; held ones (no client) go sooner."""
        now = self._clock()
        cutoff = now - timedelta(days=self._settings.retention_days)
        held_cutoff = now - timedelta(days=self._settings.held_retention_days)
        db.execute(delete(OutboxMessage).where(OutboxMessage.created_at < cutoff))
        return rows_changed(db, delete(Notification).where(
            (Notification.received_at < cutoff)
            | (Notification.client_id.is_(None) & (Notification.received_at < held_cutoff))))

    def key_retention(self, db: Session) -> int:
        """Destroy pseudonym keys of periods older than the retention: their tokens go dark."""
        cutoff = f"{self._clock() - timedelta(days=self._settings.key_retention_days):%Y-%m}"
        tenants = [f"client-{cid}" for cid in db.scalars(select(Client.id))] + ["provider"]
        destroyed = 0
        for tenant in tenants:
            for path in self._secrets.list_paths(f"{tenant}/pseudonym"):
                if path.rsplit("/", 1)[-1] < cutoff:
                    self._secrets.destroy(path)
                    destroyed += 1
        if destroyed:
            self._audit.record(db, "scheduler", "alerts.key_retention", "pseudonym_keys",
                               destroyed=destroyed)
        return destroyed
