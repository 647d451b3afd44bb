"""Statements run on the driver's cursor (custody.statements) store, read and fail exactly
as the same statements through SQLAlchemy do, on both databases."""

from __future__ import annotations

import gc
import inspect
from datetime import UTC, datetime

import pytest
from sqlalchemy import bindparam, event, insert, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import psycopg
from sqlalchemy.exc import DBAPIError, IntegrityError, InvalidRequestError

from custody.accounts.service import Principal
from custody.alerts.models import OutboxMessage
from custody.audit.models import AuditEvent
from custody.clients.models import Client
from custody.db import transaction
from custody.services import Services
from custody.statements import DriverStatement, SizedStatements

_INSERT = DriverStatement(insert(AuditEvent), keys=(
    "id", "at", "actor", "action", "target", "details", "prev_hash", "hash"))
_READ = DriverStatement(select(AuditEvent.at, AuditEvent.details, AuditEvent.actor.label("who"))
                        .where(AuditEvent.id == 900001))
_AT = datetime(2026, 11, 2, 9, 30, 15, 123456, tzinfo=UTC)
_DETAILS = {"serial": "0A1B", "names": ["a.example", "ü.example"], "n": 3, "none": None}


def _event(event_id: int) -> dict[str, object]:
    return {"id": event_id, "at": _AT, "actor": "user:1", "action": "test.driver",
            "target": "certificate:1", "details": _DETAILS, "prev_hash": "0" * 64,
            "hash": "1" * 64}


def test_rows_written_on_the_driver_read_back_as_sqlalchemy_wrote_them(services: Services) -> None:
    with transaction(services.db) as db:
        _INSERT.run(db, _event(900001))
        db.execute(insert(AuditEvent), [_event(900002)])  # the same row through SQLAlchemy
    with transaction(services.db) as db:
        ours, theirs = (db.get(AuditEvent, 900001), db.get(AuditEvent, 900002))
        assert ours is not None and theirs is not None
        assert (ours.at, ours.details) == (theirs.at, theirs.details) == (_AT, _DETAILS)
        stored = db.execute(text("SELECT at, details FROM audit_events WHERE id IN "
                                 "(900001, 900002) ORDER BY id")).all()
        assert stored[0] == stored[1]  # the same text or value in the database itself
        (row,) = _READ.run(db)
        assert (row.at, row.details, row.who) == (_AT, _DETAILS, "user:1")  # converted, named


def test_a_statements_own_literals_and_a_missing_parameter_as_through_sqlalchemy(
        services: Services) -> None:
    """A value written into the statement ("pending") is sent as SQLAlchemy sends it, and
    a parameter the caller left out is named in SQLAlchemy's own error."""
    pending = DriverStatement(select(OutboxMessage.id).where(
        OutboxMessage.state == "pending", OutboxMessage.id == bindparam("id")))
    for dialect in (sqlite.dialect(), psycopg.dialect()):
        for statement, params in ((pending, {"id": 1}), (_INSERT, _event(900004))):
            compiled = statement._for(dialect)
            assert compiled.plan is not None
            # compared as text: psycopg's Json wrappers are equal to nothing
            assert repr(compiled.arguments(params)) == repr(compiled._constructed(params))
        assert "'pending'" in repr(pending._for(dialect).arguments({"id": 1}))
    with transaction(services.db) as db:
        assert pending.run(db, {"id": 1}) == []
        with pytest.raises(InvalidRequestError, match="'id'"):
            pending.run(db)


def test_every_statement_of_the_product_is_given_its_arguments_directly() -> None:
    """Each driver statement custody builds once (ingest's, the audit log's) has its
    parameters put in the driver's order without SQLAlchemy's per-call construction, on
    both databases: a statement that fell back would cost ingest its time again."""
    import custody.services  # noqa: F401  (builds every module's statements)

    statements = [s for s in gc.get_objects() if isinstance(s, DriverStatement)]
    for sized in (s for s in gc.get_objects() if isinstance(s, SizedStatements)):
        arity = len(inspect.signature(sized._build).parameters)
        statements += [sized.sized(*[count] * arity) for count in (1, 4)]
    assert len(statements) > 20
    for dialect, other in ((sqlite.dialect(), postgresql.Insert),
                           (psycopg.dialect(), sqlite.Insert)):
        for statement in statements:
            if not isinstance(statement._statement, other):  # written for the other one
                assert statement._for(dialect).plan is not None, statement._statement


def test_a_driver_error_is_sqlalchemys_and_the_unit_rolls_back(services: Services) -> None:
    with pytest.raises(IntegrityError), transaction(services.db) as db:
        _INSERT.run(db, _event(900003))
        _INSERT.run(db, _event(900003))  # the same primary key
    with transaction(services.db) as db:
        assert db.get(AuditEvent, 900003) is None  # neither row landed
        _INSERT.run(db, _event(900003))  # and the pooled connection goes on
    with transaction(services.db) as db:
        assert db.get(AuditEvent, 900003) is not None


def test_a_session_runs_each_statement_in_the_transaction_it_has_then(
        services: Services) -> None:
    """The session's connection is kept with its transaction: once that ends (commit,
    rollback, close), the next statement is in the session's next transaction, and goes
    or stays with it."""
    db = services.db()
    try:
        _INSERT.run(db, _event(900011))
        db.commit()
        _INSERT.run(db, _event(900012))
        db.rollback()  # takes this row with it, whatever connection ran it
        _INSERT.run(db, _event(900013))
        db.close()  # so does closing the session
        _INSERT.run(db, _event(900014))
        db.commit()
    finally:
        db.close()
    with transaction(services.db) as db:
        assert set(db.scalars(select(AuditEvent.id).where(AuditEvent.id.between(
            900011, 900014)))) == {900011, 900014}


