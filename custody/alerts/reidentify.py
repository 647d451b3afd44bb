"""Re-identification: the one way back from a pseudonym, for staff, audited."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from custody.accounts.roles import STAFF
from custody.accounts.service import Principal
from custody.alerts.engines import Engines
from custody.alerts.keys import known_names
from custody.audit.service import AuditLog
from custody.clients.models import Client, Contact
from custody.devices.models import Device
from custody.errors import NotFound
from custody.tenancy import require_role


class Reidentification:
    """What a pseudonym stands for in a client's inventory, this period."""

    def __init__(self, engines: Engines, audit: AuditLog) -> None:
        self._engines = engines
        self._audit = audit

    def reidentify(self, db: Session, who: Principal, client_id: int, token: str) -> list[str]:
        """What a token stands for, among the client's inventory, for the current period only.

        Provider staff only, and audited: this is the one way back from a pseudonym.
        """
        require_role(who, *STAFF)
        if db.get(Client, client_id) is None:
            raise NotFound(f"client {client_id} does not exist")
        kind = token.split("-", 1)[0]
        engine = self._engines.for_client(db, client_id)
        candidates: set[str] = set()
        for device in db.scalars(select(Device).where(Device.client_id == client_id)):
            candidates.update(v for v in (device.name, device.host) if v)
        candidates.update(known_names(db, client_id))
        candidates.update(c.value for c in db.scalars(select(Contact).where(
            Contact.client_id == client_id)))
        matches = sorted(v for v in candidates if engine.token(kind, v) == token)
        self._audit.record_kept(db, who.actor, "alerts.reidentify", f"client:{client_id}",
                           token=token, found=len(matches))
        return matches
