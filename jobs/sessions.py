"""Scheduled session housekeeping."""

from __future__ import annotations

import logging

from custody.db import transaction
from custody.services import Services

log = logging.getLogger("custody.jobs.sessions")


def expire_sessions(services: Services) -> None:
    """Close every session past its time limit."""
    with transaction(services.db) as db:
        expired = services.sessions.expire_due(db)
    if expired:
        log.info("expired %d sessions", len(expired))
