"""Rate limits, kept in process memory only: addresses are never stored (P3).

A bucket is keyed on what is being attacked and what the caller cannot make up: the
caller's address for anonymous attempts (logins among them), the person behind a valid
token for API calls. A made-up header picks nothing: an invalid token counts against its
sender's address.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from flask import g, request
from flask_limiter import Limiter
from limits.storage import MemoryStorage, Storage

from custody.addresses import is_ip
from custody.ratelimit import SharedCounters
from custody.web.context import services


def client_address() -> str:
    """The caller's address: the peer's, unless the peer is a trusted proxy
    (``server.trusted_proxies``); then the nearest untrusted hop of X-Forwarded-For."""
    peer = request.environ.get("REMOTE_ADDR") or "unknown"
    trusted = services().settings.server.trusted_proxies
    if not trusted or not _within(peer, trusted):
        return peer
    hops = [h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if not _within(hop, trusted):
            return hop if is_ip(hop) else peer
    return peer


def _within(address: str, networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network]
            ) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


def address_key() -> str:
    """The caller's address; for IPv6 its /64, which one host usually has whole."""
    address = client_address()
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return f"a:{address}"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return f"a:{ip.ipv4_mapped}"
        return f"a:{ipaddress.ip_network((ip, 64), strict=False)}"
    return f"a:{ip}"


def _rate_key() -> str:
    """The user behind a valid token (more tokens buy no more calls), else the caller's
    address."""
    key = user_key()  # the caller is known from here on
    return key if g.get("token_id") is not None else address_key()


def user_key() -> str:
    """The signed-in caller (for per-person limits on their own actions)."""
    from custody.web.auth import load_principal

    load_principal()
    who = g.get("principal")
    return f"u:{who.user_id}" if who is not None else address_key()


def login_limit() -> str:
    return services().settings.security.login_rate_limit


def api_limit() -> str:
    return services().settings.security.api_rate_limit


class CustodyStorage(Storage):
    """Where the limiter counts. Buckets keyed on a person ("u:<id>") are counted in the
    database when it is PostgreSQL (several nodes share it: a person's limit is global);
    everything else, addresses above all, in this process's memory (P3)."""

    STORAGE_SCHEME = ["custody"]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False,
                 **options: Any) -> None:
        super().__init__(uri, wrap_exceptions)
        self._memory = MemoryStorage()
        engine = options.get("engine")
        self._shared = SharedCounters(engine, options["clock"]) if engine is not None \
            and engine.dialect.name == "postgresql" else None

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return (ValueError, OSError)

    def _on(self, key: str) -> SharedCounters | None:
        return self._shared if "/u:" in key else None

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        shared = self._on(key)
        return shared.incr(key, expiry, amount) if shared else \
            self._memory.incr(key, expiry, amount)

    def get(self, key: str) -> int:
        shared = self._on(key)
        return shared.get(key) if shared else self._memory.get(key)

    def get_expiry(self, key: str) -> float:
        shared = self._on(key)
        return shared.expiry(key) if shared else self._memory.get_expiry(key)

    def check(self) -> bool:
        return True

    def reset(self) -> int | None:
        if self._shared:
            self._shared.clear()
        return self._memory.reset()

    def clear(self, key: str) -> None:
        shared = self._on(key)
        if shared:
            shared.clear(key)
        else:
            self._memory.clear(key)


limiter = Limiter(key_func=_rate_key, storage_uri="custody://", headers_enabled=True)
