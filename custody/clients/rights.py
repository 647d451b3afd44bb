"""Data-subject rights of a client: export, rectification, consent, restriction, erasure."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from custody.accounts.service import Principal
from custody.audit.service import AuditLog
from custody.clients.models import Client, Contact
from custody.clients.service import PURPOSES, ClientService
from custody.clock import Clock
from custody.errors import Conflict, Forbidden, InvalidInput
from custody.tenancy import ClientData, get_owned, require_role


class RightsService:
    """What a client may ask of the provider about its own data."""

    def __init__(self, clients: ClientService, audit: AuditLog, clock: Clock,
                 client_data: Sequence[ClientData]) -> None:
        self._clients = clients
        self._client_data = client_data
        self._audit = audit
        self._clock = clock

    def export(self, db: Session, who: Principal, client_id: int) -> dict[str, Any]:
        """Everything held about the client, machine-readable; no secrets, no addresses.

        Each domain writes its own part (custody.tenancy.ClientData)."""
        self._clients.get_client(db, who, client_id)
        self._audit.record_kept(db, who.actor, "client.export", f"client:{client_id}")
        export: dict[str, Any] = {"format": "custody-client-export/1",
                                  "exported_at": self._clock().isoformat()}
        for domain in self._client_data:
            export |= domain.export_client(db, client_id)
        return export

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

    def withdraw_erasure(self, db: Session, who: Principal, client_id: int) -> Client:
        """The client takes its erasure request back, which it can until an admin confirms."""
        _client_or_admin(who, "withdraw an erasure request")
        client = self._clients.get_client(db, who, client_id)
        if client.erasure_confirmed_at is not None:
            raise Conflict("the erasure is confirmed already: it can no longer be withdrawn")
        if client.erasure_requested_at is not None:
            client.erasure_requested_at = None
            self._audit.record(db, who.actor, "client.erasure_withdraw", f"client:{client_id}",
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

def _client_or_admin(who: Principal, what: str) -> None:
    """A client's own rights are exercised by the client, or an admin acting for it."""
    if who.role not in ("client", "admin"):
        raise Forbidden(f"only the client, or an admin acting for it, may {what}")


def _acting_for(who: Principal) -> dict[str, bool]:
    """What the audit row says when an admin acts for the client."""
    return {"acting_for_client": True} if who.role == "admin" else {}
