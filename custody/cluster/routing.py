"""Send each session's broker calls to the node whose broker holds its connection."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from custody.cluster.channel import NodeChannel
from custody.db import transaction
from custody.devices.broker import Broker, Opened, Terminal
from custody.devices.broker_net import RemoteBroker
from custody.devices.models import AccessSession, Device, EgressProfile
from custody.devices.policy import CommandPolicy
from custody.errors import BackendUnavailable, Conflict

log = logging.getLogger("custody.cluster")


class RoutingBroker:
    """A Broker for web workers: this node's own broker for the sessions it holds (and
    opens), the holder's broker over the node channel for the others.

    A session is opened by the node that holds its device's egress address (the egress
    profile's node), or by this one when the profile names none."""

    def __init__(self, local: Broker, node: str, db: sessionmaker[Session],
                 channel: NodeChannel | None) -> None:
        self._local = local
        self._node = node
        self._db = db
        self._channel = channel
        self._holders: dict[int, str] = {}  # a session's holder never changes once open
        self._lock = threading.Lock()

    def _remote(self, node: str, session_id: int) -> Broker:
        if self._channel is None:
            raise Conflict(f"session {session_id} is held by node {node}, and this node has "
                           "no node channel to reach it (set node.listen on every node)")
        return RemoteBroker(dialer=self._channel.dialer(node))

    def _holder(self, session_id: int) -> str | None:
        with self._lock:
            known = self._holders.get(session_id)
        if known is not None:
            return known
        with transaction(self._db) as db:
            holder = db.scalar(select(AccessSession.node).where(AccessSession.id == session_id))
        if holder is not None:
            with self._lock:
                if len(self._holders) > 10_000:
                    self._holders.clear()
                self._holders[session_id] = holder
        return holder

    def _for(self, session_id: int) -> Broker:
        holder = self._holder(session_id)
        if holder is None or holder == self._node:
            return self._local
        return self._remote(holder, session_id)

    def open(self, session_id: int) -> Opened:
        with transaction(self._db) as db:
            owner = db.scalar(
                select(EgressProfile.node)
                .join(Device, Device.egress_ip == EgressProfile.source_ip)
                .join(AccessSession, AccessSession.device_id == Device.id)
                .where(AccessSession.id == session_id))
        if owner is None or owner == self._node:
            return self._local.open(session_id)
        return self._remote(owner, session_id).open(session_id)

    def run(self, session_id: int, command: str | Sequence[str]) -> str:
        return self._for(session_id).run(session_id, command)

    def close(self, session_id: int) -> None:
        broker = self._for(session_id)
        try:
            broker.close(session_id)
        except BackendUnavailable as exc:
            if broker is self._local:
                raise
            # The holder is gone, and its device connection with it: nothing left to close.
            log.warning("closing session %s: %s", session_id, exc)

    def attach(self, session_id: int, policy: CommandPolicy, actor: str) -> Terminal:
        return self._for(session_id).attach(session_id, policy, actor)

    def check(self) -> None:
        self._local.check()

    def is_live(self, session_id: int) -> bool:
        return self._for(session_id).is_live(session_id)

    def redact(self, session_id: int, text: str) -> str:
        return self._for(session_id).redact(session_id, text)
