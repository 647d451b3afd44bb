"""APScheduler wiring: which domain functions run when. Every job is idempotent.

With PostgreSQL, several nodes may run `custody scheduler`; a session-level
advisory lock makes exactly one of them active, and a standby takes over when the
active one's connection goes away.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import Connection, text
from sqlalchemy.exc import SQLAlchemyError

from custody.db import transaction
from custody.jobs.accounts import sweep_rate_counters, sweep_web_sessions
from custody.jobs.alerts import alert_retention, deliver_outbox
from custody.jobs.certs import certificate_jobs
from custody.jobs.purge import daily_digest, purge_notices, purge_sweep, retention_sweep
from custody.jobs.sessions import Lease, expire_sessions, node_heartbeat, rotate_due
from custody.scheduling import LEADER, record_run
from custody.services import Services

log = logging.getLogger("custody.scheduler")
SCHEDULER_LOCK_KEY = 0x6375737464795343  # one advisory lock id for "the active scheduler"
MAX_BACKOFF_SECONDS = 30.0


def add_session_jobs(scheduler: BackgroundScheduler, services: Services, lease: Lease) -> None:
    """Jobs that must run where the live device connections are (the broker process)."""
    scheduler.add_job(expire_sessions, "interval", seconds=15, args=[services],
                      id="sessions.expire", max_instances=1, coalesce=True)
    scheduler.add_job(node_heartbeat, "interval", args=[services, lease],
                      seconds=services.settings.node.heartbeat_seconds, id="nodes.heartbeat",
                      max_instances=1, coalesce=True)
    scheduler.add_job(rotate_due, "interval", minutes=5, args=[services],
                      id="devices.rotate", max_instances=1, coalesce=True)


def add_purge_jobs(scheduler: BackgroundScheduler, services: Services) -> None:
    minutes = services.settings.purge.sweep_minutes
    for fn, kwargs in ((purge_sweep, {"minutes": minutes}),
                       (retention_sweep, {"hours": 6}),
                       (purge_notices, {"hours": 6}),
                       (daily_digest, {"days": 1}),
                       (certificate_jobs, {"hours": 1}),
                       (deliver_outbox, {"seconds": services.settings.alerts.deliver_seconds}),
                       (alert_retention, {"hours": 6}),
                       (sweep_web_sessions, {"hours": 1}),
                       (sweep_rate_counters, {"hours": 1})):
        # First run at start-up: a node that was down catches up at once.
        scheduler.add_job(recorded, "interval", args=[fn, services], id=fn.__name__,
                          max_instances=1, coalesce=True, next_run_time=datetime.now(UTC),
                          **kwargs)


def recorded(job: Callable[[Services], object], services: Services) -> None:
    """Run one job; note in the database how it ended, for every node's /healthz."""
    error: str | None = None
    try:
        job(services)
    except Exception as exc:
        error = type(exc).__name__  # its text might quote what it was working on
        raise  # APScheduler logs it; the next run comes at its time
    finally:
        with contextlib.suppress(SQLAlchemyError), transaction(services.db) as db:
            record_run(db, job.__name__, services.settings.node_name, services.clock(),
                       error)


def session_scheduler(services: Services, lease: Lease) -> BackgroundScheduler:
    """The broker's own jobs (sessions past their time, this node's lease); the purge jobs
    run apart, on one node."""
    scheduler = BackgroundScheduler(timezone="UTC")
    add_session_jobs(scheduler, services, lease)
    return scheduler


def run_scheduler(services: Services, stop: threading.Event, poll_seconds: float = 2.0) -> None:
    """Run the purge jobs until ``stop``; on PostgreSQL only while holding the leader lock.

    A database that goes away (a restart, a failover) takes the lock with it: this node
    then stops its jobs, waits with backoff, connects again and contests the lock anew."""
    backoff = poll_seconds
    while not stop.is_set():
        try:
            if services.engine.dialect.name == "postgresql":
                _lead_while_possible(services, stop, poll_seconds)
            else:  # one machine: nobody to contend with
                _run_active(services, stop, poll_seconds, None)
            return
        except SQLAlchemyError as exc:
            reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            log.warning("scheduler lost the database (%s); connecting again in %.0f s",
                        reason, backoff)
        if stop.wait(backoff):
            return
        backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)


def _lead_while_possible(services: Services, stop: threading.Event, poll_seconds: float) -> None:
    with services.engine.connect() as conn:
        said = False
        while not conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": SCHEDULER_LOCK_KEY}):
            if not said:
                log.info("scheduler standing by: another node is active")
                said = True
            if stop.wait(poll_seconds):
                return
        try:
            _run_active(services, stop, poll_seconds, conn)
        finally:
            with contextlib.suppress(SQLAlchemyError):  # gone with the connection, if it is
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": SCHEDULER_LOCK_KEY})


def _run_active(services: Services, stop: threading.Event, poll_seconds: float,
                lock_conn: Connection | None) -> None:
    scheduler = BackgroundScheduler(timezone="UTC")
    add_purge_jobs(scheduler, services)
    scheduler.start()
    log.info("scheduler active")
    try:
        while True:
            if lock_conn is not None:
                lock_conn.scalar(text("SELECT 1"))  # keep the session, and so the lock, alive
            with transaction(services.db) as db:
                record_run(db, LEADER, services.settings.node_name, services.clock())
            if stop.wait(poll_seconds):
                break
    finally:
        if scheduler.running:
            scheduler.shutdown(wait=False)
