"""Pseudonym keys: one random key per client per period (month), kept in the SecretStore.

Destroying a period's key makes its tokens unlinkable for good.
"""

from __future__ import annotations

import base64
import os
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from custody.accounts.models import User
from custody.addresses import is_ip
from custody.alerts.vocabulary import NOT_NAMES
from custody.clients.models import Client, Contact
from custody.devices.models import ClientPolicy, Device
from custody.errors import SecretNotFound
from custody.secrets import SecretStore, client_path, provider_path


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


def known_names(db: Session, client_id: int) -> list[str]:
    """Names of the client's own that free text may mention: its name, its devices' names
    and addresses, its users, the names its policy lists (sites, people), and its contacts
    (with the local part of each address)."""
    names: list[str] = []
    client = db.scalar(select(Client.name).where(Client.id == client_id))
    if client:
        names.append(client)
    for name, host in db.execute(select(Device.name, Device.host).where(
            Device.client_id == client_id)):
        names += [name, host] if host and not is_ip(host) else [name]  # addresses: found anyway
    names += db.scalars(select(User.username).where(User.client_id == client_id))
    names += db.scalar(select(ClientPolicy.alert_names).where(
        ClientPolicy.client_id == client_id)) or []
    for value in db.scalars(select(Contact.value).where(Contact.client_id == client_id)):
        names.append(value)
        local = value.split("@", 1)[0] if "@" in value else ""
        if len(local) >= 3 and local.lower() not in NOT_NAMES:
            names.append(local)
    return [n for n in names if n]
