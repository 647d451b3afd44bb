"""Scheduled session housekeeping."""

from __future__ import annotations

import logging

from custody.db import transaction
from custody.errors import CustodyError
from custody.services import Services

log = logging.getLogger("custody.jobs.sessions")


def expire_sessions(services: Services) -> None:
    """Close every session past its time limit."""
    with transaction(services.db) as db:
        expired = services.sessions.expire_due(db, services.settings.node_name)
    if expired:
        log.info("expired %d sessions", len(expired))


def node_heartbeat(services: Services, instance: str) -> None:
    """Renew this node's lease, and fail the sessions of nodes whose lease ran out."""
    name = services.settings.node_name
    with transaction(services.db) as db:
        if not services.nodes.heartbeat(db, name, instance):
            log.error("node name %s is in use by another running custody: give each node "
                      "a name of its own (node.name)", name)
    with transaction(services.db) as db:
        failed = services.nodes.fail_orphans(db)
    if failed:
        log.warning("sessions %s failed: the node holding them stopped answering", failed)


def rotate_due(services: Services) -> None:
    """Rotate the credentials of every device whose client's policy says it is time."""
    with transaction(services.db) as db:
        due = services.rotation.due(db)
    for device_id, reason in due:
        try:
            services.rotation.rotate(device_id, "scheduler", reason)
        except CustodyError as exc:  # audited by the rotation; the others still run
            log.warning("rotation of device %s failed: %s", device_id, exc)
