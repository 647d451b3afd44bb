"""Per-request access to the services, the database session and the caller."""

from __future__ import annotations

from typing import cast

from flask import current_app, g
from sqlalchemy.orm import Session

from custody.accounts.service import Principal
from custody.db import finish
from custody.errors import Unauthorized
from custody.services import Services


def services() -> Services:
    return cast(Services, current_app.extensions["custody"])


def db() -> Session:
    """The request's database session, opened on first use and closed at teardown."""
    if "db" not in g:
        g.db = services().db()
    return cast(Session, g.db)


def end_unit_of_work(*, ok: bool) -> None:
    """Commit (``ok``) or roll back the request's work, if it opened a session.

    The request owns the transaction: the app calls this once per request, on the
    response's status; a streaming view calls it before it starts to stream."""
    session = g.pop("db", None)
    if session is not None:
        try:
            finish(session, ok=ok)
        finally:
            session.close()


def principal() -> Principal:
    who = g.get("principal")
    if who is None:
        raise Unauthorized("authentication required: send Authorization: Bearer <token>")
    return cast(Principal, who)
