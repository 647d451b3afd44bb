"""Alert sources, ingest (pseudonymize before storing), the outbox and its delivery (P2, P5)."""

from __future__ import annotations

import hashlib
import json
import secrets
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from html import escape
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from custody.accounts.service import Principal, token_digest
from custody.alerts.formats import detect
from custody.alerts.keys import known_names, period_key
from custody.alerts.models import AlertSource, Notification, OutboxMessage
from custody.alerts.pseudonym import Pseudonymizer
from custody.audit.service import AuditLog
from custody.clients.models import Client, Contact
from custody.clock import Clock
from custody.config import AlertSettings
from custody.devices.models import Device
from custody.errors import BackendUnavailable, Conflict, InvalidInput, NotFound, Unauthorized
from custody.mail import Mailer, Message
from custody.secrets import SecretStore
from custody.tenancy import require_client_access, require_role

SOURCE_KINDS = ("alertmanager", "zabbix", "generic")
TOKEN_PREFIX = "cas_"


@dataclass(frozen=True)
class IngestResult:
    accepted: int
    new: int
    queued: int


class AlertService:
    def __init__(self, secrets_store: SecretStore, audit: AuditLog, clock: Clock,
                 settings: AlertSettings, mailer: Mailer, signing_key: bytes,
                 base_url: str | None) -> None:
        self._secrets = secrets_store
        self._audit = audit
        self._clock = clock
        self._settings = settings
        self._mailer = mailer
        self._signer = URLSafeSerializer(signing_key, salt="unsubscribe")
        self._base_url = (base_url or "http://127.0.0.1:8080").rstrip("/")

    # -- sources
    def create_source(self, db: Session, who: Principal, name: str, kind: str,
                      client_id: int | None) -> tuple[AlertSource, str]:
        """Register a source; its token is returned once and stored only as a hash."""
        require_role(who, "admin")
        name = name.strip()
        if not name or len(name) > 100 or "/" in name:
            raise InvalidInput("name must be 1-100 characters, without '/'")
        if kind not in SOURCE_KINDS:
            raise InvalidInput(f"kind must be one of {', '.join(SOURCE_KINDS)}")
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
    def _client_for(self, db: Session, source: AlertSource, labels: dict[str, Any]) -> int | None:
        if source.client_id is not None:
            return source.client_id
        named = labels.get("client")
        if isinstance(named, str):
            cid = db.scalar(select(Client.id).where(Client.name == named))
            if cid is not None:
                return cid
        for label in ("device", "host", "hostname", "instance"):
            value = labels.get(label)
            if isinstance(value, str) and value:
                host = value.rsplit(":", 1)[0]
                cid = db.scalar(select(Device.client_id).where(
                    (Device.name == value) | (Device.host == host)).limit(1))
                if cid is not None:
                    return cid
        return None

    def ingest(self, db: Session, source: AlertSource, payload: Any) -> IngestResult:
        """Map, pseudonymize, store and queue; the raw payload is never written."""
        kind = detect(payload)
        if source.kind != "generic" and kind != source.kind:
            raise InvalidInput(f"this source sends {source.kind} payloads, got {kind}")
        alerts = payload["alerts"] if kind == "alertmanager" else [payload]
        by_client: dict[int | None, list[dict[str, Any]]] = defaultdict(list)
        for alert in alerts:
            labels = alert.get("labels", {}) if kind == "alertmanager" else {
                "host": alert.get("host"), "client": alert.get("client")}
            by_client[self._client_for(db, source, labels)].append(alert)
        new_rows: list[Notification] = []
        now = self._clock()
        for client_id, group in by_client.items():
            key = period_key(self._secrets, client_id, now)
            engine = Pseudonymizer(key, known_names(db, client_id) if client_id else (),
                                   self._settings.extra_labels)
            if kind == "alertmanager":
                clean = engine.alertmanager(payload | {"alerts": group})
                items = clean["alerts"]
                group_id = clean.get("groupKey", "")
            else:
                items = [engine.generic(a) for a in group]
                group_id = "event-" + hashlib.sha256(key + str(payload.get("event_id", "")).encode()
                                                    ).hexdigest()[:12]
            for item in items:
                dedup = hashlib.sha256(json.dumps(
                    [source.id, item.get("fingerprint"), item.get("status"),
                     item.get("startsAt"), item if kind != "alertmanager" else None],
                    sort_keys=True, default=str).encode()).hexdigest()
                if db.scalar(select(Notification.id).where(Notification.dedup_key == dedup)):
                    continue  # a redelivery: stored and mailed once already
                labels = item.get("labels", {}) if isinstance(item.get("labels"), dict) else {}
                row = Notification(source_id=source.id, client_id=client_id, dedup_key=dedup,
                                   group_id=str(group_id)[:64],
                                   status=str(item.get("status", payload.get("status", "firing"))),
                                   alertname=str(labels.get("alertname") or item.get("subject")
                                                 or "alert")[:200],
                                   payload=item, received_at=now)
                db.add(row)
                new_rows.append(row)
        db.flush()
        queued = self._queue(db, new_rows)
        return IngestResult(len(alerts), len(new_rows), queued)

    def _queue(self, db: Session, rows: Sequence[Notification]) -> int:
        """One e-mail per group and recipient: verified, subscribed, consenting (P2)."""
        groups: dict[tuple[int, str], list[Notification]] = defaultdict(list)
        for row in rows:
            if row.client_id is not None:
                groups[(row.client_id, row.group_id)].append(row)
        queued = 0
        hour_ago = self._clock() - timedelta(hours=1)
        for (client_id, _group), members in groups.items():
            client = db.get(Client, client_id)
            if client is None or client.processing_restricted_at is not None:
                continue
            contacts = db.scalars(select(Contact).where(
                Contact.client_id == client_id, Contact.kind == "email",
                Contact.verified_at.is_not(None), Contact.unsubscribed_at.is_(None))).all()
            for contact in contacts:
                if "alerts" not in contact.purposes:
                    continue
                recent = db.scalar(select(func.count()).select_from(OutboxMessage).where(
                    OutboxMessage.contact_id == contact.id,
                    OutboxMessage.created_at >= hour_ago)) or 0
                if recent >= self._settings.hourly_cap:
                    continue
                subject, body = _render(members)
                db.add(OutboxMessage(notification_id=members[0].id, contact_id=contact.id,
                                     subject=subject, body=body, state="pending", attempts=0,
                                     next_attempt_at=self._clock(), created_at=self._clock()))
                queued += 1
        return queued

    # -- delivery
    def unsubscribe_url(self, contact: Contact) -> str:
        return f"{self._base_url}/unsubscribe/{self._signer.dumps(contact.id)}"

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

    def deliver(self, db: Session, limit: int = 200) -> int:
        """Send what is due; failures wait 2^attempts minutes (at most 6 h) before a retry."""
        due = db.scalars(select(OutboxMessage).where(
            OutboxMessage.state == "pending", OutboxMessage.next_attempt_at <= self._clock())
            .order_by(OutboxMessage.id).limit(limit)).all()
        sent = 0
        for msg in due:
            contact = db.get(Contact, msg.contact_id)
            if contact is None or contact.unsubscribed_at is not None or contact.verified_at is None:
                msg.state, msg.last_error = "failed", "recipient withdrew"
                continue
            url = self.unsubscribe_url(contact)
            try:
                self._mailer.send(Message(
                    to=contact.value, subject=msg.subject,
                    text=f"{msg.body}\n\nStop these e-mails: {url}\n",
                    html=(f"<pre>{escape(msg.body)}</pre>"  # no images, no tracking
                          f'<p><a href="{escape(url)}">Stop these e-mails</a></p>'),
                    headers={"List-Unsubscribe": f"<{url}>",
                             "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                             "X-Custody-Message": str(msg.id)}))
            except BackendUnavailable as exc:
                msg.attempts += 1
                msg.last_error = str(exc)[:300]
                if msg.attempts >= self._settings.max_attempts:
                    msg.state = "failed"
                else:
                    msg.next_attempt_at = self._clock() + timedelta(
                        minutes=min(2 ** msg.attempts, 360))
                db.commit()
                continue
            msg.state, msg.sent_at = "sent", self._clock()
            db.commit()  # one message at a time: a crash re-sends at most the one in flight
            sent += 1
        return sent

    def retention_sweep(self, db: Session) -> int:
        cutoff = self._clock() - timedelta(days=self._settings.retention_days)
        db.execute(delete(OutboxMessage).where(OutboxMessage.created_at < cutoff))
        gone = db.execute(delete(Notification).where(Notification.received_at < cutoff))
        return int(gone.rowcount)  # type: ignore[attr-defined]

    def reidentify(self, db: Session, who: Principal, client_id: int, token: str) -> list[str]:
        """What a token stands for, among the client's inventory, for the current period only.

        Provider staff only, and audited: this is the one way back from a pseudonym.
        """
        require_role(who, "admin", "technician")
        if db.get(Client, client_id) is None:
            raise NotFound(f"client {client_id} does not exist")
        kind = token.split("-", 1)[0]
        engine = Pseudonymizer(period_key(self._secrets, client_id, self._clock()))
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


def _render(members: Sequence[Notification]) -> tuple[str, str]:
    """Subject without identifiers; a plain-text body of the pseudonymized alerts."""
    first = members[0]
    status = "resolved" if all(m.status == "resolved" for m in members) else "firing"
    subject = f"[{status}] {first.alertname}" + (f" (+{len(members) - 1})" if len(members) > 1 else "")
    lines = []
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
    return subject[:200], "\n".join(lines)
