"""The pseudonymizer for a client's alerts: its period key, its known names, its choices."""

from __future__ import annotations

import hashlib
import time
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from custody.alerts.keys import known_names_and, period_key, period_of
from custody.alerts.pseudonym import Pseudonymizer
from custody.clients.models import Client
from custody.clock import Clock
from custody.config import AlertSettings
from custody.devices.models import ClientPolicy
from custody.secrets import SecretStore
from custody.statements import DriverStatement

KEY_CACHE_SECONDS = 300
# Built once: ingest asks for every post.
_CLIENT = DriverStatement(select(
    Client.created_at, Client.name, Client.names_version, ClientPolicy.prefix_preserving_ips,
    ClientPolicy.alert_names).outerjoin(
    ClientPolicy, ClientPolicy.client_id == Client.id).where(Client.id == bindparam("client_id")))


def _digest(names: tuple[str, ...]) -> bytes:
    return hashlib.sha256(repr(names).encode()).digest()


_NO_NAMES: tuple[tuple[str, ...], bytes] = ((), _digest(()))


class Engines:
    """One pseudonymizer per client, kept while its key and names stay the same."""

    def __init__(self, secrets_store: SecretStore, clock: Clock, settings: AlertSettings) -> None:
        self._secrets = secrets_store
        self._clock = clock
        self._settings = settings
        self._keys: dict[tuple[int | None, datetime | None, str], tuple[float, bytes]] = {}
        self._engines: dict[tuple[int | None, bytes], tuple[float, Pseudonymizer]] = {}
        self._names: dict[int, tuple[tuple[Any, ...], tuple[str, ...], bytes]] = {}

    def for_client(self, db: Session, client_id: int | None) -> Pseudonymizer:
        """The pseudonymizer for a client's alerts now: its period key, its known names,
        and its choice of address pseudonyms (ingest and the CLI both use this).

        One is kept per client while its key and names stay the same, so what it has
        learned about words and addresses carries over from one payload to the next.
        """
        created, prefix = None, False
        names, digest = _NO_NAMES
        if client_id is not None:
            row = _CLIENT.first(db, {"client_id": client_id})
            if row is not None:
                created, prefix = row.created_at, bool(row.prefix_preserving_ips)
            names, digest = self._known_names(db, client_id, row)
        key = self._period_key(client_id, created)
        slot = (client_id, hashlib.sha256(key + digest + bytes([prefix])).digest())
        kept = self._engines.get(slot)
        if kept is None or kept[0] < time.monotonic():
            if len(self._engines) > 1_000:
                self._engines.clear()
            kept = self._engines[slot] = (
                time.monotonic() + KEY_CACHE_SECONDS,
                Pseudonymizer(key, names, self._settings.extra_labels, prefix_preserving_ips=prefix))
        return kept[1]

    def _known_names(self, db: Session, client_id: int, row: Any
                     ) -> tuple[tuple[str, ...], bytes]:
        """The client's known names and their digest, read again only when its names
        version changed (the database draws a new one whenever a device, user or contact
        of the client changes) or its own row changed: a client with thousands of devices costs
        one row per post, not thousands."""
        stamp = (None,) if row is None else (
            row.created_at, row.name, row.names_version, tuple(row.alert_names or ()))
        kept = self._names.get(client_id)
        if kept is not None and kept[0] == stamp and row is not None:
            return kept[1], kept[2]
        names = tuple(sorted(set(known_names_and(
            db, client_id, row.alert_names if row is not None else None))))
        digest = _digest(names)
        if len(self._names) > 10_000:
            self._names.clear()
        self._names[client_id] = (stamp, names, digest)
        return names, digest

    def _period_key(self, client_id: int | None, created: datetime | None) -> bytes:
        """The period key, kept in memory a few minutes: the store is read once, not per
        alert. Only past periods' keys are ever destroyed, so a kept one stays valid (the
        client's creation time tells a new client apart from an erased one's reused id)."""
        now = self._clock()
        slot = (client_id, created, period_of(now))
        kept = self._keys.get(slot)
        if kept is None or kept[0] < time.monotonic():
            if len(self._keys) > 10_000:
                self._keys.clear()
            kept = self._keys[slot] = (time.monotonic() + KEY_CACHE_SECONDS,
                                       period_key(self._secrets, client_id, now))
        return kept[1]
