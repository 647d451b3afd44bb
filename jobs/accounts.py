"""Scheduled account housekeeping."""

from __future__ import annotations

import logging

from custody.db import transaction
from custody.services import Services

log = logging.getLogger("custody.jobs.accounts")


def sweep_web_sessions(services: Services) -> None:
    """Delete web session rows past their expiry (their cookies no longer work anyway)."""
    with transaction(services.db) as db:
        swept = services.accounts.sweep_web_sessions(db)
    if swept:
        log.info("swept %d expired web sessions", swept)


def sweep_rate_counters(services: Services) -> None:
    """Delete the shared rate-limit counters of windows that have ended."""
    from custody.ratelimit import SharedCounters

    swept = SharedCounters(services.engine, services.clock).sweep()
    if swept:
        log.info("swept %d ended rate-limit windows", swept)
