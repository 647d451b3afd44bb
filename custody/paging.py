"""Pages of a list, one after another (keyset pagination): a page ends where the next
starts, by the sort key of its last row, so a page costs the same however deep it is and
rows added meanwhile neither repeat nor go missing."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select
from sqlalchemy.orm import InstrumentedAttribute, Session

from custody.db import ID_MAX
from custody.errors import InvalidInput

T = TypeVar("T")
MOST = 500  # rows a page may hold


@dataclass(frozen=True)
class Page(Generic[T]):
    rows: Sequence[T]
    next_cursor: str | None  # None: this was the last page


def like_pattern(text: str) -> str:
    """A LIKE pattern (escape character: backslash) for ``text`` anywhere in a value."""
    return "%" + re.sub(r"([\\%_])", r"\\\1", text) + "%"


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


def cursor_id(value: Any) -> int:
    """An id from a decoded cursor, or InvalidInput: a forged one may hold anything."""
    if type(value) is not int or not 0 < value <= ID_MAX:
        raise InvalidInput("cursor: not a cursor this list gave", field="cursor")
    return value


def page_of(rows: Sequence[T], size: int, key: Callable[[T], Sequence[Any]]) -> Page[T]:
    """``rows`` read with one more than ``size``: the page, and where the next starts."""
    more = len(rows) > size
    rows = rows[:size]
    return Page(rows, encode_cursor(key(rows[-1])) if more else None)


def newest_first(db: Session, stmt: Select[T], id_column: InstrumentedAttribute[int],
                 size: int, cursor: str | None) -> Page[T]:
    """A page of ``stmt``'s rows, highest ``id_column`` first; the next page, older ones."""
    stmt = stmt.order_by(id_column.desc()).limit(size + 1)
    if cursor is not None:
        (before,) = decode_cursor(cursor, 1)
        stmt = stmt.where(id_column < cursor_id(before))
    return page_of(db.scalars(stmt).all(), size, lambda row: [getattr(row, id_column.key)])
