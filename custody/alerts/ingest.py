"""Ingest: map each alert to its client, pseudonymize it before anything is stored, and
plan its e-mails (P2, P5)."""

from __future__ import annotations

import hashlib
import json
import secrets
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from custody.alerts.delivery import header_safe
from custody.alerts.engines import Engines
from custody.alerts.formats import alerts_of, status_of
from custody.alerts.models import AlertSource, Notification, OutboxMessage
from custody.alerts.pseudonym import Pseudonymizer
from custody.alerts.sources import AlertSources, Poster
from custody.clients.models import Client
from custody.clients.service import recipient_ids
from custody.clock import Clock
from custody.config import AlertSettings
from custody.db import GroupCommit
from custody.devices.models import Device
from custody.errors import InvalidInput, Unauthorized
from custody.statements import DriverStatement, SizedStatements, numbered, padded

MAX_LISTED = 50  # alerts listed in one e-mail; beyond, it says how many came before

MAPPING_LABELS = ("client", "device", "host", "hostname", "instance")
# What json.dumps(..., default=str) and with sort_keys=True write, without building an
# encoder per call (dedup keys stored already were made so: they must not change).
_AS_JSON = json.JSONEncoder(default=str)
_AS_SORTED_JSON = json.JSONEncoder(sort_keys=True, default=str)


NOTIFICATIONS = cast(Table, Notification.__table__)
OUTBOX = cast(Table, OutboxMessage.__table__)
CHUNK = 512  # keys per statement: far below any database's parameter limit
STORE_CHUNK = 64  # rows per INSERT (8 values each)

# The reads of every post, built once (built per call, a statement costs more than its query).
_KNOWN = SizedStatements(lambda count: select(Notification.dedup_key).where(
    Notification.dedup_key.in_([bindparam(f"key{i}") for i in range(count)])))
_SOURCES = SizedStatements(lambda count: select(
    AlertSource.id, AlertSource.kind, AlertSource.client_id, AlertSource.token_hash).where(
    AlertSource.id.in_([bindparam(f"id{i}") for i in range(count)])))


def _in_groups(count: int) -> tuple[Any, ...]:
    return (Notification.client_id == bindparam("client_id"),
            Notification.group_id.in_([bindparam(f"group{n}") for n in range(count)]))


# No ORDER BY in these two: it would lead SQLite to walk every alert of the client in id
# order rather than only the groups' ones (ix_notifications_client_group); sorted here.
_STATES = SizedStatements(lambda groups: select(
    Notification.id, Notification.group_id, Notification.status).where(
    *_in_groups(groups), Notification.received_at >= bindparam("since")))
# A group's pending e-mail, found from its alerts (ix_outbox_notification_contact).
_PENDING = SizedStatements(lambda groups, contacts: select(
    OutboxMessage.id, OutboxMessage.contact_id, OutboxMessage.notification_id,
    Notification.group_id).join(
    Notification, OutboxMessage.notification_id == Notification.id).where(
    OutboxMessage.notification_id.in_(select(Notification.id).where(*_in_groups(groups))),
    OutboxMessage.contact_id.in_([bindparam(f"contact{n}") for n in range(contacts)]),
    OutboxMessage.state == "pending"))
_REFOLD = DriverStatement(update(OUTBOX).where(OUTBOX.c.id == bindparam("message_id")).values(
    subject=bindparam("subject"), body=bindparam("body")))
_CLIENT_NAMED = DriverStatement(select(Client.id).where(Client.name == bindparam("name")))
_DEVICE_CLIENTS = DriverStatement(select(Device.client_id).where(
    (Device.name == bindparam("name")) | (Device.host == bindparam("host"))).distinct())
_QUEUE = DriverStatement(insert(OUTBOX), keys=(
    "notification_id", "contact_id", "subject", "body", "state", "attempts", "next_attempt_at",
    "created_at"))
_STORED = ("source_id", "client_id", "dedup_key", "group_id", "status", "alertname",
           "payload", "received_at")
