"""Ingest: map each alert to its client, pseudonymize it before anything is stored, and
plan its e-mails (P2, P5)."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from itertools import pairwise
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from custody.alerts.delivery import header_safe
from custody.alerts.engines import Engines
from custody.alerts.formats import alerts_of, status_of
from custody.alerts.models import AlertSource, Notification, OutboxMessage
from custody.clients.models import Client
from custody.clients.service import mail_recipients
from custody.clock import Clock
from custody.config import AlertSettings
from custody.devices.models import Device

MAX_LISTED = 50  # alerts listed in one e-mail; beyond, it says how many came before

MAPPING_LABELS = ("client", "device", "host", "hostname", "instance")


@dataclass(frozen=True)
class IngestResult:
    accepted: int
    new: int
    queued: int


class AlertIngest:
    """Turn a source's payload into stored, pseudonymized notifications and planned e-mails."""

    def __init__(self, engines: Engines, clock: Clock, settings: AlertSettings) -> None:
        self._engines = engines
        self._clock = clock
        self._settings = settings

    def _client_for(self, db: Session, source: AlertSource, labels: dict[str, Any]) -> int | None:
        """The one client an alert belongs to, or None (held for an admin).

        A source bound to a client decides. Otherwise a ``client`` label naming a client,
        or devices matched by name or address; when those point at more than one client
        (overlapping private ranges are normal at a provider), nobody is guessed.
        """
        if source.client_id is not None:
            return source.client_id
        named = labels.get("client")
        if isinstance(named, str):
            cid = db.scalar(select(Client.id).where(Client.name == named))
            if cid is not None:
                return cid
        candidates: set[int] = set()
        for label in ("device", "host", "hostname", "instance"):
            value = labels.get(label)
            if isinstance(value, str) and value:
                host = value.rsplit(":", 1)[0] if value.count(":") == 1 else value
                candidates.update(db.scalars(select(Device.client_id).where(
                    (Device.name == value) | (Device.host == host)).distinct()))
        return candidates.pop() if len(candidates) == 1 else None

    def ingest(self, db: Session, source: AlertSource, payload: Any) -> IngestResult:
        """Map, pseudonymize, store and queue; the raw payload is never written.

        The source's declared kind decides how the payload is read.
        """
        kind = source.kind
        alerts = alerts_of(kind, payload)
        webhook = kind in ("alertmanager", "grafana")
        by_client: dict[int | None, list[dict[str, Any]]] = defaultdict(list)
        mapped: dict[str, int | None] = {}  # the alerts of one group mostly share labels
        for alert in alerts:
            labels = (alert.get("labels") or {}) if webhook else {
                "host": alert.get("host"), "client": alert.get("client")}
            seen = json.dumps([labels.get(k) for k in MAPPING_LABELS], default=str)
            if seen not in mapped:
                mapped[seen] = self._client_for(db, source, labels)
            by_client[mapped[seen]].append(alert)
        # Everything is pseudonymized before the first write: the write lock is held briefly.
        fresh: dict[str, tuple[int | None, str, str, dict[str, Any]]] = {}
        for client_id, group in by_client.items():
            engine = self._engines.for_client(db, client_id)
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
                    identity = json.dumps(item.get("labels") if webhook else item,
                                          sort_keys=True, default=str)
                dedup = hashlib.sha256(json.dumps(
                    [source.id, identity, status, item.get("startsAt")],
                    sort_keys=True, default=str).encode()).hexdigest()
                fresh.setdefault(dedup, (client_id, group_id, status, item))
        known = set(db.scalars(select(Notification.dedup_key).where(
            Notification.dedup_key.in_(list(fresh)))))
        now = self._clock()
        new_rows: list[Notification] = []
        for dedup, (client_id, group_id, status, item) in fresh.items():
            if dedup in known:
                continue  # a redelivery: stored and mailed once already
            labels = item.get("labels", {}) if isinstance(item.get("labels"), dict) else {}
            new_rows.append(Notification(
                source_id=source.id, client_id=client_id, dedup_key=dedup, group_id=group_id[:64],
                status=status,
                alertname=str(labels.get("alertname") or item.get("subject") or "alert")[:200],
                payload=item, received_at=now))
        write_outbox = self._queue(db, new_rows)
        stored = self._store(db, new_rows)  # the first write: from here to the commit, briefly
        return IngestResult(len(alerts), len(stored), write_outbox(stored))

    def _store(self, db: Session, rows: Sequence[Notification]) -> set[str]:
        """Insert the rows whose dedup key no one has stored meanwhile (a retry, or the
        other half of an HA pair, racing this one); give each its id; return their keys."""
        if not rows:
            return set()
        insert = (pg_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert)
        statement = insert(Notification).on_conflict_do_nothing(
            index_elements=[Notification.dedup_key]).returning(Notification.id,
                                                               Notification.dedup_key)
        ids = dict((key, id_) for id_, key in db.execute(statement, [
            {"source_id": r.source_id, "client_id": r.client_id, "dedup_key": r.dedup_key,
             "group_id": r.group_id, "status": r.status, "alertname": r.alertname,
             "payload": r.payload, "received_at": r.received_at} for r in rows]))
        for row in rows:
            row.id = ids.get(row.dedup_key)  # type: ignore[assignment]
        return set(ids)

    def _queue(self, db: Session, rows: Sequence[Notification]
               ) -> Callable[[set[str]], int]:
        """Plan one e-mail per group and recipient: verified, subscribed, consenting (P2).

        News for a group whose e-mail has not gone out yet is folded into that e-mail;
        a flapping group waits out a hold period, collecting its changes meanwhile.
        Everything is read now, before ``rows`` are written; the returned function
        writes the plan once they have their ids, for those of them that were stored
        (their dedup keys).
        """
        groups: dict[tuple[int, str], list[Notification]] = defaultdict(list)
        for row in rows:
            if row.client_id is not None:
                groups[(row.client_id, row.group_id)].append(row)
        now = self._clock()
        folds: list[tuple[OutboxMessage, Fold, list[Notification], int]] = []
        fresh: list[tuple[list[Notification], int, int]] = []  # members, contact, flaps
        for (client_id, group_id), members in groups.items():
            client = db.get(Client, client_id)
            if client is None or client.processing_restricted_at is not None:
                continue
            contacts = mail_recipients(db, client_id)
            since = now - timedelta(minutes=self._settings.flap_window_minutes)
            states = [*db.scalars(select(Notification.status).where(
                Notification.client_id == client_id, Notification.group_id == group_id,
                Notification.received_at >= since).order_by(Notification.id)),
                *(m.status for m in members)]
            changes = sum(1 for before, after in pairwise(states) if before != after)
            flaps = changes if changes >= self._settings.flap_changes else 0
            for contact in contacts:
                if "alerts" not in contact.purposes:
                    continue
                pending = db.scalar(select(OutboxMessage).join(
                    Notification, OutboxMessage.notification_id == Notification.id).where(
                    OutboxMessage.contact_id == contact.id, OutboxMessage.state == "pending",
                    Notification.client_id == client_id, Notification.group_id == group_id))
                if pending is not None and pending.notification_id is not None:
                    # Only the latest few are read (and listed): a mail that waits long, on
                    # a relay that is down, must not grow, nor cost more per batch.
                    in_group = (Notification.client_id == client_id,
                                Notification.group_id == group_id,
                                Notification.id >= pending.notification_id)
                    earlier = db.scalar(select(func.count()).select_from(Notification)
                                        .where(*in_group)) or 0
                    recent = db.scalars(select(Notification).where(*in_group)
                                        .order_by(Notification.id.desc())
                                        .limit(MAX_LISTED)).all()[::-1]
                    first = db.get(Notification, pending.notification_id) or recent[0]
                    folds.append((pending, Fold(first, earlier, recent), members, flaps))
                elif self._sent_last_hour(db, contact.id) < self._settings.hourly_cap:
                    fresh.append((members, contact.id, flaps))

        def write(stored: set[str]) -> int:
            # A row of this request that another request stored first has no id: it is
            # left out (rows read from the database all have theirs).
            for pending, fold, members, flaps in folds:
                added = [m for m in members if m.dedup_key in stored]
                if added:
                    pending.subject, pending.body = _render(
                        [*fold.recent, *added], flaps, self._settings,
                        first=fold.first, total=fold.earlier + len(added))
            fresh_written = 0
            for candidates, contact_id, flaps in fresh:
                members = [m for m in candidates if m.dedup_key in stored]
                if not members:
                    continue  # another request stored them first, and planned their mail
                fresh_written += 1
                subject, body = _render(members, flaps, self._settings)
                hold = timedelta(minutes=self._settings.flap_hold_minutes if flaps else 0)
                db.add(OutboxMessage(notification_id=members[0].id, contact_id=contact_id,
                                     subject=subject, body=body, state="pending", attempts=0,
                                     next_attempt_at=now + hold, created_at=now))
            return fresh_written
        return write

    def _sent_last_hour(self, db: Session, contact_id: int) -> int:
        return db.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.contact_id == contact_id,
            OutboxMessage.created_at >= self._clock() - timedelta(hours=1))) or 0


