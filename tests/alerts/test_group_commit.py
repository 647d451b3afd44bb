"""Group commit: posts that arrive together are written in one unit of work, and each
caller still gets its own answer, as if it had been alone; the reads ingest makes for
every post stay on the posted groups however many alerts are stored."""

from __future__ import annotations

import contextlib
import re
import shutil
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from custody import db as db_module
from custody.alerts.models import AlertSource, Notification, OutboxMessage
from custody.clients.models import Client
from custody.db import GroupCommit, transaction
from custody.errors import Conflict
from custody.services import Services
from tests.alerts.test_delivery import group_payload
from tests.alerts.test_ingest import source, verify_contact
from tests.conftest import FrozenClock, World, auth


def _wait_until(check: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("the condition did not come true")
        time.sleep(0.01)


def test_a_group_commits_together_and_an_item_that_fails_fails_alone(
        services: Services) -> None:
    """Six callers: the first one's unit is held open until the other five wait behind it,
    so those five are written as one group; one of them cannot be written. It alone gets
    its error; the other four get their own results, and their rows are there."""
    release = threading.Event()
    groups: list[list[str]] = []

    def work(db: Session, names: list[str]) -> list[int]:
        groups.append(list(names))
        if names == ["first"]:
            release.wait(10)
        ids = []
        for name in names:
            if name == "poisoned":
                raise Conflict("this one cannot be written")
            client = services.clients.create_client(db, "test", name)
            ids.append(client.id)
        return ids

    together: GroupCommit[str, int] = GroupCommit(work)
    names = ["first", "a", "b", "poisoned", "c", "d"]
    with ThreadPoolExecutor(6) as pool:
        first = pool.submit(together.submit, services.db, "first")
        _wait_until(lambda: groups == [["first"]])
        rest = {name: pool.submit(together.submit, services.db, name) for name in names[1:]}
        _wait_until(lambda: len(together._waiting) == 5)
        release.set()
        ids = {"first": first.result()} | {
            name: future.result() for name, future in rest.items() if name != "poisoned"}
        with pytest.raises(Conflict, match="cannot be written"):
            rest["poisoned"].result()

    assert sorted(groups[1]) == sorted(names[1:])  # the five went as one group...
    assert ["poisoned"] in groups[2:]  # ...which failed, and each was then tried alone
    with transaction(services.db) as db:
        stored = {name: id_ for name, id_ in db.execute(select(Client.name, Client.id))}
    assert stored == ids  # each caller got the id of its own row, and only those exist


def test_concurrent_posts_each_get_their_own_counts(
        app: Flask, client: FlaskClient, world: World, services: Services,
        clock: FrozenClock) -> None:
    """Posts of different groups at once, some of them written in one unit: each answer
    counts that post's alerts, each group gets its one e-mail."""
    token = source(client, world)
    verify_contact(services, world.contact_a, clock, ["alerts"])
    barrier = threading.Barrier(8)

    def post(n: int) -> dict[str, int]:
        payload = group_payload(f"sw-{n}", "firing", "2026-11-01T11:00:00Z")
        payload["alerts"] = [payload["alerts"][0] | {"fingerprint": f"fp-{n}-{k}"}
                             for k in range(n + 1)]
        with app.test_client() as own:
            barrier.wait()
            resp = own.post("/ingest/alertmanager/prom", headers=auth(token), json=payload)
            assert resp.status_code == 202, resp.json
            return dict(resp.json or {})

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(post, range(8)))
    assert answers == [{"accepted": n + 1, "new": n + 1, "queued": 1} for n in range(8)]
    with services.db() as db:
        assert db.scalar(select(func.count()).select_from(Notification)) == 36
        assert db.scalar(select(func.count()).select_from(OutboxMessage)) == 8