# Each row's parameter names in a multi-row INSERT, with their columns: "status3", "status".
_STORED_NAMES = tuple(tuple((f"{column}{n}", column) for column in _STORED)
                      for n in range(STORE_CHUNK))


def _store_rows(insert_for: Any) -> SizedStatements:
    """A multi-row INSERT of ``count`` notifications that skips the dedup keys stored
    already, for one database's dialect of ON CONFLICT."""
    return SizedStatements(lambda count: insert_for(NOTIFICATIONS).values([
        {column: bindparam(f"{column}{n}", type_=NOTIFICATIONS.c[column].type)
         for column in _STORED} for n in range(count)]).on_conflict_do_nothing(
        index_elements=[Notification.dedup_key]).returning(Notification.id,
                                                           Notification.dedup_key))


_STORE = {True: _store_rows(pg_insert), False: _store_rows(sqlite_insert)}
_IN_FOLD = (Notification.client_id == bindparam("client_id"),
            Notification.group_id == bindparam("group_id"),
            Notification.id >= bindparam("first_id"))
_FOLDED = DriverStatement(select(func.count()).select_from(Notification).where(*_IN_FOLD))
_FIRST = DriverStatement(select(Notification.alertname).where(Notification.id == bindparam("id")))
# A pending e-mail's body, read again once this unit writes: on SQLite its write lock is
# held by then, on PostgreSQL the row is locked here, so that two posts folding into one
# e-mail at once (two workers) each add theirs to what the other wrote.
_WAITING = DriverStatement(select(OutboxMessage.body, OutboxMessage.state).where(
    OutboxMessage.id == bindparam("message_id")).with_for_update())
_LAST_HOUR = DriverStatement(select(func.count()).select_from(select(OutboxMessage.id).where(
    OutboxMessage.contact_id == bindparam("contact_id"),
    OutboxMessage.created_at >= bindparam("since")).limit(bindparam("cap")).subquery()))


@dataclass(frozen=True)
class IngestResult:
    accepted: int
    new: int
    queued: int


@dataclass(frozen=True)
class Posted:
    """A payload a source posted, checked as the source's kind: what ingest needs of it,
    free of any database session."""

    source_id: int
    kind: str
    client_id: int | None  # the source's own client, when it is bound to one
    token_hash: str  # of the token it was posted with
    payload: dict[str, Any]
    alerts: list[dict[str, Any]]


@dataclass(frozen=True)
class _Alert:
    """One alert, pseudonymized, with the post that brought it."""

    post: int
    client_id: int | None
    group_id: str
    status: str
    item: dict[str, Any]


