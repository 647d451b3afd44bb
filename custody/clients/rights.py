"""Data-subject rights of a client: export, rectification, consent, restriction, erasure."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from custody.accounts.models import User
from custody.accounts.service import Principal
from custody.audit.service import AuditLog
from custody.certs.models import Certificate
from custody.clients.models import Client, Contact, Engagement
from custody.clients.service import PURPOSES, ClientService
from custody.clock import Clock
from custody.devices.models import AccessSession, ClientPolicy, Device
from custody.errors import Conflict, Forbidden, InvalidInput
from custody.tenancy import get_owned, require_role


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


class RightsService:
    """What a client may ask of the provider about its own data."""

    def __init__(self, clients: ClientService, audit: AuditLog, clock: Clock) -> None:
        self._clients = clients
        self._audit = audit
        self._clock = clock

    def export(self, db: Session, who: Principal, client_id: int) -> dict[str, Any]:
        """Everything held about the client, machine-readable; no secrets, no addresses."""
        client = self._clients.get_client(db, who, client_id)
        contacts = db.scalars(select(Contact).where(Contact.client_id == client_id)).all()
        engagements = db.scalars(select(Engagement).where(Engagement.client_id == client_id)).all()
        devices = db.scalars(select(Device).where(Device.client_id == client_id)).all()
        users = db.scalars(select(User).where(User.client_id == client_id)).all()
        sessions = db.scalars(select(AccessSession).where(
            AccessSession.client_id == client_id)).all()
        policy = db.get(ClientPolicy, client_id)
        certificates = db.scalars(select(Certificate).where(
            Certificate.client_id == client_id)).all()
        self._audit.record(db, who.actor, "client.export", f"client:{client_id}")
        return {
            "format": "custody-client-export/1",
            "exported_at": self._clock().isoformat(),
            "client": {"id": client.id, "name": client.name, "status": client.status,
                       "created_at": _iso(client.created_at), "closed_at": _iso(client.closed_at),
                       "processing_restricted_at": _iso(client.processing_restricted_at),
                       "erasure_requested_at": _iso(client.erasure_requested_at)},
            "contacts": [{"id": c.id, "kind": c.kind, "value": c.value, "purposes": c.purposes,
                          "verified_at": _iso(c.verified_at),
                          "unsubscribed_at": _iso(c.unsubscribed_at)} for c in contacts],
            "users": [{"id": u.id, "username": u.username, "created_at": _iso(u.created_at),
                       "totp_enabled": u.totp_secret_path is not None} for u in users],
            "engagements": [{"id": e.id, "title": e.title, "paid_at": _iso(e.paid_at),
                             "warranty_until": _iso(e.warranty_until),
                             "closed_at": _iso(e.closed_at)} for e in engagements],
            "devices": [{"id": d.id, "name": d.name, "device_type": d.device_type,
                         "access_state": d.access_state, "purged_at": _iso(d.purged_at)}
                        for d in devices],
            "access_sessions": [{"id": s.id, "device_id": s.device_id, "reason": s.reason,
                                 "state": s.state, "opened_at": _iso(s.opened_at),
                                 "closed_at": _iso(s.closed_at)} for s in sessions],
            "certificates": [{"id": c.id, "serial": c.serial, "subject": c.subject,
                              "sans": c.sans, "not_before": _iso(c.not_before),
                              "not_after": _iso(c.not_after), "key_origin": c.key_origin,
                              "revoked_at": _iso(c.revoked_at), "certificate": c.cert_pem}
                             for c in certificates],
            "access_policy": {"require_approval": bool(policy and policy.require_approval),
                              "deny_commands": policy.deny_commands if policy else []},
        }

    def update_contact(self, db: Session, who: Principal, contact_id: int,
                       value: str | None, purposes: Sequence[str] | None) -> tuple[Contact, bool]:
        """Correct a contact's value (it must be verified again) or change its consents.

        Returns the contact and whether a new verification message is needed. Only the
        client decides these, or an admin acting for it (audited as such): never a
        technician.
        """
        _client_or_admin(who, "change a contact's address or consents")
        contact = get_owned(db, Contact, contact_id, who, "contact")
        reverify = False
        if purposes is not None:
            unknown = sorted(set(purposes) - set(PURPOSES))
            if unknown:
                raise InvalidInput(f"purposes must be among {', '.join(PURPOSES)}", field="purposes")
            withdrawn = sorted(set(contact.purposes) - set(purposes))
            contact.purposes = sorted(set(purposes))
            self._audit.record(db, who.actor, "contact.consent", f"contact:{contact.id}",
                               purposes=contact.purposes, withdrawn=withdrawn,
                               **_acting_for(who))
        if value is not None:
            probe = self._clients.normalize_contact(contact.kind, value)
            if probe != contact.value:
                clash = db.scalar(select(Contact.id).where(
                    Contact.client_id == contact.client_id, Contact.kind == contact.kind,
                    Contact.value == probe))
                if clash is not None:
                    raise Conflict("this contact exists already for the client")
                contact.value = probe
                contact.verified_at = None
                reverify = True
                self._audit.record(db, who.actor, "contact.rectify", f"contact:{contact.id}",
                                   **_acting_for(who))
        return contact, reverify

    def set_restriction(self, db: Session, who: Principal, client_id: int,
                        restricted: bool) -> Client:
        """Restrict (or object to) processing: no alert mail goes out while it holds."""
        _client_or_admin(who, "restrict processing")
        client = self._clients.get_client(db, who, client_id)
        client.processing_restricted_at = self._clock() if restricted else None
        self._audit.record(db, who.actor, "client.restriction", f"client:{client_id}",
                           restricted=restricted, **_acting_for(who))
        return client

    def request_erasure(self, db: Session, who: Principal, client_id: int) -> Client:
        """Record the client's request to be erased (an admin confirms it later)."""
        _client_or_admin(who, "ask for erasure")
        client = self._clients.get_client(db, who, client_id)
        if client.erasure_requested_at is None:
            client.erasure_requested_at = self._clock()
            self._audit.record(db, who.actor, "client.erasure_request", f"client:{client_id}",
                               **_acting_for(who))
        return client

    def confirm_erasure(self, db: Session, who: Principal, client_id: int) -> Client:
        """An admin confirms: the client is closed and its purge is due at once."""
        require_role(who, "admin")
        client = self._clients.get_client(db, who, client_id)
        if client.erasure_requested_at is None:
            raise Conflict("the client has not requested erasure")
        now = self._clock()
        client.erasure_confirmed_at = now
        client.status = "closed"
        client.closed_at = client.closed_at or now
        self._audit.record(db, who.actor, "client.erasure_confirm", f"client:{client_id}")
        return client

    def close_client(self, db: Session, who: Principal, client_id: int) -> Client:
        """Mark the client's relationship finished; its purge follows payment and warranty."""
        require_role(who, "admin")
        client = self._clients.get_client(db, who, client_id)
        if client.closed_at is None:
            client.status = "closed"
            client.closed_at = self._clock()
            self._audit.record(db, who.actor, "client.close", f"client:{client_id}")
        return client

    def user_ids(self, db: Session, client_id: int) -> list[int]:
        return list(db.scalars(select(User.id).where(User.client_id == client_id)))


def _client_or_admin(who: Principal, what: str) -> None:
    """A client's own rights are exercised by the client, or an admin acting for it."""
    if who.role not in ("client", "admin"):
        raise Forbidden(f"only the client, or an admin acting for it, may {what}")


def _acting_for(who: Principal) -> dict[str, bool]:
    """What the audit row says when an admin acts for the client."""
    return {"acting_for_client": True} if who.role == "admin" else {}
