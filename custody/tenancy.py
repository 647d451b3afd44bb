"""Tenant scoping: a client user sees its own client and nothing else."""

from __future__ import annotations

from custody.accounts.service import Principal
from custody.errors import Forbidden, NotFound


def require_client_access(principal: Principal, client_id: int) -> None:
    """Raise NotFound when a client user reaches for another client (existence stays hidden)."""
    if principal.is_staff:
        return
    if principal.client_id != client_id:
        raise NotFound(f"client {client_id} does not exist")


def require_role(principal: Principal, *roles: str) -> None:
    if principal.role not in roles:
        raise Forbidden(f"this needs the {' or '.join(roles)} role")
