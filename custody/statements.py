"""Statements that nearly every write or alert post runs, executed on the database
driver's cursor.

For a one-row statement SQLAlchemy's execution context (parameters, result set-up,
bookkeeping) costs several times what the database spends on it. The audit log's append
runs inside every write of the product, and ingest reads and writes a dozen times per
post, so those statements are compiled once per dialect and handed to the driver
directly: the same SQL, the same type conversions (each bind parameter's and column's
own processors), the same errors (wrapped as SQLAlchemy's, the connection invalidated
when the database went away) and the same cursor events as through ``Session.execute``.
"""

from __future__ import annotations

import contextlib
import weakref
from collections import namedtuple
from collections.abc import Callable, Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from functools import partial
from types import SimpleNamespace
from typing import Any, cast

from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.sql import Executable
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.sql.selectable import SelectBase


def _row_type(names: Sequence[str]) -> Callable[[Iterable[Any]], tuple[Any, ...]]:
    """Rows read by name, as SQLAlchemy's are; made from an iterable of values without
    the named tuple's own constructor (a Python function) in between."""
    return partial(tuple.__new__, namedtuple("Row", names, rename=True))


_REQUIRED = object()  # a bind parameter the caller must give
Plan = tuple[tuple[str, Callable[[Any], Any] | None, Any], ...]


@dataclass(frozen=True)
class _Compiled:
    sql: str
    order: tuple[str, ...] | None  # positional drivers: the parameters' order
    processors: Mapping[str, Callable[[Any], Any]]
    construct: Callable[[Mapping[str, Any]], MutableMapping[str, Any]]
    results: tuple[Callable[[Any], Any] | None, ...]  # one per returned column
    row: Callable[[Iterable[Any]], tuple[Any, ...]]
    # Each parameter in the driver's order, its processor and its value when the caller
    # gives none; None where SQLAlchemy's construction must do it (callables, escapes).
    plan: Plan | None = None

    def arguments(self, params: Mapping[str, Any]) -> Sequence[Any] | MutableMapping[str, Any]:
        if self.plan is not None:
            try:
                values = [params[name] if given is _REQUIRED else params.get(name, given)
                          for name, _, given in self.plan]
            except KeyError:
                return self._constructed(params)  # which names the missing parameter
            values = [value if process is None else process(value)
                      for (_, process, _), value in zip(self.plan, values, strict=True)]
            if self.order is not None:
                return tuple(values)
            return {name: value for (name, _, _), value in zip(self.plan, values, strict=True)}
        return self._constructed(params)

    def _constructed(self, params: Mapping[str, Any]) -> Sequence[Any] | MutableMapping[str, Any]:
        values = self.construct(params)  # a new dict, with the statement's own literals
        for name, process in self.processors.items():
            values[name] = process(values[name])
        return tuple(values[name] for name in self.order) if self.order is not None else values

    def rows(self, rows: Sequence[Any]) -> list[Any]:
        """The driver's rows as named tuples of converted values."""
        if not any(self.results):
            return list(map(self.row, rows))
        return [self.row([value if process is None else process(value)
                          for process, value in zip(self.results, row, strict=True)])
                for row in rows]


def _plan(compiled: Any, order: tuple[str, ...] | None,
          processors: Mapping[str, Callable[[Any], Any]]) -> Plan | None:
    """What ``_Compiled.arguments`` does without SQLAlchemy's construction, checked against
    it on the spot: None where the two would differ."""
    if compiled.escaped_bind_names:
        return None
    given: dict[str, Any] = {}
    for bind, name in compiled.bind_names.items():
        if bind.callable is not None or bind.expanding or bind.literal_execute:
            return None
        given[name] = _REQUIRED if bind.required else bind.value
    names = order if order is not None else tuple(given)
    plan = tuple((name, processors.get(name), given[name]) for name in names)
    probe = {name: object() for name, value in given.items() if value is _REQUIRED}
    expected = compiled.construct_params(probe)
    if set(expected) != set(given) or any(
            expected[name] is not (probe[name] if value is _REQUIRED else value)
            for name, value in given.items()):
        return None
    return plan


_CONNECTION = "custody.statements.connection"


def _connection_of(db: Session) -> Connection:
    """The connection of ``db``'s transaction. Asking the session costs about what a
    small statement does, and ingest runs a dozen per post: it is asked once per
    transaction, and the answer kept with the session for as long as that one lasts.
    A savepoint counts as a transaction of its own: the session is asked on entering
    it, which is when it sends SAVEPOINT."""
    transaction = _innermost(db)
    kept = db.info.get(_CONNECTION)
    if kept is not None and kept[0] is transaction and transaction is not None \
            and transaction.is_active:
        return cast(Connection, kept[1])
    conn = db.connection()
    db.info[_CONNECTION] = (_innermost(db), conn)
    return conn


def _innermost(db: Session) -> SessionTransaction | None:
    return db.get_nested_transaction() or db.get_transaction()


