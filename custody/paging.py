"""Pages of a list, one after another (keyset pagination): a page ends where the next
starts, by the sort key of its last row, so a page costs the same however deep it is and
rows added meanwhile neither repeat nor go missing."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from custody.errors import InvalidInput

T = TypeVar("T")
MOST = 500  # rows a page may hold


@dataclass(frozen=True)
class Page(Generic[T]):
    rows: Sequence[T]
    next_cursor: str | None  # None: this was the last page


def check_limit(limit: int | None, default: int = 100) -> int:
    """The rows a page holds: ``default`` unless asked, at most MOST."""
    if limit is None:
        return default
    if not 1 <= limit <= MOST:
        raise InvalidInput(f"limit must be between 1 and {MOST}", field="limit")
    return limit


def encode_cursor(key: Sequence[Any]) -> str:
    """An opaque cursor for the sort key of a page's last row."""
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, arity: int) -> list[Any]:
    """The sort key a cursor stands for, or InvalidInput for one this API did not give."""
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        key = None
    if not isinstance(key, list) or len(key) != arity:
        raise InvalidInput("cursor: not a cursor this list gave (start again without one)",
                           field="cursor")
    return key
