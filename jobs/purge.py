"""Scheduled purge work: the sweep, retention, notices and the admins' digest."""

from __future__ import annotations

import logging

from custody.db import transaction
from custody.errors import BackendUnavailable, Conflict
from custody.purge.notices import admin_digest, client_notices
from custody.services import Services

log = logging.getLogger("custody.jobs.purge")


def purge_sweep(services: Services) -> None:
    """Destroy whatever is due and finish anything an interrupted run left."""
    try:
        result = services.purge.run("scheduler", trigger="scheduler")
    except Conflict:
        log.info("purge sweep skipped: another run is in progress")
        return
    if result.receipts:
        log.info("purge sweep destroyed %d targets", len(result.receipts))


def retention_sweep(services: Services) -> None:
    with transaction(services.db) as db:
        services.purge.retention_sweep(db)


def purge_notices(services: Services) -> None:
    with transaction(services.db) as db:
        plan = services.purge.plan(db)
        try:
            client_notices(db, plan, services.mailer, services.audit, services.clock(),
                           services.settings.purge.notice_days)
        except BackendUnavailable as exc:
            log.warning("purge notices not sent (will retry): %s", exc)
            raise


def daily_digest(services: Services) -> None:
    to = services.settings.purge.digest_email
    if not to:
        return
    with transaction(services.db) as db:
        plan = services.purge.plan(db)
    admin_digest(plan, services.mailer, to, services.clock())

