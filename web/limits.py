"""Rate limits, kept in process memory only: addresses are never stored (P3)."""

from __future__ import annotations

from flask import request
from flask_limiter import Limiter

from custody.web.context import services


def _rate_key() -> str:
    """Limit by API token when there is one, else by the caller's address."""
    from custody.web.auth import bearer_token

    token = bearer_token()
    return f"t:{hash(token)}" if token else f"a:{request.remote_addr}"


def login_limit() -> str:
    return services().settings.security.login_rate_limit


def api_limit() -> str:
    return services().settings.security.api_rate_limit


limiter = Limiter(key_func=_rate_key, storage_uri="memory://", headers_enabled=True)
