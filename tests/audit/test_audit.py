"""The audit log: every write and login is recorded, and tampering is detected."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy import delete, select, text, update

from custody.audit.models import AuditEvent
from custody.audit.service import verify_chain
from custody.db import transaction
from custody.services import Services
from tests.conftest import World, auth


def actions(services: Services) -> list[str]:
    with services.db() as db:
        return list(db.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def test_writes_and_logins_are_audited(client: FlaskClient, world: World, services: Services,
                                       login: object) -> None:
    seen = actions(services)
    for action in ("user.create", "token.create", "client.create", "engagement.create",
                   "device.create", "contact.create"):
        assert action in seen
    client.patch(f"/api/v1/engagements/{world.engagement_a}", headers=auth(world.admin_token),
                 json={"paid_at": "2026-11-01"})
    login("user-a", "Client-a-Pass-123!")  # type: ignore[operator]
    login("user-a", "nope-nope-nope")  # type: ignore[operator]
    tail = actions(services)[-3:]
    assert tail == ["engagement.update", "login", "login.failed"]
    with services.db() as db:
        assert verify_chain(db).ok


def test_audit_rows_hold_no_secrets(world: World, services: Services) -> None:
    with services.db() as db:
        rows = db.execute(select(AuditEvent)).scalars().all()
        dump = " ".join(f"{r.actor} {r.action} {r.target} {r.details}" for r in rows)
    assert "DevicePw-" not in dump and world.admin_token not in dump


def test_changed_row_is_detected(world: World, services: Services) -> None:
    with services.db() as db:
        db.execute(update(AuditEvent).where(AuditEvent.id == 3).values(actor="user:mallory"))
        db.commit()
        result = verify_chain(db)
    assert not result.ok and result.problem == "event 3: contents changed after writing"


def test_deleted_row_is_detected(world: World, services: Services) -> None:
    with services.db() as db:
        db.execute(delete(AuditEvent).where(AuditEvent.id == 4))
        db.commit()
        result = verify_chain(db)
    assert not result.ok and result.problem is not None
    assert result.problem.startswith("event 5: chain broken")


def test_deleted_tail_is_detected(world: World, services: Services) -> None:
    with services.db() as db:
        last = db.scalar(select(AuditEvent.id).order_by(AuditEvent.id.desc()).limit(1))
        db.execute(delete(AuditEvent).where(AuditEvent.id == last))
        db.commit()
        result = verify_chain(db)
    assert not result.ok and "rows were deleted or added at the end" in (result.problem or "")


def test_rewritten_chain_is_detected(world: World, services: Services) -> None:
    """Recomputing one row's hash is not enough: the next row still points at the old one."""
    from custody.audit.service import _digest

    with services.db() as db:
        ev = db.get(AuditEvent, 2)
        assert ev is not None
        new_hash = _digest(ev.prev_hash, ev.id, ev.at, "user:mallory", ev.action, ev.target,
                           ev.details)
        db.execute(text("UPDATE audit_events SET actor='user:mallory', hash=:h WHERE id=2"),
                   {"h": new_hash})
        db.commit()
        result = verify_chain(db)
    assert not result.ok
    assert result.problem == "event 3: chain broken before it (a row was deleted or inserted)"


def test_concurrent_appenders_keep_one_unbroken_chain(services: Services) -> None:
    """Eight writers append at once, each in its own transaction: the head row's lock
    orders them, so the chain verifies and no event is lost or forked."""
    from concurrent.futures import ThreadPoolExecutor

    def append(n: int) -> int:
        with transaction(services.db) as tx:
            return services.audit.record(tx, "test", "concurrent.append", f"n:{n}", n=n)

    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = list(pool.map(append, range(40)))
    assert len(set(ids)) == 40
    with transaction(services.db) as tx:
        result = verify_chain(tx)
        assert result.ok, result.problem
        assert result.checked == 40
