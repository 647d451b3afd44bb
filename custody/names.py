"""What the ids in records name, for pages to show: records keep "device:3", "client:1",
"user:2" (the audit chain and purge receipts must outlive the names); pages show the
names, while the things exist."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from custody.accounts.models import User
from custody.accounts.roles import STAFF
from custody.accounts.service import Principal
from custody.clients.models import Client
from custody.devices.models import Device
from custody.tenancy import require_role

_KINDS = {"device": (Device.id, Device.name), "client": (Client.id, Client.name),
          "user": (User.id, User.username)}


def names_of(db: Session, who: Principal, keys: Iterable[str]) -> dict[str, str]:
    """The names of these records' targets ("device:3", ...) that still exist: one query
    per kind, for only the ids asked about. Staff see every device, client and colleague."""
    require_role(who, *STAFF)
    wanted: dict[str, set[int]] = {kind: set() for kind in _KINDS}
    for key in keys:
        kind, _, number = key.partition(":")
        if kind in wanted and number.isascii() and number.isdigit():
            wanted[kind].add(int(number))
    names: dict[str, str] = {}
    for kind, ids in wanted.items():
        if ids:
            id_column, name_column = _KINDS[kind]
            names |= {f"{kind}:{id_}": name for id_, name in db.execute(
                select(id_column, name_column).where(id_column.in_(ids)))}
    return names


def user_key(db: Session, who: Principal, username: str) -> str | None:
    """How the records name a user: "user:2" for "tina", or None for nobody by that name."""
    require_role(who, "admin")
    found = db.scalar(select(User.id).where(User.username == username.strip().lower()))
    return f"user:{found}" if found is not None else None
