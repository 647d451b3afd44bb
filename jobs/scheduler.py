"""APScheduler wiring: which domain functions run when. Jobs are idempotent."""

from __future__ import annotations

from apscheduler.schedulers.background import BackgroundScheduler

from custody.jobs.sessions import expire_sessions
from custody.services import Services


def build_scheduler(services: Services) -> BackgroundScheduler:
    """A scheduler for the process that holds device connections (the broker)."""
    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.add_job(expire_sessions, "interval", seconds=15, args=[services],
                      id="sessions.expire", max_instances=1, coalesce=True)
    return scheduler
