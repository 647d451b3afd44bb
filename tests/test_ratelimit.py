"""The rate-limit counters nodes share through the database (SQLite and PostgreSQL)."""

from __future__ import annotations

from custody.ratelimit import SharedCounters
from custody.services import Services
from tests.conftest import FrozenClock


def test_fixed_windows_count_expire_and_are_swept(services: Services,
                                                  clock: FrozenClock) -> None:
    counters = SharedCounters(services.engine, clock)
    assert [counters.incr("LIMITER/u:7/api", 60) for _ in range(3)] == [1, 2, 3]
    assert counters.incr("LIMITER/u:8/api", 60, amount=2) == 2  # another person, apart
    assert counters.get("LIMITER/u:7/api") == 3
    assert counters.expiry("LIMITER/u:7/api") == clock().timestamp() + 60
    clock.advance(seconds=61)  # the window ended: counting starts again
    assert counters.get("LIMITER/u:7/api") == 0
    assert counters.sweep() == 2
    assert counters.incr("LIMITER/u:7/api", 60) == 1
    counters.clear("LIMITER/u:7/api")
    assert counters.get("LIMITER/u:7/api") == 0
