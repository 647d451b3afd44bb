"""The unit of work: a request (or job item, or CLI command) commits once or rolls back
whole; what must survive a failure is written after the rollback in its own transaction."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select

from custody.audit.models import AuditEvent
from custody.audit.service import verify_chain
from custody.clients.models import Client
from custody.db import KEPT_ON_FAILURE, after_commit, after_rollback, transaction
from custody.errors import Conflict
from custody.services import Services
from custody.web import create_app
from custody.web.context import db


def _names(services: Services) -> list[str]:
    with transaction(services.db) as tx:
        return list(tx.scalars(select(Client.name).order_by(Client.id)))


def _actions(services: Services) -> list[str]:
    with transaction(services.db) as tx:
        return list(tx.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def _app_with_probe(services: Services, undone: list[str]) -> Flask:
    """Stand-in views: no product route writes and then fails on purpose, which is the
    case to show. They use the same services, session and hooks as every view."""
    app = create_app(services=services)

    @app.get("/probe/<outcome>")
    def probe(outcome: str) -> tuple[str, int]:
        services.clients.create_client(db(), "test", f"client-{outcome}")
        services.audit.record(db(), "test", f"probe.{outcome}")
        services.audit.record_kept(db(), "test", f"probe.{outcome}.kept")
        after_rollback(db(), lambda: undone.append(outcome))
        if outcome == "conflict":
            raise Conflict("the probe fails after writing")
        if outcome == "form-error":
            return "shown again with its errors", 400
        return "done", 200

    return app


def test_a_request_commits_once_or_rolls_back_whole_keeping_what_must_survive(
        services: Services) -> None:
    undone: list[str] = []
    client = _app_with_probe(services, undone).test_client()
    assert client.get("/probe/ok").status_code == 200
    assert client.get("/probe/conflict").status_code == 409
    assert client.get("/probe/form-error").status_code == 400

    assert _names(services) == ["client-ok"]  # the failed requests' clients are gone
    actions = _actions(services)
    assert actions == ["client.create", "probe.ok", "probe.ok.kept",
                       "probe.conflict.kept", "probe.form-error.kept"]
    assert undone == ["conflict", "form-error"]  # outside writes undone only on failure
    with transaction(services.db) as tx:
        assert verify_chain(tx).ok  # kept events chain on like any other


def test_a_job_item_rolls_back_whole_and_keeps_its_kept_writes(services: Services) -> None:
    undone: list[str] = []
    with pytest.raises(Conflict), transaction(services.db) as tx:
        services.clients.create_client(tx, "job", "half-done")
        services.audit.record_kept(tx, "job", "job.failed")
        after_rollback(tx, lambda: undone.append("secret destroyed"))
        raise Conflict("the item fails")
    assert _names(services) == []
    assert _actions(services) == ["job.failed"]
    assert undone == ["secret destroyed"]


def test_one_failing_kept_write_or_undo_does_not_take_the_others(services: Services) -> None:
    def broken_write(tx: object) -> None:
        raise RuntimeError("this kept write fails")

    def broken_undo() -> None:
        raise RuntimeError("the secret store is down")

    with pytest.raises(Conflict), transaction(services.db) as tx:
        after_rollback(tx, broken_undo)
        tx.info.setdefault(KEPT_ON_FAILURE, []).append(broken_write)
        services.audit.record_kept(tx, "job", "job.refused")
        raise Conflict("the item fails")  # the original error, not the broken ones, comes out
    assert _actions(services) == ["job.refused"]


def test_a_step_after_the_commit_that_fails_leaves_the_unit_committed(
        services: Services) -> None:
    ran: list[str] = []

    def broken() -> None:
        raise RuntimeError("the secret store is down")

    with transaction(services.db) as tx:
        services.clients.create_client(tx, "job", "landed")
        after_commit(tx, broken)
        after_commit(tx, lambda: ran.append("next step"))
    assert _names(services) == ["landed"] and ran == ["next step"]
