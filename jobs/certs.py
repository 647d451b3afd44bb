"""Scheduled certificate work."""

from __future__ import annotations

import logging

from custody.db import transaction
from custody.errors import BackendUnavailable
from custody.services import Services

log = logging.getLogger("custody.jobs.certs")


def certificate_jobs(services: Services) -> None:
    """Destroy keys never downloaded in time, re-sign CRLs, send expiry reminders."""
    with transaction(services.db) as db:
        services.certs.expire_bundles(db)
        services.certs.refresh_crls(db)
    with transaction(services.db) as db:
        try:
            services.certs.expiry_notices(db)
        except BackendUnavailable as exc:
            log.warning("certificate reminders not sent (will retry): %s", exc)
            raise
