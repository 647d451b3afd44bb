"""Clients (tenants), their contacts with double opt-in, and their engagements."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import bindparam, delete, func, select
from sqlalchemy.orm import Session

from custody.accounts.service import Principal
from custody.audit.service import AuditLog
from custody.clients.models import Client, Contact, Engagement, engagement_devices
from custody.clock import Clock, iso
from custody.db import before_io, rows_changed
from custody.errors import BackendUnavailable, Conflict, InvalidInput, NotFound
from custody.mail import Mailer, Message
from custody.paging import like_pattern
from custody.statements import DriverStatement
from custody.tenancy import get_owned, require_client_access, require_role

log = logging.getLogger("custody.clients")

PURPOSES = ("alerts", "billing", "technical")
CONTACT_KINDS = ("email", "phone")
EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                   r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")
PHONE = re.compile(r"^\+[1-9][0-9]{6,14}$")  # E.164


@dataclass(frozen=True)
class EngagementChanges:
    """Fields a PATCH may change; a field left as None-with-flag-false stays as it is."""

    title: str | None = None
    paid_at: datetime | None = None
    warranty_until: datetime | None = None
    closed_at: datetime | None = None
    fields: frozenset[str] = frozenset()


class ClientService:
    """Create and read tenants and what belongs to them, scoped to the caller."""

    def __init__(self, audit: AuditLog, clock: Clock, signing_key: bytes,
                 verification_hours: int, mailer: Mailer) -> None:
        self._audit = audit
        self._clock = clock
        self._mailer = mailer
        self._signer = URLSafeTimedSerializer(signing_key, salt="contact-verify")
        self._verification_ttl = timedelta(hours=verification_hours)

    # -- clients
    def create_client(self, db: Session, actor: str, name: str) -> Client:
        name = name.strip()
        if not name or len(name) > 200:
            raise InvalidInput("name must be 1-200 characters", field="name")
        if db.scalar(select(Client.id).where(Client.name == name)) is not None:
            raise Conflict(f"a client named {name!r} exists already")
        client = Client(name=name, status="active", created_at=self._clock())
        db.add(client)
        db.flush()
        self._audit.record(db, actor, "client.create", f"client:{client.id}")
        return client

    def list_clients(self, db: Session, who: Principal) -> Sequence[Client]:
        stmt = select(Client).order_by(Client.name)
        if not who.is_staff:
            stmt = stmt.where(Client.id == who.client_id)
        return db.scalars(stmt).all()

    def find_clients(self, db: Session, who: Principal, search: str, limit: int = 20
                     ) -> Sequence[Client]:
        """Clients whose name holds ``search`` (any case), by name; staff only."""
        require_role(who, "admin", "technician")
        return db.scalars(select(Client).where(
            func.lower(Client.name).like(like_pattern(search.lower()), escape="\\"))
            .order_by(Client.name).limit(limit)).all()

    # -- the client's data (custody.tenancy.ClientData); the client's row goes last of all
    def export_client(self, db: Session, client_id: int) -> dict[str, Any]:
        client = db.get(Client, client_id)
        if client is None:
            raise NotFound(f"client {client_id} does not exist")
        contacts = db.scalars(select(Contact).where(Contact.client_id == client_id)
                              .order_by(Contact.id)).all()
        engagements = db.scalars(select(Engagement).where(Engagement.client_id == client_id)
                                 .order_by(Engagement.id)).all()
        return {
            "client": {"id": client.id, "name": client.name, "status": client.status,
                       "created_at": iso(client.created_at), "closed_at": iso(client.closed_at),
                       "processing_restricted_at": iso(client.processing_restricted_at),
                       "erasure_requested_at": iso(client.erasure_requested_at)},
            "contacts": [{"id": c.id, "kind": c.kind, "value": c.value, "purposes": c.purposes,
                          "verified_at": iso(c.verified_at),
                          "unsubscribed_at": iso(c.unsubscribed_at)} for c in contacts],
            "engagements": [{"id": e.id, "title": e.title, "paid_at": iso(e.paid_at),
                             "warranty_until": iso(e.warranty_until),
                             "closed_at": iso(e.closed_at)} for e in engagements],
        }

    def forget_client(self, db: Session, client_id: int) -> dict[str, int]:
        engagement_ids = select(Engagement.id).where(Engagement.client_id == client_id)
        return {
            "engagement_links": rows_changed(db, delete(engagement_devices).where(
                engagement_devices.c.engagement_id.in_(engagement_ids))),
            "engagements": rows_changed(db, delete(Engagement).where(Engagement.client_id == client_id)),
            "contacts": rows_changed(db, delete(Contact).where(Contact.client_id == client_id)),
            "clients": rows_changed(db, delete(Client).where(Client.id == client_id)),
        }

    def get_client(self, db: Session, who: Principal, client_id: int) -> Client:
        require_client_access(who, client_id)
        client = db.get(Client, client_id)
        if client is None:
            raise NotFound(f"client {client_id} does not exist")
        return client

    # -- contacts
    def add_contact(self, db: Session, who: Principal, client_id: int, kind: str, value: str,
                    purposes: Sequence[str]) -> Contact:
        """Add an unverified contact; the caller sends the verification message after commit."""
        self.get_client(db, who, client_id)
        value = self.normalize_contact(kind, value)
        unknown = sorted(set(purposes) - set(PURPOSES))
        if unknown or not purposes:
            raise InvalidInput(f"purposes must be a non-empty list of {', '.join(PURPOSES)}",
                               field="purposes")
        exists = db.scalar(select(Contact.id).where(
            Contact.client_id == client_id, Contact.kind == kind, Contact.value == value))
        if exists is not None:
            raise Conflict("this contact exists already for the client")
        contact = Contact(client_id=client_id, kind=kind, value=value,
                          purposes=sorted(set(purposes)), created_at=self._clock())
        db.add(contact)
        db.flush()
        self._audit.record(db, who.actor, "contact.create", f"contact:{contact.id}",
                           client_id=client_id, purposes=contact.purposes)
        return contact

    @staticmethod
    def normalize_contact(kind: str, value: str) -> str:
        """Validate an e-mail address or E.164 phone number; return its stored form."""
        value = value.strip()
        if kind not in CONTACT_KINDS:
            raise InvalidInput(f"kind must be one of {', '.join(CONTACT_KINDS)}", field="kind")
        if kind == "email":
            if not EMAIL.match(value) or len(value) > 320:
                raise InvalidInput("value is not a valid e-mail address", field="value")
            return value.lower()
        if not PHONE.match(value):
            raise InvalidInput("value must be a phone number in E.164 form, e.g. +4930123456", field="value")
        return value

    def list_contacts(self, db: Session, who: Principal, client_id: int) -> Sequence[Contact]:
        self.get_client(db, who, client_id)
        return db.scalars(select(Contact).where(Contact.client_id == client_id)
                          .order_by(Contact.id)).all()

    def verification_token(self, contact: Contact) -> str:
        return self._signer.dumps([contact.id, _value_digest(contact.value)])

    def unverified_contact(self, db: Session, who: Principal, contact_id: int) -> Contact:
        """A contact whose verification link may be sent again."""
        contact = get_owned(db, Contact, contact_id, who, "contact")
        if contact.verified_at is not None:
            raise InvalidInput("this contact is verified already")
        return contact

    def send_verification(self, db: Session, contact: Contact, link: str) -> bool:
        """Mail the double opt-in link to an e-mail contact; return whether it went out.

        A mail failure leaves the contact unverified, not lost: the admin can resend."""
        if contact.kind != "email":
            return False
        message = self._verification_message(contact, link)
        before_io(db)
        try:
            self._mailer.send(message)
        except BackendUnavailable as exc:
            log.warning("verification mail for contact %s not sent: %s", contact.id, exc)
            return False
        return True

    def _verification_message(self, contact: Contact, link: str) -> Message:
        hours = int(self._verification_ttl.total_seconds() // 3600)
        text = (
            "Hello,\n\nthis address was added as a contact for your managed IT service.\n"
            f"Please confirm it by opening this link within {hours} hours:\n\n{link}\n\n"
            "If you did not expect this message, ignore it: nothing will be sent to you.\n"
        )
        return Message(to=contact.value, subject="Please confirm your contact address", text=text)

    def verify_contact(self, db: Session, token: str) -> Contact:
        """Mark the contact verified if the signed link is genuine and not expired."""
        try:
            contact_id, fingerprint = self._signer.loads(
                token, max_age=int(self._verification_ttl.total_seconds()))
        except SignatureExpired:
            raise InvalidInput("this verification link has expired; ask for a new one") from None
        except (BadSignature, ValueError, TypeError):
            raise InvalidInput("this verification link is not valid") from None
        contact = db.get(Contact, contact_id)
        if contact is None or _value_digest(contact.value) != fingerprint:
            raise InvalidInput("this verification link is not valid")
        if contact.verified_at is None:
            contact.verified_at = self._clock()
            self._audit.record(db, "contact", "contact.verify", f"contact:{contact.id}",
                               client_id=contact.client_id)
        return contact

    # -- engagements
    def add_engagement(self, db: Session, who: Principal, client_id: int, title: str,
                       paid_at: datetime | None, warranty_until: datetime | None) -> Engagement:
        self.get_client(db, who, client_id)
        title = title.strip()
        if not title or len(title) > 200:
            raise InvalidInput("title must be 1-200 characters", field="title")
        check_order(paid_at, warranty_until)
        eng = Engagement(client_id=client_id, title=title, paid_at=paid_at,
                         warranty_until=warranty_until, created_at=self._clock())
        db.add(eng)
        db.flush()
        self._audit.record(db, who.actor, "engagement.create", f"engagement:{eng.id}",
                           client_id=client_id)
        return eng

    def get_engagement(self, db: Session, who: Principal, engagement_id: int) -> Engagement:
        return get_owned(db, Engagement, engagement_id, who, "engagement")

    def list_engagements(self, db: Session, who: Principal, client_id: int
                         ) -> Sequence[Engagement]:
        self.get_client(db, who, client_id)
        return db.scalars(select(Engagement).where(Engagement.client_id == client_id)
                          .order_by(Engagement.id)).all()

    def update_engagement(self, db: Session, who: Principal, engagement_id: int,
                          changes: EngagementChanges) -> Engagement:
        eng = self.get_engagement(db, who, engagement_id)
        for name in sorted(changes.fields):
            value = getattr(changes, name)
            if name == "title" and (value is None or not value.strip()):
                raise InvalidInput("title must be 1-200 characters", field="title")
            setattr(eng, name, value)
        check_order(eng.paid_at, eng.warranty_until)
        self._audit.record(db, who.actor, "engagement.update", f"engagement:{eng.id}",
                           fields=sorted(changes.fields))
        return eng


def check_order(paid_at: datetime | None, warranty_until: datetime | None, where: str = "") -> None:
    """Refuse a warranty that ends before the job was paid: the dates are swapped or wrong."""
    if paid_at and warranty_until and warranty_until < paid_at:
        raise InvalidInput(f"{where}warranty_until ({warranty_until:%Y-%m-%d}) is before "
                           f"paid_at ({paid_at:%Y-%m-%d})", field="warranty_until")


def _value_digest(value: str) -> str:
    """Binds a verification link to the address it was sent to."""
    return hashlib.sha256(value.encode()).hexdigest()[:16]


_MAY_WRITE = (Contact.kind == "email", Contact.verified_at.is_not(None),
              Contact.unsubscribed_at.is_(None))


def mail_recipients(db: Session, client_id: int, purpose: str | None = None
                    ) -> Sequence[Contact]:
    """A client's e-mail contacts that may be written to: verified (double opt-in), not
    unsubscribed, and (when ``purpose`` is given) consenting to it."""
    contacts = db.scalars(select(Contact).where(Contact.client_id == client_id, *_MAY_WRITE)
                          .order_by(Contact.id)).all()
    return [c for c in contacts if purpose is None or purpose in c.purposes]


# Built once: ingest asks for every post (built per call, a statement costs more than its query).
_RECIPIENT_IDS = DriverStatement(select(Contact.id, Contact.purposes).join(
    Client, Client.id == Contact.client_id).where(
    Contact.client_id == bindparam("client_id"), Client.processing_restricted_at.is_(None),
    *_MAY_WRITE).order_by(Contact.id))


def recipient_ids(db: Session, client_id: int, purpose: str) -> list[int]:
    """The ids of the contacts ``mail_recipients`` gives for ``purpose``, while the
    client's processing is not restricted (none once it is, or once it is erased)."""
    return [id_ for id_, purposes in _RECIPIENT_IDS.run(db, {"client_id": client_id})
            if purpose in purposes]
