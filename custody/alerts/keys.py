"""Pseudonym keys: one random key per client per period (month), kept in the SecretStore.

Destroying a period's key makes its tokens unlinkable for good.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import BindParameter, bindparam, literal, select, union_all
from sqlalchemy.orm import Session

from custody.accounts.models import User
from custody.addresses import is_ip
from custody.alerts.vocabulary import NOT_NAMES
from custody.clients.models import Client, Contact
from custody.devices.models import ClientPolicy, Device
from custody.errors import SecretNotFound
from custody.secrets import SecretStore, client_path, provider_path
from custody.statements import DriverStatement


def period_of(now: datetime) -> str:
    return f"{now:%Y-%m}"


def period_key(secrets: SecretStore, client_id: int | None, now: datetime) -> bytes:
    """The client's key for the current period, created on first use.

    Alerts that map to no client use the provider's own key of the period.
    """
    path = (client_path(client_id, "pseudonym", period_of(now)) if client_id is not None
            else provider_path("pseudonym", period_of(now)))
    if not secrets.versions(path):
        secrets.put(path, {"key": base64.b64encode(os.urandom(32)).decode()})
    try:
        # Version 1 always: two writers racing to create it still agree on one key.
        return base64.b64decode(secrets.get(path, version=1)["key"].reveal())
    except SecretNotFound:
        return base64.b64decode(secrets.get(path)["key"].reveal())


_CLIENT: BindParameter[int] = bindparam("client_id")
# Built once: ingest asks for every post (built per call, it costs more than its query).
_NAMES = DriverStatement(union_all(
    select(literal("name"), Client.name).where(Client.id == _CLIENT),
    select(literal("name"), Device.name).where(Device.client_id == _CLIENT),
    select(literal("host"), Device.host).where(Device.client_id == _CLIENT),
    select(literal("name"), User.username).where(User.client_id == _CLIENT),
    select(literal("contact"), Contact.value).where(Contact.client_id == _CLIENT)))
_LISTED = DriverStatement(
    select(ClientPolicy.alert_names).where(ClientPolicy.client_id == _CLIENT))


def known_names(db: Session, client_id: int) -> list[str]:
    """Names of the client's own that free text may mention: its name, its devices' names
    and addresses, its users, the names its policy lists (sites, people), and its contacts
    (with the local part of each address)."""
    listed = _LISTED.first(db, {"client_id": client_id})
    return known_names_and(db, client_id, listed.alert_names if listed is not None else None)


def known_names_and(db: Session, client_id: int, listed: Sequence[str] | None) -> list[str]:
    """``known_names``, with the names the client's policy lists read by the caller."""
    names: list[str] = []
    row: Any
    for row in _NAMES.run(db, {"client_id": client_id}):
        kind, value = str(row[0]), row[1]
        if not value or (kind == "host" and is_ip(value)):  # addresses: found anyway
            continue
        names.append(value)
        local = value.split("@", 1)[0] if kind == "contact" and "@" in value else ""
        if len(local) >= 3 and local.lower() not in NOT_NAMES:
            names.append(local)
    return names + [n for n in listed or [] if n]
