"""Tenant scoping: a client user sees its own client and nothing else."""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

from sqlalchemy.orm import Session

from custody.accounts.service import Principal
from custody.errors import Forbidden, NotFound


class _Owned(Protocol):
    client_id: Any


T = TypeVar("T", bound=_Owned)


def get_owned(db: Session, model: type[T], object_id: int, who: Principal, label: str) -> T:
    """Load a row that belongs to a client; to a client user, another's rows do not exist."""
    row = db.get(model, object_id)
    if row is None or (not who.is_staff and row.client_id != who.client_id):
        raise NotFound(f"{label} {object_id} does not exist")
    return row


def require_client_access(principal: Principal, client_id: int) -> None:
    """Raise NotFound when a client user reaches for another client (existence stays hidden)."""
    if principal.is_staff:
        return
    if principal.client_id != client_id:
        raise NotFound(f"client {client_id} does not exist")


def require_role(principal: Principal, *roles: str) -> None:
    if principal.role not in roles:
        raise Forbidden(f"this needs the {' or '.join(roles)} role")


class ClientData(Protocol):
    """What one domain holds about a client: its part of the client's export and of its purge.

    Each domain answers for its own tables, so the purge and the export never reach into
    another domain's rows; the composition (custody.services) lists them in the order the
    purge must follow (a client's row last)."""

    def export_client(self, db: Session, client_id: int) -> dict[str, Any]:
        """The domain's part of the client's data export: no secrets, no addresses."""
        ...

    def forget_client(self, db: Session, client_id: int) -> dict[str, int]:
        """Delete the domain's rows of the client; say how many of each kind went."""
        ...


class DeviceAccessData(Protocol):
    """What one domain holds about reaching a device, for the device access purge."""

    def forget_device_access(self, db: Session, device_id: int) -> dict[str, int]:
        """Destroy the domain's access data of the device; say how much of each went."""
        ...
