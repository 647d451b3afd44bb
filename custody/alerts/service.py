"""Alert sources, ingest (pseudonymize before storing), the outbox and its delivery (P2, P5)."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.errors import MessageError
from html import escape
from itertools import pairwise
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from custody.accounts.roles import STAFF
from custody.accounts.service import Principal, token_digest
from custody.alerts.formats import SOURCE_KINDS, alerts_of, status_of
from custody.alerts.keys import known_names, period_key, period_of
from custody.alerts.models import AlertSource, Notification, OutboxMessage
from custody.alerts.pseudonym import Pseudonymizer
from custody.audit.service import AuditLog
from custody.clients.models import Client, Contact
from custody.clients.service import mail_recipients
from custody.clock import Clock
from custody.config import AlertSettings
from custody.db import transaction
from custody.devices.models import ClientPolicy, Device
from custody.errors import BackendUnavailable, Conflict, InvalidInput, NotFound, Unauthorized
from custody.mail import Mailer, Message
from custody.secrets import SecretStore
from custody.tenancy import require_client_access, require_role

MAPPING_LABELS = ("client", "device", "host", "hostname", "instance")
KEY_CACHE_SECONDS = 300
TOKEN_PREFIX = "cas_"


@dataclass(frozen=True)
class IngestResult:
    accepted: int
    new: int
    queued: int


class AlertService:
    def __init__(self, secrets_store: SecretStore, audit: AuditLog, clock: Clock,
                 settings: AlertSettings, mailer: Mailer, signing_key: bytes,
                 public_url: str, mail_domain: str = "localhost") -> None:
        self._secrets = secrets_store
        self._audit = audit
        self._clock = clock
        self._settings = settings
        self._mailer = mailer
        self._signer = URLSafeSerializer(signing_key, salt="unsubscribe")
        self._message_key = hmac.digest(signing_key, b"message-id", "sha256")
        self._mail_domain = mail_domain
        self._keys: dict[tuple[int | None, datetime | None, str], tuple[float, bytes]] = {}
        self._engines: dict[tuple[int | None, bytes], tuple[float, Pseudonymizer]] = {}
        self._base_url = public_url.rstrip("/")

    # -- sources
    def create_source(self, db: Session, who: Principal, name: str, kind: str,
                      client_id: int | None) -> tuple[AlertSource, str]:
        """Register a source; its token is returned once and stored only as a hash."""
        require_role(who, "admin")
        name = name.strip()
        if not name or len(name) > 100 or "/" in name:
            raise InvalidInput("name must be 1-100 characters, without '/'", field="name")
        if kind not in SOURCE_KINDS:
            raise InvalidInput(f"kind must be one of {', '.join(SOURCE_KINDS)}", field="kind")
        if client_id is not None and db.get(Client, client_id) is None:
            raise NotFound(f"client {client_id} does not exist")
        if db.scalar(select(AlertSource.id).where(AlertSource.name == name)):
            raise Conflict(f"an alert source named {name!r} exists already")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        source = AlertSource(name=name, kind=kind, token_hash=token_digest(token),
                             client_id=client_id, created_at=self._clock())
        db.add(source)
        db.flush()
        self._audit.record(db, who.actor, "alerts.source_create", f"alert_source:{source.id}",
                           kind=kind, client_id=client_id)
        return source, token

    def authenticate(self, db: Session, name: str, kind: str, token: str | None) -> AlertSource:
        source = db.scalar(select(AlertSource).where(AlertSource.name == name))
        if source is None or token is None or \
                not secrets.compare_digest(source.token_hash, token_digest(token)):
            raise Unauthorized("unknown alert source or wrong token")
        if source.kind != kind:
            raise InvalidInput(f"source {name!r} posts {source.kind} payloads, not {kind}")
        return source

    # -- ingest
    def engine(self, db: Session, client_id: int | None) -> Pseudonymizer:
        """The pseudonymizer for a client's alerts now: its period key, its known names,
        and its choice of address pseudonyms (ingest and the CLI both use this).

        One is kept per client while its key and names stay the same, so what it has
        learned about words and addresses carries over from one payload to the next.
        """
        policy = db.get(ClientPolicy, client_id) if client_id is not None else None
        client = db.get(Client, client_id) if client_id is not None else None
        key = self._period_key(client_id, client.created_at if client else None)
        names = tuple(sorted(set(known_names(db, client_id)))) if client_id is not None else ()
        prefix = bool(policy and policy.prefix_preserving_ips)
        slot = (client_id, hashlib.sha256(key + repr((names, prefix)).encode()).digest())
        kept = self._engines.get(slot)
        if kept is None or kept[0] < time.monotonic():
            if len(self._engines) > 1_000:
                self._engines.clear()
            kept = self._engines[slot] = (
                time.monotonic() + KEY_CACHE_SECONDS,
                Pseudonymizer(key, names, self._settings.extra_labels, prefix_preserving_ips=prefix))
        return kept[1]

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
            engine = self.engine(db, client_id)
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
        db.add_all(new_rows)  # the first write: from here to the commit, briefly
        db.flush()
        return IngestResult(len(alerts), len(new_rows), write_outbox())

    def _queue(self, db: Session, rows: Sequence[Notification]) -> Callable[[], int]:
        """Plan one e-mail per group and recipient: verified, subscribed, consenting (P2).

        News for a group whose e-mail has not gone out yet is folded into that e-mail;
        a flapping group waits out a hold period, collecting its changes meanwhile.
        Everything is read now, before ``rows`` are written; the returned function
        writes the plan once they have their ids.
        """
        groups: dict[tuple[int, str], list[Notification]] = defaultdict(list)
        for row in rows:
            if row.client_id is not None:
                groups[(row.client_id, row.group_id)].append(row)
        now = self._clock()
        folds: list[tuple[OutboxMessage, list[Notification], int]] = []
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
                    news = [*db.scalars(select(Notification).where(
                        Notification.client_id == client_id, Notification.group_id == group_id,
                        Notification.id >= pending.notification_id)
                        .order_by(Notification.id)), *members]
                    folds.append((pending, news, flaps))
                elif self._sent_last_hour(db, contact.id) < self._settings.hourly_cap:
                    fresh.append((members, contact.id, flaps))

        def write() -> int:
            for pending, news, flaps in folds:
                pending.subject, pending.body = _render(news, flaps, self._settings)
            for members, contact_id, flaps in fresh:
                subject, body = _render(members, flaps, self._settings)
                hold = timedelta(minutes=self._settings.flap_hold_minutes if flaps else 0)
                db.add(OutboxMessage(notification_id=members[0].id, contact_id=contact_id,
                                     subject=subject, body=body, state="pending", attempts=0,
                                     next_attempt_at=now + hold, created_at=now))
            return len(fresh)
        return write

    def _sent_last_hour(self, db: Session, contact_id: int) -> int:
        return db.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.contact_id == contact_id,
            OutboxMessage.created_at >= self._clock() - timedelta(hours=1))) or 0

    # -- delivery
    def unsubscribe_url(self, contact: Contact) -> str:
        return f"{self._base_url}/unsubscribe/{self._signer.dumps(contact.id)}"

    def message_id(self, msg: OutboxMessage) -> str:
        """A Message-ID that stays the same across attempts and says nothing about anyone."""
        digest = hmac.digest(self._message_key, f"{msg.id}:{msg.created_at.isoformat()}".encode(),
                             "sha256").hex()[:24]
        return f"<alert.{digest}@{self._mail_domain}>"

    def unsubscribe(self, db: Session, token: str) -> Contact:
        try:
            contact_id = self._signer.loads(token)
        except BadSignature:
            raise InvalidInput("this unsubscribe link is not valid") from None
        contact = db.get(Contact, contact_id)
        if contact is None:
            raise NotFound("this contact no longer exists")
        if contact.unsubscribed_at is None:
            contact.unsubscribed_at = self._clock()
            self._audit.record(db, "contact", "contact.unsubscribe", f"contact:{contact.id}")
        return contact

    def deliver(self, units: sessionmaker[Session], limit: int = 200) -> int:
        """Send what is due, each message in its own unit of work: a crash re-sends at most
        the one in flight. Failures wait 2^attempts minutes (at most 6 h) before a retry."""
        with transaction(units) as db:
            due = db.scalars(select(OutboxMessage.id).where(
                OutboxMessage.state == "pending", OutboxMessage.next_attempt_at <= self._clock())
                .order_by(OutboxMessage.id).limit(limit)).all()
        sent = 0
        for message_id in due:
            with transaction(units) as db:
                sent += self._deliver_one(db, message_id)
        return sent

    def _deliver_one(self, db: Session, message_id: int) -> bool:
        msg = db.get(OutboxMessage, message_id)
        if msg is None or msg.state != "pending":
            return False  # purged or sent since we looked
        contact = db.get(Contact, msg.contact_id)
        if contact is None or contact.unsubscribed_at is not None or contact.verified_at is None:
            msg.state, msg.last_error = "failed", "recipient withdrew"
            return False
        url = self.unsubscribe_url(contact)
        # The same Message-ID on every attempt: a resend after a crash between the
        # server's acceptance and our commit is recognisable as the same e-mail.
        message_id_header = self.message_id(msg)
        try:
            self._mailer.send(Message(
                to=contact.value, subject=header_safe(msg.subject),
                text=f"{msg.body}\n\nStop these e-mails: {url}\n",
                html=(f"<pre>{escape(msg.body)}</pre>"  # no images, no tracking
                      f'<p><a href="{escape(url)}">Stop these e-mails</a></p>'),
                headers={"List-Unsubscribe": f"<{url}>",
                         "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                         "X-Custody-Message": str(msg.id), "Message-ID": message_id_header}))
        except BackendUnavailable as exc:
            msg.attempts += 1
            msg.last_error = str(exc)[:300]
            if msg.attempts >= self._settings.max_attempts:
                msg.state = "failed"
            else:
                msg.next_attempt_at = self._clock() + timedelta(minutes=min(2 ** msg.attempts, 360))
            return False
        except (ValueError, TypeError, UnicodeError, MessageError) as exc:
            # This one message cannot be built or sent as it is: it fails alone and
            # the rest of the outbox goes on.
            msg.attempts += 1
            msg.state = "failed"
            msg.last_error = f"the message could not be built: {type(exc).__name__}"
            return False
        msg.state, msg.sent_at = "sent", self._clock()
        return True

    def retention_sweep(self, db: Session) -> int:
        """Delete notifications past retention; held ones (no client) go sooner."""
        now = self._clock()
        cutoff = now - timedelta(days=self._settings.retention_days)
        held_cutoff = now - timedelta(days=self._settings.held_retention_days)
        db.execute(delete(OutboxMessage).where(OutboxMessage.created_at < cutoff))
        gone = db.execute(delete(Notification).where(
            (Notification.received_at < cutoff)
            | (Notification.client_id.is_(None) & (Notification.received_at < held_cutoff))))
        return int(gone.rowcount)  # type: ignore[attr-defined]

    # -- alerts that map to no client
    def held(self, db: Session, who: Principal, limit: int = 200) -> Sequence[Notification]:
        """Alerts no client could be told of (unknown or ambiguous), newest first.

        They are pseudonymized under the provider's period key and never mailed; each
        view is audited.
        """
        require_role(who, "admin")
        rows = db.scalars(select(Notification).where(Notification.client_id.is_(None))
                          .order_by(Notification.id.desc()).limit(limit)).all()
        self._audit.record(db, who.actor, "alerts.held_view", "notifications", shown=len(rows))
        return rows

    def assign_source(self, db: Session, who: Principal, source_id: int,
                      client_id: int | None) -> AlertSource:
        """Bind a source to one client (its later alerts go to that client), or unbind it."""
        require_role(who, "admin")
        source = db.get(AlertSource, source_id)
        if source is None:
            raise NotFound(f"alert source {source_id} does not exist")
        if client_id is not None and db.get(Client, client_id) is None:
            raise NotFound(f"client {client_id} does not exist")
        source.client_id = client_id
        self._audit.record(db, who.actor, "alerts.source_assign", f"alert_source:{source.id}",
                           client_id=client_id)
        return source

    def reidentify(self, db: Session, who: Principal, client_id: int, token: str) -> list[str]:
        """What a token stands for, among the client's inventory, for the current period only.

        Provider staff only, and audited: this is the one way back from a pseudonym.
        """
        require_role(who, *STAFF)
        if db.get(Client, client_id) is None:
            raise NotFound(f"client {client_id} does not exist")
        kind = token.split("-", 1)[0]
        engine = self.engine(db, client_id)
        candidates: set[str] = set()
        for device in db.scalars(select(Device).where(Device.client_id == client_id)):
            candidates.update(v for v in (device.name, device.host) if v)
        candidates.update(known_names(db, client_id))
        candidates.update(c.value for c in db.scalars(select(Contact).where(
            Contact.client_id == client_id)))
        matches = sorted(v for v in candidates if engine.token(kind, v) == token)
        self._audit.record(db, who.actor, "alerts.reidentify", f"client:{client_id}",
                           token=token, found=len(matches))
        return matches

    def key_retention(self, db: Session) -> int:
        """Destroy pseudonym keys of periods older than the retention: their tokens go dark."""
        cutoff = f"{self._clock() - timedelta(days=self._settings.key_retention_days):%Y-%m}"
        tenants = [f"client-{cid}" for cid in db.scalars(select(Client.id))] + ["provider"]
        destroyed = 0
        for tenant in tenants:
            for path in self._secrets.list_paths(f"{tenant}/pseudonym"):
                if path.rsplit("/", 1)[-1] < cutoff:
                    self._secrets.destroy(path)
                    destroyed += 1
        if destroyed:
            self._audit.record(db, "scheduler", "alerts.key_retention", "pseudonym_keys",
                               destroyed=destroyed)
        return destroyed

    def notifications(self, db: Session, who: Principal, client_id: int) -> Sequence[Notification]:
        require_client_access(who, client_id)
        return db.scalars(select(Notification).where(Notification.client_id == client_id)
                          .order_by(Notification.id.desc()).limit(200)).all()


def _render(members: Sequence[Notification], flaps: int, settings: AlertSettings
            ) -> tuple[str, str]:
    """Subject without identifiers; a plain-text body of the pseudonymized alerts.

    The subject tells the latest state; ``flaps`` (state changes in the flap window)
    marks a flapping group.
    """
    first, last = members[0], members[-1]
    status = "flapping" if flaps else ("resolved" if last.status == "resolved" else "firing")
    subject = f"[{status}] {first.alertname}" + (f" (+{len(members) - 1})" if len(members) > 1 else "")
    lines = []
    if flaps:
        lines.append(f"This alert changed state {flaps} times in the last "
                     f"{settings.flap_window_minutes} minutes. Its changes are collected into "
                     f"one e-mail every {settings.flap_hold_minutes} minutes; the latest is last.")
    for m in members:
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


def header_safe(value: str) -> str:
    """One line without control characters: nothing in an alert can add a mail header."""
    return " ".join("".join(c if c.isprintable() else " " for c in value).split())
