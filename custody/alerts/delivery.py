"""The outbox: one e-mail at a time, retried with backoff, each with a one-click unsubscribe."""

from __future__ import annotations

import hmac
from datetime import timedelta
from email.errors import MessageError
from html import escape

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from custody.alerts.models import OutboxMessage
from custody.audit.service import AuditLog
from custody.clients.models import Contact
from custody.clock import Clock
from custody.config import AlertSettings
from custody.db import transaction
from custody.errors import BackendUnavailable, InvalidInput, NotFound
from custody.mail import Mailer, Message


class Outbox:
    """Send planned alert e-mails and honour unsubscribes."""

    def __init__(self, audit: AuditLog, clock: Clock, settings: AlertSettings, mailer: Mailer,
                 signing_key: bytes, public_url: str, mail_domain: str = "localhost") -> None:
        self._audit = audit
        self._clock = clock
        self._settings = settings
        self._mailer = mailer
        self._signer = URLSafeSerializer(signing_key, salt="unsubscribe")
        self._message_key = hmac.digest(signing_key, b"message-id", "sha256")
        self._mail_domain = mail_domain
        self._base_url = public_url.rstrip("/")

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


def header_safe(value: str) -> str:
    """One line without control characters: nothing in an alert can add a mail header."""
    return " ".join("".join(c if c.isprintable() else " " for c in value).split())
