"""Rate-limit counters every node shares, in the database: for limits keyed on a person
(never on an address, which stays in each node's memory: P3)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine, String, case, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, mapped_column

from custody.clock import Clock
from custody.db import Base, UTCDateTime


class RateCounter(Base):
    """One fixed window of one limit: how many calls so far, and when it ends."""

    __tablename__ = "rate_counters"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    count: Mapped[int]
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class SharedCounters:
    """Fixed-window counters in the database, each change in a transaction of its own
    (apart from the request's unit of work, which has not started when limits are read)."""

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock
        self._insert = (postgresql.insert if engine.dialect.name == "postgresql"
                        else sqlite.insert)

    def incr(self, key: str, expiry_seconds: int, amount: int = 1) -> int:
        """Count ``amount`` more in the window of ``key`` (a new window once it ended)."""
        now = self._clock()
        ends = now + timedelta(seconds=expiry_seconds)
        upsert = self._insert(RateCounter).values(key=key[:255], count=amount, expires_at=ends)
        ended = RateCounter.expires_at <= now
        stmt = upsert.on_conflict_do_update(index_elements=[RateCounter.key], set_={
            "count": case((ended, amount), else_=RateCounter.count + amount),
            "expires_at": case((ended, ends), else_=RateCounter.expires_at),
        }).returning(RateCounter.count)
        with self._engine.begin() as conn:
            return int(conn.execute(stmt).scalar_one())

    def get(self, key: str) -> int:
        row = self._row(key)
        return row[0] if row else 0

    def expiry(self, key: str) -> float:
        """When the window of ``key`` ends, as a Unix time (now when there is none)."""
        row = self._row(key)
        return (row[1] if row else self._clock()).timestamp()

    def clear(self, key: str | None = None) -> int:
        """Forget one key, or every counter; also how the hourly sweep drops ended ones."""
        stmt = delete(RateCounter)
        if key is not None:
            stmt = stmt.where(RateCounter.key == key[:255])
        with self._engine.begin() as conn:
            return int(conn.execute(stmt).rowcount)

    def sweep(self) -> int:
        """Delete the counters of windows that have ended."""
        with self._engine.begin() as conn:
            return int(conn.execute(delete(RateCounter).where(
                RateCounter.expires_at <= self._clock())).rowcount)

    def _row(self, key: str) -> tuple[int, datetime] | None:
        with self._engine.connect() as conn:
            found = conn.execute(select(RateCounter.count, RateCounter.expires_at).where(
                RateCounter.key == key[:255], RateCounter.expires_at > self._clock())).first()
        return (int(found[0]), found[1]) if found else None