class DriverStatement:
    """A Core statement (a SELECT, or DML with or without RETURNING) run on the session's
    connection without SQLAlchemy's execution context. ``keys`` are the columns an INSERT
    is given values for. Rows come back as named tuples of converted values."""

    def __init__(self, statement: SelectBase | UpdateBase, keys: Sequence[str] = ()) -> None:
        self._statement = statement
        self._keys = list(keys)
        self._compiled: weakref.WeakKeyDictionary[Dialect, _Compiled] = (
            weakref.WeakKeyDictionary())

    def _for(self, dialect: Dialect) -> _Compiled:
        found = self._compiled.get(dialect)
        if found is None:
            compiled = self._statement.compile(dialect=dialect,
                                               column_keys=self._keys or None)
            processors = {}
            for name, bind in compiled.binds.items():
                process = bind.type.dialect_impl(dialect).bind_processor(dialect)
                if process is not None:
                    processors[name] = process
            # What the database returns: the selected columns, or what an INSERT returns,
            # which includes the key PostgreSQL's dialect asks back on its own.
            columns = (list(self._statement.exported_columns)
                       if isinstance(self._statement, SelectBase)
                       else list(compiled.effective_returning or ()))
            results = tuple(c.type.dialect_impl(dialect).result_processor(dialect, None)
                            for c in columns)
            order = tuple(compiled.positiontup or ()) if dialect.positional else None
            found = self._compiled[dialect] = _Compiled(
                compiled.string, order, processors, compiled.construct_params, results,
                _row_type([str(c.key) for c in columns]), _plan(compiled, order, processors))
        return found

    def run(self, db: Session | Connection, params: Mapping[str, Any] | None = None
            ) -> list[Any]:
        """Execute inside ``db``'s transaction (a session, whose pending changes are
        flushed first as ``Session.execute`` does, or a connection, whose transaction
        begins here if it has none); return the rows, if the statement has any."""
        if isinstance(db, Connection):
            conn = db
            if not conn.in_transaction():
                conn.begin()
        else:
            if db.autoflush:
                db.flush()
            conn = _connection_of(db)
        dialect = conn.dialect
        compiled = self._for(dialect)
        args = compiled.arguments(params or {})
        raw = conn.connection.dbapi_connection
        if raw is None:  # invalidated: SQLAlchemy's own path says why, or reconnects
            return [compiled.row(row) for row in conn.execute(
                cast(Executable, self._statement), dict(params or {}))]
        sql = compiled.sql
        cursor = None
        # Whoever watches the engine's statements (SQL logs, tracing, tests) sees these
        # too. There is no execution context: they get a namespace to keep their notes.
        watched = bool(conn.dispatch.before_cursor_execute or conn.dispatch.after_cursor_execute)
        context = SimpleNamespace() if watched else None
        try:
            cursor = raw.cursor()
            for before in conn.dispatch.before_cursor_execute:
                sql, args = before(conn, cursor, sql, args, context, False)
            cursor.execute(sql, args)
            rows = cursor.fetchall() if cursor.description else []
            for after in conn.dispatch.after_cursor_execute:
                after(conn, cursor, sql, args, context, False)
        except dialect.loaded_dbapi.Error as exc:
            gone = dialect.is_disconnect(exc, raw, cursor)
            if gone:
                conn.invalidate(exc)
            raise DBAPIError.instance(sql, args, exc, dialect.loaded_dbapi.Error,
                                      connection_invalidated=gone, dialect=dialect) from exc
        finally:
            if cursor is not None:
                with contextlib.suppress(dialect.loaded_dbapi.Error):
                    cursor.close()
        return compiled.rows(rows)


    def first(self, db: Session | Connection, params: Mapping[str, Any] | None = None
              ) -> Any | None:
        """The first row ``run`` returns, or None."""
        rows = self.run(db, params)
        return rows[0] if rows else None


class SizedStatements:
    """Driver statements that differ only in how many values they carry (IN lists, the
    rows of a multi-row INSERT): ``build(*counts)`` makes the one for those counts.

    Counts go up to the next power of two (``padded``), so a few shapes serve every
    batch: compiling one costs milliseconds, and a source posting batches of every size
    must not make the service compile (and keep) hundreds."""

    MOST = 64  # shapes kept; past that, they are built again as needed

    def __init__(self, build: Callable[..., SelectBase | UpdateBase]) -> None:
        self._build = build
        self._made: dict[tuple[int, ...], DriverStatement] = {}

    def __len__(self) -> int:
        """How many shapes are made and kept."""
        return len(self._made)

    def sized(self, *counts: int) -> DriverStatement:
        """The statement for these counts of values; each must be a power of two (a
        ``padded`` list's length), or the shapes would not stay few."""
        made = self._made.get(counts)
        if made is None:
            if any(count < 1 or count & (count - 1) for count in counts):
                raise ValueError(f"statement shapes are for powers of two, not {counts}")
            if len(self._made) >= self.MOST:
                self._made.clear()
            made = self._made[counts] = DriverStatement(self._build(*counts))
        return made


def padded(values: Sequence[Any]) -> list[Any]:
    """``values`` made up to the next power of two by repeating the last one: an IN list
    keeps its meaning, and its statement its shape."""
    size = 1 << max(len(values) - 1, 0).bit_length()
    return [*values, *[values[-1]] * (size - len(values))] if values else []


def numbered(name: str, values: Sequence[Any]) -> dict[str, Any]:
    """Parameters ``name0``, ``name1``… for the values a sized statement carries."""
    return {f"{name}{n}": value for n, value in enumerate(values)}