@dataclass(frozen=True)
class Fold:
    """What a pending e-mail holds so far: its first alert, how many, the latest few."""

    first: Notification
    earlier: int
    recent: Sequence[Notification]


def _render(members: Sequence[Notification], flaps: int, settings: AlertSettings, *,
            first: Notification | None = None, total: int | None = None) -> tuple[str, str]:
    """Subject without identifiers; a plain-text body of the pseudonymized alerts.

    The subject tells the latest state; ``flaps`` (state changes in the flap window)
    marks a flapping group. Of ``total`` alerts (default: the members), the body lists
    the latest MAX_LISTED and says how many came before.
    """
    first, last = first or members[0], members[-1]
    total = len(members) if total is None else total
    listed = members[-MAX_LISTED:]
    status = "flapping" if flaps else ("resolved" if last.status == "resolved" else "firing")
    subject = f"[{status}] {first.alertname}" + (f" (+{total - 1})" if total > 1 else "")
    lines = []
    if flaps:
        lines.append(f"This alert changed state {flaps} times in the last "
                     f"{settings.flap_window_minutes} minutes. Its changes are collected into "
                     f"one e-mail every {settings.flap_hold_minutes} minutes; the latest is last.")
    if total > len(listed):
        lines.append(f"{total} alerts of this group since this e-mail was first written; "
                     f"the latest {len(listed)} follow ({total - len(listed)} before them are "
                     "not listed).")
    for m in listed:
        p = m.payload
        labels = p.get("labels", {}) if isinstance(p.get("labels"), dict) else {}
        notes = p.get("annotations", {}) if isinstance(p.get("annotations"), dict) else {}
        lines.append(f"- {m.status}: {m.alertname}")
        for k, v in sorted(labels.items()):
            if k != "alertname":
                lines.append(f"    {k}: {v}")
        for k in ("summary", "description"):
            if notes.get(k):
                lines.append(f"    {notes[k]}")
        if "message" in p:
            lines.append(f"    {p['message']}")
    return header_safe(subject)[:200], "\n".join(lines)


