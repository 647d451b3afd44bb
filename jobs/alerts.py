"""Scheduled alert work: the outbox and retention."""

from __future__ import annotations

from custody.db import transaction
from custody.services import Services


def deliver_outbox(services: Services) -> None:
    """Send due e-mails; each is marked sent right after the server accepts it."""
    services.alerts.outbox.deliver(services.db)


def alert_retention(services: Services) -> None:
    """Old notifications and delivery records, then old pseudonym keys."""
    with transaction(services.db) as db:
        services.alerts.retention.retention_sweep(db)
        services.alerts.retention.key_retention(db)
