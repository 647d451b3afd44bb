"""Where device credentials and keys live: the SecretStore protocol and its path rules.

Every path starts with a tenant segment: ``client-<id>`` for a client's
secrets (encrypted under that client's data key, shredded with it) or
``provider`` for the provider's own.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Protocol, runtime_checkable

from custody.errors import BackendUnavailable, InvalidInput, SecretNotFound
from custody.sensitive import Secret

__all__ = [
    "BackendUnavailable", "SecretNotFound", "SecretStore", "client_path", "provider_path",
    "split_path", "tenant_of_client",
]

_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


@runtime_checkable
class SecretStore(Protocol):
    """A versioned key/value store for secrets, partitioned by tenant."""

    def put(self, path: str, data: Mapping[str, str]) -> int:
        """Write a new version of the secret at ``path``; return its version number."""
        ...

    def get(self, path: str, version: int | None = None) -> dict[str, Secret]:
        """Read the newest (or a given) version; raise SecretNotFound if there is none."""
        ...

    def list_paths(self, prefix: str) -> list[str]:
        """Return every secret path under ``prefix`` (recursively), sorted."""
        ...

    def versions(self, path: str) -> list[int]:
        """Return the version numbers stored at ``path`` (empty if none)."""
        ...

    def destroy_versions(self, path: str, versions: list[int]) -> None:
        """Destroy the data of some versions (for rotation); the newest stays readable."""
        ...

    def destroy(self, path: str) -> list[int]:
        """Destroy every version and the metadata of ``path``; return the versions destroyed."""
        ...

    def shred_tenant(self, tenant: str) -> list[str]:
        """Destroy everything of one tenant (and its data key); return the paths destroyed."""
        ...

    def check(self) -> None:
        """Raise BackendUnavailable if the store cannot be used right now."""
        ...


def tenant_of_client(client_id: int) -> str:
    return f"client-{client_id}"


def client_path(client_id: int, *parts: str) -> str:
    """Build a path inside one client's tenant, e.g. ``client-7/devices/12``."""
    return "/".join([tenant_of_client(client_id), *parts])


def provider_path(*parts: str) -> str:
    return "/".join(["provider", *parts])


def split_path(path: str) -> tuple[str, str]:
    """Validate ``path`` and return (tenant, rest); raise InvalidInput naming the problem."""
    segments = path.split("/")
    if len(segments) < 2:
        raise InvalidInput(f"secret path {path!r} needs a tenant and a name, e.g. client-1/devices/2")
    for seg in segments:
        if not _SEGMENT.match(seg):
            raise InvalidInput(f"secret path {path!r} has an invalid segment {seg!r}")
    tenant = segments[0]
    if tenant != "provider" and not re.fullmatch(r"client-\d+", tenant):
        raise InvalidInput(f"secret path {path!r} must start with provider/ or client-<id>/")
    return tenant, "/".join(segments[1:])


def check_data(data: Mapping[str, str]) -> None:
    """Refuse empty secrets and non-string values."""
    if not data:
        raise InvalidInput("a secret needs at least one field")
    for key, value in data.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise InvalidInput("secret fields and values must be strings")
