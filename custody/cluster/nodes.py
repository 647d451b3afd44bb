"""The node registry: join tokens, node certificates, heartbeats, and the sessions a dead
node takes with it."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from custody.audit.service import AuditLog
from custody.certs import x509ops
from custody.clock import Clock
from custody.cluster.authority import NodeCa
from custody.cluster.models import Node
from custody.config import NODE_NAME, NodeSettings
from custody.devices.models import LIVE_STATES, AccessSession, SessionState
from custody.errors import Conflict, InvalidInput, NotFound, Unauthorized

JOIN_TOKEN_HOURS = 24
TOKEN_PREFIX = "cjn_"


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Joined:
    name: str
    cert: x509.Certificate
    ca_cert: x509.Certificate


class Nodes:
    """Which nodes exist, whether each is alive, and what a node may present."""

    def __init__(self, ca: NodeCa, audit: AuditLog, clock: Clock, settings: NodeSettings) -> None:
        self.ca = ca
        self._audit = audit
        self._clock = clock
        self._lease = timedelta(seconds=settings.lease_seconds)

    # -- membership
    def add(self, db: Session, actor: str, name: str) -> str:
        """Make a one-time join token for node ``name`` (good for a day); return it.

        Adding a name that exists makes a new token: the node joins again (a new key, say),
        and its old certificate stops being accepted when it does."""
        if not NODE_NAME.fullmatch(name) or len(name) > 63:
            raise InvalidInput(f"node name {name!r}: use lower-case letters, digits, '-' and '.'",
                               field="name")
        self.ca.ensure(db)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        node = db.scalar(select(Node).where(Node.name == name))
        if node is None:
            node = Node(name=name, created_at=self._clock())
            db.add(node)
        node.removed_at = None
        node.join_token_hash = _token_hash(token)
        node.join_expires_at = self._clock() + timedelta(hours=JOIN_TOKEN_HOURS)
        db.flush()
        self._audit.record(db, actor, "node.add", f"node:{name}")
        return token

    def join(self, db: Session, token: str, name: str, public_key: ec.EllipticCurvePublicKey
             ) -> Joined:
        """Use a join token once: sign the node's key. The token names the node."""
        hashed = _token_hash(token.strip())
        node = db.scalar(select(Node).where(Node.join_token_hash == hashed))
        if node is None or node.join_expires_at is None or node.join_expires_at <= self._clock():
            raise Unauthorized("this join token is unknown, used or expired: make a new one "
                               "with `custody node add NAME`")
        if name and name != node.name:
            raise Conflict(f"this join token is for node {node.name!r}, but this node is "
                           f"named {name!r} (node.name)")
        claimed = db.execute(update(Node).where(Node.id == node.id, Node.join_token_hash == hashed)
                             .values(join_token_hash=None, join_expires_at=None))
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            raise Unauthorized("this join token was used meanwhile: make a new one with "
                               "`custody node add NAME`")
        db.refresh(node)
        cert = self.ca.issue(db, node.name, public_key)
        node.cert_serial = x509ops.serial_hex(cert)
        node.cert_not_after = cert.not_valid_after_utc
        self._audit.record(db, f"node:{node.name}", "node.join", f"node:{node.name}",
                           serial=node.cert_serial)
        return Joined(node.name, cert, self.ca.ensure(db))  # issue() made it, if need be

    def remove(self, db: Session, actor: str, name: str) -> list[int]:
        """Stop accepting the node's certificate; its sessions end as failed."""
        node = self._get(db, name)
        node.removed_at = self._clock()
        node.cert_serial = None
        node.join_token_hash = None
        node.address = None
        failed = self._fail_sessions(db, name, f"node {name} was removed from the cluster")
        self._audit.record(db, actor, "node.remove", f"node:{name}", sessions_failed=len(failed))
        return failed

    def all(self, db: Session) -> list[Node]:
        return list(db.scalars(select(Node).order_by(Node.name)))

    def _get(self, db: Session, name: str) -> Node:
        node = db.scalar(select(Node).where(Node.name == name))
        if node is None:
            raise NotFound(f"no node is named {name!r}")
        return node

    def accepts(self, db: Session, name: str, serial: str) -> bool:
        """Whether a peer presenting this (CA-verified) certificate is a current node."""
        node = db.scalar(select(Node).where(Node.name == name))
        return bool(node and node.removed_at is None and node.cert_serial == serial)

    def address_of(self, db: Session, name: str) -> tuple[str, str]:
        """Where node ``name`` listens, and the serial of the certificate it must show."""
        node = self._get(db, name)
        if node.removed_at is not None or not node.address or not node.cert_serial:
            raise Conflict(f"node {name} cannot be reached over the node channel (is it "
                           "running, joined, with node.listen set?)")
        return node.address, node.cert_serial

    # -- liveness
    def start(self, db: Session, name: str, address: str | None, instance: str) -> list[int]:
        """Record this node's new instance; the sessions its previous one held are gone
        with that process, so they end as failed."""
        node = db.scalar(select(Node).where(Node.name == name))
        if node is None:  # a single node never runs `node add`: it registers itself
            node = Node(name=name, created_at=self._clock())
            db.add(node)
        elif node.removed_at is not None:
            raise Conflict(f"node {name} was removed; add it again with `custody node add`")
        now = self._clock()
        node.address, node.instance, node.started_at, node.heartbeat_at = address, instance, now, now
        db.flush()
        return self._fail_sessions(db, name, f"node {name} restarted; the device connection "
                                             "ended with its previous run")

    def heartbeat(self, db: Session, name: str, instance: str) -> bool:
        """Renew this node's lease; False if another instance has taken the name since."""
        changed = db.execute(update(Node).where(Node.name == name, Node.instance == instance)
                             .values(heartbeat_at=self._clock())).rowcount  # type: ignore[attr-defined]
        return bool(changed)

    def state(self, db: Session, node: Node) -> str:
        """``removed``, ``joining`` (a token made, never started), ``down`` or ``up``."""
        if node.removed_at is not None:
            return "removed"
        if node.join_token_hash is not None and node.heartbeat_at is None:
            return "joining"
        return "down" if self.lost(db, node.name) else "up"

    def lost(self, db: Session, name: str) -> str | None:
        """Why node ``name`` cannot hold sessions any more, or None while its lease holds."""
        node = db.scalar(select(Node).where(Node.name == name))
        if node is None or node.removed_at is not None:
            return f"node {name} was removed from the cluster"
        if node.heartbeat_at is None or node.heartbeat_at < self._clock() - self._lease:
            last = f"{node.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC" if node.heartbeat_at else "never"
            return (f"node {name}, which held the device connection, stopped answering "
                    f"(last heard {last})")
        return None

    def fail_orphans(self, db: Session) -> list[int]:
        """End as failed every live session held by a node whose lease has run out."""
        cutoff = self._clock() - self._lease
        dead = db.scalars(select(Node.name).where(
            (Node.heartbeat_at < cutoff) | Node.heartbeat_at.is_(None)
            | Node.removed_at.is_not(None))).all()
        failed: list[int] = []
        for name in dead:
            reason = self.lost(db, name)
            if reason is not None:
                failed += self._fail_sessions(db, name, reason)
        return failed

    def _fail_sessions(self, db: Session, name: str, reason: str) -> list[int]:
        held = db.scalars(select(AccessSession.id).where(
            AccessSession.node == name, AccessSession.state.in_(LIVE_STATES))).all()
        now: datetime = self._clock()
        failed = []
        for session_id in held:
            # Only if still live: another node's sweep, or a close, may have come first.
            changed = db.execute(update(AccessSession).where(
                AccessSession.id == session_id, AccessSession.state.in_(LIVE_STATES))
                .values(state=SessionState.FAILED, closed_at=now, close_reason=reason[:200]))
            if changed.rowcount == 1:  # type: ignore[attr-defined]
                failed.append(session_id)
                self._audit.record(db, "broker", "session.failed", f"session:{session_id}",
                                   reason=reason[:200])
        return failed