class AlertIngest:
    """Turn a source's payload into stored, pseudonymized notifications and planned e-mails."""

    def __init__(self, sources: AlertSources, engines: Engines, clock: Clock,
                 settings: AlertSettings) -> None:
        self._sources = sources
        self._engines = engines
        self._clock = clock
        self._settings = settings
        self._together: GroupCommit[Posted, IngestResult] = GroupCommit(self._ingest_all)

    @staticmethod
    def check(source: AlertSource | Poster, payload: Any) -> Posted:
        """Read ``payload`` as the source's kind, or raise InvalidInput naming what is wrong."""
        return Posted(source.id, source.kind, source.client_id, source.token_hash, payload,
                      alerts_of(source.kind, payload))

    def ingest(self, db: Session, source: AlertSource, payload: Any) -> IngestResult:
        """Map, pseudonymize, store and queue, in the caller's unit of work; the raw
        payload is never written. The source's declared kind decides how it is read."""
        return self._ingest_all(db, [self.check(source, payload)])[0]

    def submit(self, units: sessionmaker[Session], source: AlertSource | Poster, payload: Any
               ) -> IngestResult:
        """Ingest ``payload`` in a unit of work shared with the posts that arrive meanwhile,
        committed before this returns: one write and one commit for many posts.

        A payload that is not of the source's kind is refused before it waits for anyone.
        """
        return self._together.submit(units, self.check(source, payload))

    @staticmethod
    def _client_for(db: Session, labels: dict[str, Any]) -> int | None:
        """The one client an alert of an unbound source belongs to, or None (held for an
        admin): a ``client`` label naming a client, or devices matched by name or address;
        when those point at more than one client (overlapping private ranges are normal at
        a provider), nobody is guessed. A source bound to a client decides for itself.
        """
        named = labels.get("client")
        if isinstance(named, str):
            found = _CLIENT_NAMED.first(db, {"name": named})
            if found is not None:
                return int(found.id)
        candidates: set[int] = set()
        for label in ("device", "host", "hostname", "instance"):
            value = labels.get(label)
            if isinstance(value, str) and value:
                host = value.rsplit(":", 1)[0] if value.count(":") == 1 else value
                candidates.update(row.client_id for row in _DEVICE_CLIENTS.run(
                    db, {"name": value, "host": host}))
        return candidates.pop() if len(candidates) == 1 else None

    def _ingest_all(self, db: Session, posts: Sequence[Posted]) -> list[IngestResult]:
        """Ingest ``posts`` in ``db``: each is pseudonymized as if alone, and the writes
        of all are made together. An alert two posts share is stored once, for the first."""
        posts = self._as_sources_stand(db, posts)
        mapped: dict[str, int | None] = {}
        engines: dict[int | None, Pseudonymizer] = {}
        fresh: dict[str, _Alert] = {}
        for n, post in enumerate(posts):
            for dedup, alert in self._pseudonymized(db, n, post, mapped, engines).items():
                fresh.setdefault(dedup, alert)
        known: set[str] = set()
        keys = list(fresh)
        for i in range(0, len(keys), CHUNK):
            chunk = padded(keys[i:i + CHUNK])
            known.update(row.dedup_key for row in _KNOWN.sized(len(chunk)).run(
                db, numbered("key", chunk)))
        now = self._clock()
        owner: dict[str, int] = {}
        new_rows: list[_Row] = []
        for dedup, alert in fresh.items():
            if dedup in known:
                continue  # a redelivery: stored and mailed once already
            item = alert.item
            labels = item.get("labels", {}) if isinstance(item.get("labels"), dict) else {}
            owner[dedup] = alert.post
            new_rows.append(_Row(
                status=alert.status,
                alertname=str(labels.get("alertname") or item.get("subject") or "alert")[:200],
                payload=item, source_id=posts[alert.post].source_id, client_id=alert.client_id,
                dedup_key=dedup, group_id=alert.group_id[:64], received_at=now))
        write_outbox = self._queue(db, new_rows)
        stored = self._store(db, new_rows)  # the first write: from here to the commit, briefly
        mailed = write_outbox(stored)
        return [IngestResult(len(post.alerts),
                             sum(1 for key in stored if owner[key] == n),
                             sum(1 for key in mailed if owner[key] == n))
                for n, post in enumerate(posts)]

    def _as_sources_stand(self, db: Session, posts: Sequence[Posted]) -> list[Posted]:
        """``posts`` with their sources as they stand just before the posts are written. A
        post's source may have been authenticated from the worker's memory
        (``AlertSources.recognized``): one removed or given a new token since has none
        of its posts written (the unit fails, and each post is tried alone), one bound
        to another client meanwhile has its alerts go to that client. A change made
        while the post is being written is one its own lookup would have missed too."""
        ids = padded(sorted({post.source_id for post in posts}))
        now = {row.id: row for row in _SOURCES.sized(len(ids)).run(db, numbered("id", ids))}
        standing = []
        for post in posts:
            row = now.get(post.source_id)
            if row is None or not secrets.compare_digest(row.token_hash, post.token_hash):
                self._sources.forget(post.token_hash)
                raise Unauthorized("unknown alert source or wrong token")
            if row.kind != post.kind:
                self._sources.forget(post.token_hash)
                raise InvalidInput(f"the source posts {row.kind} payloads now, not {post.kind}")
            standing.append(post if row.client_id == post.client_id
                            else replace(post, client_id=row.client_id))
        return standing

    def _pseudonymized(self, db: Session, n: int, post: Posted,
                       mapped: dict[str, int | None],
                       engines: dict[int | None, Pseudonymizer]) -> dict[str, _Alert]:
        """The post's alerts, mapped to their clients and pseudonymized, by dedup key."""
        webhook = post.kind in ("alertmanager", "grafana")
        payload = post.payload
        by_client: dict[int | None, list[dict[str, Any]]] = defaultdict(list)
        if post.client_id is not None:  # a source bound to a client: all of them are its
            by_client[post.client_id] = list(post.alerts)
        else:
            for alert in post.alerts:
                labels = (alert.get("labels") or {}) if webhook else {
                    "host": alert.get("host"), "client": alert.get("client")}
                # the alerts of one group mostly share labels: each set is mapped once
                seen = _AS_JSON.encode([labels.get(k) for k in MAPPING_LABELS])
                if seen not in mapped:
                    mapped[seen] = self._client_for(db, labels)
                by_client[mapped[seen]].append(alert)
        out: dict[str, _Alert] = {}
        for client_id, group in by_client.items():
            if client_id not in engines:
                engines[client_id] = self._engines.for_client(db, client_id)
            engine = engines[client_id]
            if webhook:
                clean = engine.alertmanager(payload | {"alerts": group})
                items = list(zip(group, clean["alerts"], strict=True))
                group_id = str(clean.get("groupKey") or "group-" + engine.opaque(json.dumps(
                    clean.get("groupLabels") or {}, sort_keys=True)))
            else:
                items = [(a, engine.generic(a)) for a in group]
                group_id = "event-" + engine.opaque(str(payload.get("event_id", "")))[:12]
            for raw, item in items:
                status = status_of(raw, payload)
                # Without a fingerprint, an alert is known by its labels (pseudonymized:
                # stable within the period), never lumped together with other alerts.
                identity = item.get("fingerprint") if webhook else None
                if not identity:
                    identity = _AS_SORTED_JSON.encode(item.get("labels") if webhook else item)
                dedup = hashlib.sha256(_AS_SORTED_JSON.encode(
                    [post.source_id, identity, status, item.get("startsAt")]).encode()).hexdigest()
                out.setdefault(dedup, _Alert(n, client_id, group_id, status, item))
        return out

    def _store(self, db: Session, rows: Sequence[_Row]) -> set[str]:
        """Insert the rows whose dedup key no one has stored meanwhile (a retry, or the
        other half of an HA pair, racing this one); give each its id; return their keys."""
        statements = _STORE[db.get_bind().dialect.name == "postgresql"]
        ids: dict[str, int] = {}
        start = 0
        while start < len(rows):  # in powers of two, so a few statement shapes serve all
            count = min(STORE_CHUNK, 1 << (len(rows) - start).bit_length() - 1)
            chunk, start = rows[start:start + count], start + count
            values = {name: getattr(r, column)
                      for names, r in zip(_STORED_NAMES[:count], chunk, strict=True)
                      for name, column in names}
            ids.update((row.dedup_key, row.id)
                       for row in statements.sized(count).run(db, values))
        for row in rows:
            row.id = ids.get(row.dedup_key)
        return set(ids)

    def _queue(self, db: Session, rows: Sequence[_Row]
               ) -> Callable[[set[str]], list[str]]:
        """Plan one e-mail per group and recipient: verified, subscribed, consenting (P2).

        News for a group whose e-mail has not gone out yet is folded into that e-mail;
        a flapping group waits out a hold period, collecting its changes meanwhile.
        The plan is read now, before ``rows`` are written, a few queries per client
        whatever the number of groups; the returned function writes it once they have
        their ids, for those of them that were stored (their dedup keys), and returns the
        dedup key of each new e-mail's first alert. What another worker may be changing
        at the same moment (a pending e-mail's body, a contact's e-mails of the last
        hour) is read by that function, once this unit holds the write.
        """
        by_client: dict[int, dict[str, list[_Row]]] = defaultdict(
            lambda: defaultdict(list))
        for row in rows:
            if row.client_id is not None:
                by_client[row.client_id][row.group_id].append(row)
        now = self._clock()
        since = now - timedelta(minutes=self._settings.flap_window_minutes)
        folds: list[tuple[Any, int, list[_Row], int]] = []  # pending e-mail, client, members, flaps
        fresh: list[tuple[list[_Row], int, int]] = []  # members, contact, flaps
        for client_id, groups in by_client.items():
            contacts = recipient_ids(db, client_id, "alerts")
            if not contacts:
                continue  # none who may be written to, or the client's processing restricted
            asked_groups, asked_contacts = padded(list(groups)), padded(contacts)
            asked = {"client_id": client_id} | numbered("group", asked_groups)
            states: dict[str, list[str]] = defaultdict(list)
            for _, group_id, status in sorted(_STATES.sized(len(asked_groups)).run(
                    db, asked | {"since": since})):
                states[group_id].append(status)
            pending = {(m.contact_id, m.group_id): m for m in sorted(
                _PENDING.sized(len(asked_groups), len(asked_contacts)).run(
                    db, asked | numbered("contact", asked_contacts)), key=lambda m: m.id)}
            for group_id, members in groups.items():
                seq = [*states[group_id], *(m.status for m in members)]
                changes = sum(1 for before, after in pairwise(seq) if before != after)
                flaps = changes if changes >= self._settings.flap_changes else 0
                for contact_id in contacts:
                    waiting = pending.get((contact_id, group_id))
                    if waiting is not None and waiting.notification_id is not None:
                        folds.append((waiting, client_id, members, flaps))
                    else:
                        fresh.append((members, contact_id, flaps))
        budget: dict[int, int] = {}

        def write(stored: set[str]) -> list[str]:
            # A row of these posts that another request stored first has no id: it is
            # left out (rows read from the database all have theirs).
            for waiting, client_id, members, flaps in folds:
                added = [m for m in members if m.dedup_key in stored]
                fold = self._fold(db, waiting, client_id, len(added)) if added else None
                if fold is not None:
                    subject, body = _render(added, flaps, self._settings, fold=fold)
                    _REFOLD.run(db, {"message_id": waiting.id, "subject": subject,
                                     "body": body})
                elif added:  # sent meanwhile: the news gets an e-mail of its own
                    fresh.append((added, waiting.contact_id, flaps))
            firsts: list[str] = []
            planned: list[dict[str, Any]] = []
            for candidates, contact_id, flaps in fresh:
                members = [m for m in candidates if m.dedup_key in stored]
                if contact_id not in budget:
                    budget[contact_id] = self._settings.hourly_cap - self._sent_last_hour(
                        db, contact_id)
                if not members or budget[contact_id] <= 0:
                    continue  # stored and planned by another request first, or over the cap
                budget[contact_id] -= 1
                firsts.append(members[0].dedup_key)
                subject, body = _render(members, flaps, self._settings)
                hold = timedelta(minutes=self._settings.flap_hold_minutes if flaps else 0)
                planned.append({"notification_id": members[0].id, "contact_id": contact_id,
                                "subject": subject, "body": body, "state": "pending",
                                "attempts": 0, "next_attempt_at": now + hold,
                                "created_at": now})
            for message in planned:
                _QUEUE.run(db, message)
            return firsts
        return write

    @staticmethod
    def _fold(db: Session, waiting: Any, client_id: int, added: int) -> Fold | None:
        """What a pending e-mail holds, read once this unit has written ``added`` alerts
        of its group (see _WAITING): its first alert's name, how many came before these,
        and the entries its body lists. None when it is no longer pending (sent meanwhile).

        Nothing of its alerts is read or rendered again: a mail that waits long, on a relay
        that is down, must not grow, nor cost more per post."""
        now = _WAITING.first(db, {"message_id": waiting.id})
        if now is None or now.state != "pending":
            return None
        asked = {"client_id": client_id, "group_id": waiting.group_id,
                 "first_id": waiting.notification_id}
        total = _FOLDED.run(db, asked)[0][0] or 0
        first = _FIRST.first(db, {"id": waiting.notification_id})
        return Fold(first.alertname if first is not None else "alert", max(total - added, 0),
                    _entries_of(now.body))

    def _sent_last_hour(self, db: Session, contact_id: int) -> int:
        """E-mails planned for the contact in the last hour, counted up to the cap."""
        return _LAST_HOUR.run(db, {"contact_id": contact_id, "cap": self._settings.hourly_cap,
                                   "since": self._clock() - timedelta(hours=1)})[0][0] or 0


