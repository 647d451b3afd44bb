"""Who someone is to custody: one vocabulary for roles, used by the domain and its adapters."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    TECHNICIAN = "technician"
    CLIENT = "client"  # a client's own user: sees only that client


STAFF: tuple[Role, ...] = (Role.ADMIN, Role.TECHNICIAN)
ROLES: tuple[Role, ...] = tuple(Role)


def is_staff(role: str) -> bool:
    """Whether ``role`` works for the provider (admins and technicians)."""
    return role in STAFF
