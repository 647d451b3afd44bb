"""Per-address login backoff, kept in process memory only: addresses are never stored (P3).

An address that keeps failing for one username waits longer and longer before it may try
that username again; every other address, the account's owner on a new one included,
is unaffected. Unknown usernames are tracked the same way as known ones, so the answers
say nothing about which accounts exist.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

K = TypeVar("K")


@dataclass
class _Failures:
    count: int
    last: datetime


class AddressBackoff:
    """Exponential backoff per (address, username) after ``free`` failed attempts."""

    def __init__(self, free: int, longest: timedelta, capacity: int = 10_000) -> None:
        self._free = free
        self._longest = longest
        self._capacity = capacity
        self._failures: OrderedDict[tuple[str, str], _Failures] = OrderedDict()
        # Per username, from any address: known or not, a name under attack waits alike.
        self._by_name: OrderedDict[str, _Failures] = OrderedDict()
        self._lock = threading.Lock()

    def wait(self, address: str, username: str, now: datetime) -> timedelta:
        """How long this address must still wait before trying this username (zero: go)."""
        with self._lock:
            entry = self._failures.get((address, username))
            if entry is None:
                return timedelta(0)
            if now - entry.last > self._longest:  # long quiet: forgiven
                del self._failures[(address, username)]
                return timedelta(0)
            return max(timedelta(0), entry.last + self._delay(entry.count) - now)

    def failed(self, address: str, username: str, now: datetime) -> None:
        with self._lock:
            self._bump(self._failures, (address, username), now)
            self._bump(self._by_name, username, now)

    def _bump(self, table: OrderedDict[K, _Failures], key: K, now: datetime) -> None:
        entry = table.pop(key, None) or _Failures(0, now)
        if now - entry.last > self._longest:
            entry.count = 0
        entry.count += 1
        entry.last = now
        table[key] = entry  # newest last: the oldest go first when full
        while len(table) > self._capacity:
            table.popitem(last=False)

    def name_failures(self, username: str, now: datetime) -> int:
        """Failures for this username from any address lately (this process's count)."""
        with self._lock:
            entry = self._by_name.get(username)
            return entry.count if entry and now - entry.last <= self._longest else 0

    def succeeded(self, address: str, username: str) -> None:
        with self._lock:
            self._failures.pop((address, username), None)
            self._by_name.pop(username, None)

    def _delay(self, count: int) -> timedelta:
        if count < self._free:
            return timedelta(0)
        return min(self._longest, timedelta(seconds=2 ** (count - self._free)))