@dataclass(slots=True)
class _Listed:
    """An alert as an e-mail lists it."""

    status: str
    alertname: str
    payload: dict[str, Any]


@dataclass(slots=True)
class _Row(_Listed):
    """A notification to store (plain, not an ORM object: ingest makes thousands a
    second), with its id once stored."""

    source_id: int | None
    client_id: int | None
    dedup_key: str
    group_id: str
    received_at: datetime
    id: int | None = None


@dataclass(frozen=True)
class Fold:
    """What a pending e-mail holds so far: its first alert's name, how many alerts, and
    the entries it lists (the latest few)."""

    first: str
    earlier: int
    listed: Sequence[str]


ENTRY = "- "  # the first line of each alert an e-mail lists; the rest are indented
INDENT = "    "


def _entry(alert: _Listed) -> str:
    """How an e-mail lists one alert: a line of its state and name, then its labels and
    texts, indented; a value's own line breaks are indented too, so that every entry can
    be told apart in a body written before."""
    p = alert.payload
    labels = p.get("labels", {}) if isinstance(p.get("labels"), dict) else {}
    notes = p.get("annotations", {}) if isinstance(p.get("annotations"), dict) else {}
    lines = [f"{ENTRY}{alert.status}: {alert.alertname}"]
    for k, v in sorted(labels.items()):
        if k != "alertname":
            lines.append(f"{INDENT}{k}: {v}")
    for k in ("summary", "description"):
        if notes.get(k):
            lines.append(f"{INDENT}{notes[k]}")
    if "message" in p:
        lines.append(f"{INDENT}{p['message']}")
    # Every kind of line break a value may hold (a lone \r too, which mail software
    # shows as one): a text can never start a line of its own that reads as an entry.
    return "\n".join(("\n" + INDENT).join(line.splitlines() or [""]) for line in lines)


