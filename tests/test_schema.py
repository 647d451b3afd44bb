"""The migrations build exactly the schema the models declare: an index or a column added
to a model without its migration (or the other way round) is caught here."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.orm import Session

import custody.models  # noqa: F401 - every model registered on Base.metadata
from custody.db import Base, fold_log, make_engine, migrate
from tests.peers import PostgresCluster


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database: the migrations run from their first revision."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'custody.db'}"
    cluster: PostgresCluster = request.getfixturevalue("postgres")
    return cluster.new_database(migrated=False)


def test_migrations_and_models_agree(empty_database: str) -> None:
    engine = make_engine(empty_database)
    try:
        migrate(engine)
        with engine.connect() as conn:
            differences = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()
    assert differences == []


def test_sqlite_syncs_as_configured_and_bounds_its_log(sqlite_url: str) -> None:
    """"normal" (the default) syncs the write-ahead log at checkpoints, "full" at every
    commit; either way the log is cut back after a checkpoint, and statement journals
    stay in memory (no temporary file with copies of changed pages per write)."""
    for synchronous, level in (("normal", 1), ("full", 2)):
        engine = make_engine(sqlite_url, synchronous)
        try:
            with engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == level
                assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
                assert conn.exec_driver_sql("PRAGMA journal_size_limit").scalar() \
                    == 64 * 1024 * 1024
                assert conn.exec_driver_sql("PRAGMA temp_store").scalar() == 2  # memory
        finally:
            engine.dispose()


def test_folding_the_log_goes_through_while_others_copy_it(sqlite_url: str) -> None:
    """A purge folds the write-ahead log back whole (its page images would still hold
    purged rows). SQLite answers a TRUNCATE checkpoint "busy" at once while another
    connection's checkpoint runs, as group commits now run one every quarter second:
    the fold is tried again until it goes through, and the log is left empty."""
    engine = make_engine(sqlite_url)
    stop = threading.Event()

    def write_and_copy() -> None:  # another worker: a group commit, then its checkpoint
        with engine.connect() as conn:
            while not stop.is_set():
                conn.exec_driver_sql("INSERT INTO churn VALUES (randomblob(20000))")
                conn.commit()
                conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").all()

    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE churn (pad BLOB)")
    try:
        writer = threading.Thread(target=write_and_copy)
        writer.start()
        try:
            folds = []
            for _ in range(20):
                with Session(engine) as db:
                    folds.append(fold_log(db))
        finally:
            stop.set()
            writer.join()
        assert all(folds)
        with Session(engine) as db:
            assert fold_log(db)
        assert Path(sqlite_url.split("///", 1)[1] + "-wal").stat().st_size == 0
    finally:
        engine.dispose()
