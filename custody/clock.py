"""Time, injected wherever it matters so tests can freeze it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


def parse_when(value: str) -> datetime:
    """An ISO 8601 date (midnight UTC) or date-time (naive means UTC), as aware UTC.

    Raises ValueError with a message fit to show next to the field's name.
    """
    value = value.strip()
    try:
        if len(value) == 10:
            d = date.fromisoformat(value)
            return datetime(d.year, d.month, d.day, tzinfo=UTC)
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("must be an ISO 8601 date or date-time, e.g. 2026-12-31") from None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def iso(value: datetime | None) -> str | None:
    """ISO 8601, or None: how exports write times."""
    return value.isoformat() if value else None