def test_a_statement_in_a_savepoint_goes_or_stays_with_it(services: Services) -> None:
    """A savepoint rolled back takes the rows written in it with it, and an error in one
    leaves the rest of the unit to commit (PostgreSQL would refuse everything after an
    error outside a savepoint)."""
    with transaction(services.db) as db:
        _INSERT.run(db, _event(900021))
        with db.begin_nested() as savepoint:
            _INSERT.run(db, _event(900022))
            savepoint.rollback()
        with pytest.raises(IntegrityError), db.begin_nested():
            _INSERT.run(db, _event(900021))  # the same key: fails, inside its savepoint
        _INSERT.run(db, _event(900023))
    with transaction(services.db) as db:
        assert set(db.scalars(select(AuditEvent.id).where(AuditEvent.id.between(
            900021, 900023)))) == {900021, 900023}


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # a server drops it
def test_a_connection_the_database_dropped_is_invalidated_and_replaced(
        services: Services) -> None:
    db = services.db()
    try:
        held = db.connection()
        pid = db.scalar(text("SELECT pg_backend_pid()"))
        with services.engine.connect() as other:
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        with pytest.raises(DBAPIError) as failed:
            _INSERT.run(db, _event(900004))
        assert failed.value.connection_invalidated
        assert held.invalidated  # not handed back to the pool as if it were alive
    finally:
        db.close()
    with transaction(services.db) as db:  # the pool hands out a new connection
        _INSERT.run(db, _event(900004))
    with transaction(services.db) as db:
        assert db.get(AuditEvent, 900004) is not None


def test_whoever_watches_the_engine_sees_driver_statements(services: Services) -> None:
    seen: list[tuple[str, str]] = []

    def before(conn: object, cursor: object, statement: str, parameters: object,
               context: object, executemany: bool) -> None:
        seen.append(("before", statement))

    def after(conn: object, cursor: object, statement: str, parameters: object,
              context: object, executemany: bool) -> None:
        seen.append(("after", statement))

    event.listen(services.engine, "before_cursor_execute", before)
    event.listen(services.engine, "after_cursor_execute", after)
    try:
        with transaction(services.db) as db:
            _INSERT.run(db, _event(900005))
    finally:
        event.remove(services.engine, "before_cursor_execute", before)
        event.remove(services.engine, "after_cursor_execute", after)
    inserts = [(when, sql) for when, sql in seen if sql.startswith("INSERT INTO audit_events")]
    assert [when for when, _ in inserts] == ["before", "after"]


def test_an_insert_that_leaves_its_key_to_the_database(services: Services) -> None:
    """PostgreSQL's dialect asks such an INSERT to return the new key on its own."""
    keyless = DriverStatement(insert(AuditEvent), keys=(
        "at", "actor", "action", "target", "details", "prev_hash", "hash"))
    event_row = {k: v for k, v in _event(0).items() if k != "id"} | {"action": "test.keyless"}
    with transaction(services.db) as db:
        keyless.run(db, event_row)
    with transaction(services.db) as db:
        stored = db.scalars(select(AuditEvent).where(AuditEvent.action == "test.keyless")).one()
        assert (stored.at, stored.details) == (_AT, _DETAILS)


def test_a_read_sees_what_the_unit_has_not_flushed_yet(services: Services) -> None:
    """As Session.execute does: a name added in this unit is a known name already."""
    names = DriverStatement(select(Client.name).where(Client.name == "not-flushed-yet"))
    with transaction(services.db) as db:
        db.add(Client(name="not-flushed-yet", created_at=services.clock()))
        assert [row.name for row in names.run(db)] == ["not-flushed-yet"]


def test_a_plain_connection_gets_a_transaction_that_commits(services: Services) -> None:
    with services.engine.connect() as conn:
        _INSERT.run(conn, _event(900006))
        conn.commit()
    with transaction(services.db) as db:
        assert db.get(AuditEvent, 900006) is not None


def test_batches_of_every_size_share_a_few_statement_shapes(services: Services) -> None:
    """A source posting batches of every size must not have the service compile and keep
    a statement for each size (compiling a large one costs milliseconds)."""
    from custody.alerts import ingest
    from custody.alerts.models import AlertSource

    admin = Principal(1, "admin", "admin", None)
    with transaction(services.db) as db:
        client = services.clients.create_client(db, "shapes", "Shapes")
        source, _ = services.alerts.sources.create_source(db, admin, "shapes", "alertmanager",
                                                          client.id)
    for size in range(1, 41):
        payload = {"version": "4", "status": "firing", "groupKey": f"g{size}", "alerts": [
            {"status": "firing", "labels": {"alertname": "Load", "n": f"{size}-{n}"},
             "startsAt": "2026-11-01T10:00:00Z"} for n in range(size)]}
        with transaction(services.db) as db:
            stored = db.get(AlertSource, source.id)
            assert stored is not None
            assert services.alerts.ingest.ingest(db, stored, payload).new == size
    assert len(ingest._KNOWN) <= 7  # IN lists of 1, 2, 4, 8, 16, 32 or 64 keys
    assert all(len(shapes) <= 6 for shapes in ingest._STORE.values())  # inserts of 1 to 32
