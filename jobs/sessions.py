"""Scheduled session housekeeping."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from custody.db import transaction
from custody.devices.broker import LocalBroker
from custody.devices.models import AccessSession, SessionState
from custody.errors import CustodyError
from custody.services import Services

log = logging.getLogger("custody.jobs.sessions")


def expire_sessions(services: Services) -> None:
    """Close every session past its time limit."""
    with transaction(services.db) as db:
        expired = services.sessions.expire_due(db, services.settings.node_name)
    if expired:
        log.info("expired %d sessions", len(expired))


@dataclass
class Lease:
    """This node's lease, as its broker keeps it: its instance, and when it was last renewed."""

    instance: str
    renewed_at: float | None = None  # time.monotonic()


def node_heartbeat(services: Services, lease: Lease) -> None:
    """Renew this node's lease; fail the sessions of nodes whose lease ran out; close the
    connections this broker holds that the database no longer counts as open here."""
    name, node = services.settings.node_name, services.settings.node
    before = lease.renewed_at
    try:
        with transaction(services.db) as db:
            renewed = services.nodes.heartbeat(db, name, lease.instance)
        taken = not renewed
    except SQLAlchemyError as exc:
        log.warning("node %s could not renew its lease: %s", name, exc.__class__.__name__)
        renewed, taken = False, False
    now = time.monotonic()
    if not renewed:
        if taken:
            log.error("node name %s was taken by another running custody: this one lets go "
                      "of its sessions (give each node a name of its own: node.name)", name)
        if taken or (before is not None and now - before > node.lease_seconds):
            # The others count this node dead by now, and its sessions failed: hold nothing
            # (without asking the database, which may be what is gone).
            _close_local(services, None)
        return
    lease.renewed_at = now
    # Only a node that has renewed on time judges the others: one just back from a
    # database outage would find every lease stale before its peers had their turn.
    if before is not None and now - before <= 2 * node.heartbeat_seconds + 1:
        with transaction(services.db) as db:
            failed = services.nodes.fail_orphans(db)
        if failed:
            log.warning("sessions %s failed: the node holding them stopped answering", failed)
    _close_local(services, lambda state, holder: state in ENDED or (holder not in (None, name)))


ENDED = {SessionState.CLOSED, SessionState.EXPIRED, SessionState.FAILED, SessionState.DENIED}


def _close_local(services: Services, ended: Callable[[str, str | None], bool] | None) -> None:
    """Close this broker's connections of sessions ``ended`` says are over (by state and
    holder), or all of them: a session failed, closed or expired elsewhere leaves no
    connection behind."""
    broker = services.broker
    if not isinstance(broker, LocalBroker):
        return
    live = broker.live_sessions()
    if not live:
        return
    if ended is None:
        for session_id in live:
            broker.close(session_id)
        log.warning("closed the connections of sessions %s", live)
        return
    with transaction(services.db) as db:
        rows = dict((sid, (state, holder)) for sid, state, holder in db.execute(
            select(AccessSession.id, AccessSession.state, AccessSession.node)
            .where(AccessSession.id.in_(live))))
    for session_id in live:
        state, holder = rows.get(session_id, (SessionState.CLOSED, None))
        if ended(state, holder):
            log.info("closing the connection of session %s (%s)", session_id, state)
            broker.close(session_id)


def rotate_due(services: Services) -> None:
    """Rotate the credentials of every device whose client's policy says it is time."""
    with transaction(services.db) as db:
        due = services.rotation.due(db)
    for device_id, reason in due:
        try:
            services.rotation.rotate(device_id, "scheduler", reason)
        except CustodyError as exc:  # audited by the rotation; the others still run
            log.warning("rotation of device %s failed: %s", device_id, exc)