def _entries_of(body: str) -> list[str]:
    """The entries of a body ``_render`` wrote: its lines before the first entry are
    the header, written again each time. A line after it that is not indented (a
    value's line break, in a body written before they were) stays with its entry."""
    entries: list[str] = []
    for line in body.split("\n"):
        if line.startswith(ENTRY):
            entries.append(line)
        elif entries:
            entries[-1] += "\n" + (line if line.startswith(INDENT) else INDENT + line)
    return entries


def _render(members: Sequence[_Listed], flaps: int, settings: AlertSettings, *,
            fold: Fold | None = None) -> tuple[str, str]:
    """Subject without identifiers; a plain-text body of the pseudonymized alerts.

    The subject tells the latest state; ``flaps`` (state changes in the flap window)
    marks a flapping group. ``members`` are added to what a pending e-mail (``fold``)
    holds already; the body lists the latest MAX_LISTED of them all and says how many
    came before.
    """
    first = fold.first if fold is not None else members[0].alertname
    total = len(members) + (fold.earlier if fold is not None else 0)
    listed = [*(fold.listed if fold is not None else ()),
              *(_entry(m) for m in members[-MAX_LISTED:])][-MAX_LISTED:]
    last = members[-1]
    status = "flapping" if flaps else ("resolved" if last.status == "resolved" else "firing")
    subject = f"[{status}] {first}" + (f" (+{total - 1})" if total > 1 else "")
    lines = []
    if flaps:
        lines.append(f"This alert changed state {flaps} times in the last "
                     f"{settings.flap_window_minutes} minutes. Its changes are collected into "
                     f"one e-mail every {settings.flap_hold_minutes} minutes; the latest is last.")
    if total > len(listed):
        lines.append(f"{total} alerts of this group since this e-mail was first written; "
                     f"the latest {len(listed)} follow ({total - len(listed)} before them are "
                     "not listed).")
    lines += listed
    return header_safe(subject)[:200], "\n".join(lines)