def test_text_postgresql_cannot_store_is_refused_alike_on_both_databases(
        client: FlaskClient, world: World, services: Services) -> None:
    """A NUL character would pass SQLite and fail PostgreSQL's insert: both refuse it
    first, with the same answer, and store nothing."""
    token = source(client, world)
    payload = group_payload("sw-1", "firing", "2026-11-01T11:00:00Z")
    payload["alerts"][0]["labels"]["alertname"] = "Link\u0000Down"
    resp = client.post("/ingest/alertmanager/prom", headers=auth(token), json=payload)
    assert resp.status_code == 400
    assert "NUL character" in resp.json["error"]["message"]
    with services.db() as db:
        assert db.scalar(select(func.count()).select_from(Notification)) == 0


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_reads_of_every_post_stay_on_the_posted_groups(
        client: FlaskClient, world: World, services: Services, clock: FrozenClock) -> None:
    """SQLite's plan for every read that posts written together make (new groups, then
    news for them while their e-mails wait): through the indexes made for them, never a walk over all of a
    client's alerts or e-mails, which would make ingest slower as alerts are stored
    (`python -m bench ingest` measures that)."""
    source(client, world)
    verify_contact(services, world.contact_a, clock, ["alerts"])
    seen: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any,
                executemany: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT") and not executemany:
            seen.append((statement, parameters))

    with transaction(services.db) as db:
        prom = db.scalars(select(AlertSource).where(AlertSource.name == "prom")).one()
    event.listen(services.engine, "before_cursor_execute", capture)
    try:
        for status in ("firing", "resolved"):  # two groups at once, as a group commit has
            posts = [group_payload(group, status, "2026-11-01T11:00:00Z")
                     for group in ("sw-1", "sw-2")]
            with transaction(services.db) as db:
                services.alerts.ingest._ingest_all(
                    db, [services.alerts.ingest.check(prom, post) for post in posts])
    finally:
        event.remove(services.engine, "before_cursor_execute", capture)

    reads = [(sql, params) for sql, params in seen if "notifications" in sql or "outbox" in sql]
    assert len(reads) >= 6  # dedup keys, flap states, the pending e-mail, the hourly cap
    raw = services.engine.raw_connection()
    try:
        for sql, params in reads:
            plan = " | ".join(str(row[3]) for row in raw.cursor().execute(
                f"EXPLAIN QUERY PLAN {sql}", params).fetchall())
            assert not re.search(r"\bSCAN (notifications|outbox)\b", plan), (sql, plan)
            assert "ix_notifications_client_id" not in plan, (sql, plan)
            assert "ix_outbox_state" not in plan, (sql, plan)
    finally:
        raw.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_groups_writer_copies_the_log_into_the_database_once_it_has_passed_its_turn_on(
        services: Services, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """What a group committed is in the database file itself (a copy of the file alone,
    without its write-ahead log, holds it) once its writer has passed the turn on: the
    commit no longer copies the log when the next group waits for it, and SQLite's own
    copying waits for a log of 4,000 pages."""
    monkeypatch.setattr(db_module, "CHECKPOINT_SECONDS", 0.0)
    path = Path(services.engine.url.database or "")

    def names_in_the_file_alone() -> set[str]:
        alone = tmp_path / "alone.db"
        shutil.copyfile(path, alone)
        with contextlib.closing(sqlite3.connect(alone)) as conn:
            return {name for (name,) in conn.execute("SELECT name FROM clients")}

    def work(db: Session, names: list[str]) -> list[int]:
        return [services.clients.create_client(db, "test", name).id for name in names]

    together: GroupCommit[str, int] = GroupCommit(work)
    together.submit(services.db, "copied-by-its-writer")
    assert "copied-by-its-writer" in names_in_the_file_alone()
    with services.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 4000

    monkeypatch.setattr(db_module, "CHECKPOINT_SECONDS", 3600.0)
    together.submit(services.db, "waits-for-the-next-copy")  # copied a moment ago: not now
    assert "waits-for-the-next-copy" not in names_in_the_file_alone()
