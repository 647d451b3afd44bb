"""The audit log over the API: newest first, a page at a time, with the page's filters."""

from __future__ import annotations

from flask import Blueprint, request
from flask.typing import ResponseReturnValue

from custody.audit.models import AuditEvent
from custody.audit.service import AuditFilter
from custody.names import user_key
from custody.paging import MOST
from custody.web.api import whole_arg
from custody.web.auth import roles_required
from custody.web.context import db, principal, services
from custody.web.forms import day_start
from custody.web.openapi import operation, query
from custody.web.schemas import AuditEventOut, Items, items

bp = Blueprint("audit_api", __name__, url_prefix="/api/v1")


@operation("The audit log, newest first, a page at a time", out=Items[AuditEventOut], query=(
    query("actor", "who: a username, or as recorded (user:3, purge, cli)", maxLength=150),
    query("action", "what: actions that start with this (device., session.open)",
          maxLength=100),
    query("target", "on what, as recorded (device:3, client:2)", maxLength=200),
    query("from", "from this day on (YYYY-MM-DD, UTC)", format="date"),
    query("to", "up to this day, included (YYYY-MM-DD, UTC)", format="date"),
    query("limit", "events in a page (default 200)", type="integer", minimum=1, maximum=MOST),
    query("cursor", "the next_cursor of the page before", maxLength=1000)))
@bp.get("/audit")
@roles_required("admin")
def list_events() -> ResponseReturnValue:
    page = services().audit.find(db(), audit_filter(), limit=whole_arg("limit"),
                                 cursor=request.args.get("cursor") or None)
    return items([event_out(e) for e in page.rows], page.next_cursor).reply()


def audit_filter() -> AuditFilter:
    """The filters the audit log was asked for (the API's and the page's alike): who (a
    username, or as recorded), what (an action's start), on what, and which days."""
    actor, action, target = ((request.args.get(k) or "").strip()[:most] for k, most in
                             (("actor", 150), ("action", 100), ("target", 200)))
    return AuditFilter(
        actor=(user_key(db(), principal(), actor) or actor) if actor else None,
        action_prefix=action or None, target=target or None,
        since=day_start(request.args.get("from") or "", "from"),
        until=day_start(request.args.get("to") or "", "to", next_day=True))


def event_out(e: AuditEvent) -> AuditEventOut:
    return AuditEventOut(id=e.id, at=e.at, actor=e.actor, action=e.action, target=e.target,
                         details=e.details, hash=e.hash)
