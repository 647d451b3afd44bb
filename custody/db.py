"""Database engine, sessions and migrations (SQLite in WAL mode by default, PostgreSQL)."""

from __future__ import annotations

import errno
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Generic, TypeVar

from sqlalchemy import (
    DateTime,
    Engine,
    MetaData,
    TypeDecorator,
    create_engine,
    event,
    select,
    text,
    update,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

log = logging.getLogger("custody.db")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


ID_MAX = 2**31 - 1  # ids are INTEGER: 32 bits on PostgreSQL, the narrower of the two


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator[datetime]):
    """Store aware UTC datetimes; SQLite forgets the zone, so put it back on read."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; pass an aware UTC datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


SQLITE_FULL, SQLITE_IOERR = 13, 10
STORAGE_FULL_MESSAGE = ("the disk that holds custody's data is full: nothing of this request "
                        "was kept. Free some space; custody goes on by itself")


def storage_full(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) says the disk is full or failing: SQLite's
    SQLITE_FULL and I/O errors, PostgreSQL's disk_full (53100), ENOSPC and EDQUOT."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return False
        code = getattr(seen, "sqlite_errorcode", None)
        if isinstance(code, int) and (code & 0xFF) in (SQLITE_FULL, SQLITE_IOERR):
            return True
        if getattr(seen, "sqlstate", None) == "53100":
            return True
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if "No space left on device" in str(seen) or "database or disk is full" in str(seen):
            return True
        seen = getattr(seen, "orig", None) or seen.__cause__ or seen.__context__
    return False


def use_wal(cursor: Any) -> None:
    """Put a SQLite database in WAL mode; one already in it needs no write (which a full
    disk would refuse)."""
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
    except sqlite3.OperationalError:
        if str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
            raise


WAL_LIMIT_BYTES = 64 * 1024 * 1024
# A commit that finds the log this long (pages of 4 KiB) copies it into the database
# itself. Group commits do it sooner, once their turn is passed on (checkpoint()), so
# that the copying does not hold up the next group; this is for every other writer.
AUTOCHECKPOINT_PAGES = 4000
CHECKPOINT_SECONDS = 0.25  # how often a group commit's writer copies the log


def make_engine(url: str, synchronous: str = "normal") -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys and secure_delete on every connection.

    ``synchronous`` is SQLite's: with "normal" a commit is in the write-ahead log when it
    returns (it survives the death of every process) and reaches the disk at the next
    checkpoint, so a power cut can undo the last ones; "full" syncs the log on every
    commit, at the cost of one fsync each."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30}, pool_size=10, max_overflow=40)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            use_wal(cur)
            cur.execute("PRAGMA foreign_keys=ON")
            # Deleted rows are overwritten with zeros: purged data must not linger in free pages.
            cur.execute("PRAGMA secure_delete=ON")
            # Statement journals and sorts stay in memory: a multi-row INSERT would
            # otherwise write copies of the pages it changes (alerts, contacts) to a
            # temporary file in /var/tmp, a file per write.
            cur.execute("PRAGMA temp_store=MEMORY")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute(f"PRAGMA synchronous={'FULL' if synchronous == 'full' else 'NORMAL'}")
            # Checkpoints run on their own; after each, the log is cut back to this size.
            cur.execute(f"PRAGMA journal_size_limit={WAL_LIMIT_BYTES}")
            cur.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}")
            cur.close()

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def checkpoint(engine: Engine) -> None:
    """Copy what SQLite's write-ahead log holds into the database file, waiting for no
    reader or writer (PASSIVE: what a reader still needs stays for the next one).
    PostgreSQL has nothing of the kind to do. A failure (a full disk) is logged: the
    log then grows until a later one succeeds, and no committed work is lost."""
    if engine.dialect.name != "sqlite":
        return
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").all()
    except Exception as exc:  # noqa: BLE001 - what was committed stands
        log.warning("the write-ahead log could not be copied into the database: %s",
                    type(exc).__name__)


def fold_log(db: Session, within: float = 30.0) -> bool:
    """SQLite: copy the whole write-ahead log into the database and cut it to nothing
    (TRUNCATE), so that no page image it held stays on disk; False if that could not be
    done within ``within`` seconds. Readers and writers are waited for as the busy
    timeout allows; a checkpoint another connection is running (a group commit's) is
    answered "busy" at once, so the fold is tried again until it goes through.
    PostgreSQL: nothing to do."""
    if db.get_bind().dialect.name != "sqlite":
        return True
    deadline = time.monotonic() + within
    while True:
        busy, _, _ = db.execute(text("PRAGMA wal_checkpoint(TRUNCATE)")).one()
        if not busy:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


KEPT_ON_FAILURE = "custody.kept_on_failure"
UNDO_ON_FAILURE = "custody.undo_on_failure"
AFTER_COMMIT = "custody.after_commit"
T = TypeVar("T")
R = TypeVar("R")


def write_kept(db: Session, write: Callable[[Session], T]) -> T:
    """Make ``write`` in ``db`` now, and again in its own transaction should this unit roll back.

    For the few records that must outlive a failed request: a refused command's audit
    event, a failed login's count, a session marked failed after its device refused it."""
    db.info.setdefault(KEPT_ON_FAILURE, []).append(write)
    return write(db)


def after_rollback(db: Session, undo: Callable[[], object]) -> None:
    """Have ``undo`` run if this unit of work rolls back: for what was written outside the
    database, such as credentials put into the secret store for a row that never lands."""
    db.info.setdefault(UNDO_ON_FAILURE, []).append(undo)


def after_commit(db: Session, then: Callable[[], object]) -> None:
    """Have ``then`` run once this unit of work has committed: for what must not happen
    unless the unit lands, such as destroying the last copy of a key being handed over."""
    db.info.setdefault(AFTER_COMMIT, []).append(then)


def finish(db: Session, *, ok: bool) -> None:
    """End a unit of work: commit it, or roll it back and then write what must survive.

    The kept writes run only after the rollback, so they never wait on the failed
    transaction's locks. The one place that commits: requests, job items and CLI
    commands all end here."""
    if ok:
        try:
            db.commit()
        except BaseException:
            _roll_back(db)
            raise
        db.info.pop(KEPT_ON_FAILURE, None)
        db.info.pop(UNDO_ON_FAILURE, None)
        for then in db.info.pop(AFTER_COMMIT, []):
            try:
                then()
            except Exception as exc:  # noqa: BLE001 - the unit stands: it committed
                log.error("a step after a commit failed: %s", type(exc).__name__)
    else:
        _roll_back(db)


def _roll_back(db: Session) -> None:
    db.rollback()
    db.info.pop(AFTER_COMMIT, None)
    # Each undo and each kept write on its own: one that fails must not take the others
    # with it (nor replace the error that caused the rollback).
    for undo in db.info.pop(UNDO_ON_FAILURE, []):
        try:
            undo()
        except Exception as exc:  # noqa: BLE001 - logged; the original error stands
            log.error("an undo after a rollback failed: %s", type(exc).__name__)
    for write in db.info.pop(KEPT_ON_FAILURE, []):
        try:
            with Session(db.get_bind(), expire_on_commit=False) as fresh, fresh.begin():
                write(fresh)
        except Exception as exc:  # noqa: BLE001 - logged; the original error stands
            log.error("a record kept after a rollback could not be written: %s",
                      type(exc).__name__)


def before_io(db: Session) -> None:
    """End the unit of work so far: I/O with a device or a mail server never runs inside
    a transaction, where it would hold locks for as long as the peer takes.

    The session stays usable; what follows the peer's answer is the next unit."""
    finish(db, ok=True)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: a session that commits on success and rolls back on any error."""
    session = factory()
    try:
        yield session
    except BaseException:
        finish(session, ok=False)
        raise
    else:
        finish(session, ok=True)
    finally:
        session.close()


class GroupCommit(Generic[T, R]):
    """Concurrent callers' work done together: one unit of work and one commit for all
    that arrived while the previous group was being written (group commit).

    Each caller waits until its own item is committed, as if alone. The first caller
    to find nobody writing writes the waiting group, its own item with it, and the
    others wait for it. When a group's unit fails, each of its items is tried again in a
    unit of its own, so an item that cannot be written fails alone and the error each
    caller gets is its own.

    On SQLite, a writer that has passed its turn on copies the write-ahead log into the
    database if nobody did for CHECKPOINT_SECONDS: the next group is written meanwhile,
    where a commit that did the copying would have held it up.
    """

    def __init__(self, work: Callable[[Session, list[T]], list[R]], most: int = 64) -> None:
        self._work = work
        self._most = most
        self._ready = threading.Condition()
        self._waiting: list[_Ticket[T, R]] = []
        self._writing = False
        self._checkpointed = 0.0  # time.monotonic() of the last checkpoint

    def submit(self, units: sessionmaker[Session], item: T) -> R:
        """Have ``item`` done and committed; its result, or the error it met."""
        ticket = _Ticket[T, R](item)
        with self._ready:
            self._waiting.append(ticket)
        while True:
            with self._ready:
                while self._writing and not ticket.done:
                    self._ready.wait()
                if ticket.done:
                    return ticket.outcome()
                self._writing = True
                group, self._waiting = self._waiting[:self._most], self._waiting[self._most:]
            try:
                self._write(units, group)
            finally:
                with self._ready:
                    self._writing = False
                    self._ready.notify_all()
            self._checkpoint_if_due(units)

    def _checkpoint_if_due(self, units: sessionmaker[Session]) -> None:
        with self._ready:
            now = time.monotonic()
            if now - self._checkpointed < CHECKPOINT_SECONDS:
                return
            self._checkpointed = now
        engine = units.kw.get("bind")
        if isinstance(engine, Engine):
            checkpoint(engine)

    def _write(self, units: sessionmaker[Session], group: list[_Ticket[T, R]]) -> None:
        try:
            with transaction(units) as db:
                results = self._work(db, [t.item for t in group])
        except BaseException as exc:
            if len(group) == 1 or not isinstance(exc, Exception):
                for ticket in group:
                    ticket.fail(exc)
                return
            for ticket in group:
                self._write(units, [ticket])
            return
        for ticket, result in zip(group, results, strict=True):
            ticket.succeed(result)


class _Ticket(Generic[T, R]):
    """One caller's item in a group commit, and what became of it."""

    def __init__(self, item: T) -> None:
        self.item = item
        self.done = False
        self._result: R | None = None
        self._error: BaseException | None = None

    def succeed(self, result: R) -> None:
        self._result, self.done = result, True

    def fail(self, error: BaseException) -> None:
        self._error, self.done = error, True

    def outcome(self) -> R:
        if self._error is not None:
            raise self._error
        return self._result  # type: ignore[return-value]


def lock_rows(db: Session, entity: Any, *where: Any) -> None:
    """Hold a write lock on these rows until the unit ends, so that what is read next
    cannot change under a check (a recovery code used twice, the last admin removed by
    two admins at once). PostgreSQL locks the rows; SQLite, which locks the database,
    takes its write lock now instead of at the first write."""
    fresh = select(entity).where(*where).execution_options(populate_existing=True)
    if db.get_bind().dialect.name == "postgresql":
        db.execute(fresh.with_for_update()).all()
    else:
        table = entity.__table__
        db.execute(update(table).where(*where).values({table.c.id: table.c.id}))
        db.execute(fresh).all()  # what was read before the lock is read again


def rows_changed(db: Session, statement: Any) -> int:
    """Run a bulk DELETE or UPDATE and say how many rows it touched."""
    return int(db.execute(statement).rowcount)  # type: ignore[attr-defined]


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", "custody:migrations")
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
