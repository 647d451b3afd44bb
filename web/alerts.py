"""Alert sources, ingest endpoints (bearer token per source), notifications, unsubscribe."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import RequestEntityTooLarge

from custody.accounts.roles import STAFF
from custody.alerts.formats import SOURCE_KINDS, parse_json
from custody.alerts.models import AlertSource, Notification
from custody.errors import CustodyError, InvalidInput
from custody.web.auth import ANYONE, bearer_token, roles_required
from custody.web.context import db, principal, services
from custody.web.limits import limiter
from custody.web.openapi import operation
from custody.web.schemas import (
    AlertSourceIn,
    AlertSourceOut,
    HeldOut,
    Items,
    NotificationOut,
    ReidentifyIn,
    ReidentifyOut,
    SourceAssignIn,
    items,
    parse_body,
)

bp = Blueprint("alerts_api", __name__)


def source_out(s: AlertSource, **once: str) -> AlertSourceOut:
    return AlertSourceOut(id=s.id, name=s.name, kind=s.kind, client_id=s.client_id,
                          ingest_url=f"/ingest/{s.kind}/{s.name}", **once)


def notification_out(n: Notification, **extra: Any) -> NotificationOut:
    return NotificationOut(id=n.id, client_id=n.client_id, group_id=n.group_id, status=n.status,
                           alertname=n.alertname, received_at=n.received_at, alert=n.payload,
                           **extra)


@operation("Register a source; its bearer token is shown once", body=AlertSourceIn,
           out=AlertSourceOut, status=201)
@bp.post("/api/v1/alert-sources")
@roles_required("admin")
def create_source() -> ResponseReturnValue:
    body = parse_body(AlertSourceIn)
    source, token = services().alerts.sources.create_source(db(), principal(), body.name, body.kind,
                                                    body.client_id)
    return source_out(source, token=token, note="the token is shown once").reply(201)


@operation("Alert sources", out=Items[AlertSourceOut])
@bp.get("/api/v1/alert-sources")
@roles_required("admin")
def list_sources() -> ResponseReturnValue:
    rows = services().alerts.sources.list_sources(db(), principal())
    return items([source_out(s) for s in rows]).reply()


@operation("Bind a source to a client (or unbind it with null); audited", body=SourceAssignIn,
           out=AlertSourceOut)
@bp.patch("/api/v1/alert-sources/<int:source_id>")
@roles_required("admin")
def assign_source(source_id: int) -> ResponseReturnValue:
    """Bind a source to a client: its later alerts go to that client."""
    body = parse_body(SourceAssignIn)
    source = services().alerts.sources.assign_source(db(), principal(), source_id, body.client_id)
    return source_out(source).reply()


@operation("Alerts that map to no client or to several: pseudonymized under the provider's "
           "key, never mailed, kept alerts.held_retention_days; each view is audited",
           out=HeldOut)
@bp.get("/api/v1/alerts/held")
@roles_required("admin")
def held() -> ResponseReturnValue:
    """Alerts that map to no client (or to several): pseudonymized, never mailed; audited."""
    rows = services().alerts.history.held(db(), principal())
    return HeldOut(items=[notification_out(n, source_id=n.source_id) for n in rows],
                   note="this view was written to the audit log").reply()


@operation("The client's alert history (pseudonymized)", out=Items[NotificationOut])
@bp.get("/api/v1/clients/<int:client_id>/notifications")
@roles_required(*ANYONE)
def notifications(client_id: int) -> ResponseReturnValue:
    services().clients.get_client(db(), principal(), client_id)
    rows = services().alerts.history.notifications(db(), principal(), client_id)
    return items([notification_out(n) for n in rows]).reply()


@operation("What a pseudonym stands for in the client's inventory (current period; audited)",
           body=ReidentifyIn, out=ReidentifyOut)
@bp.post("/api/v1/alerts/reidentify")
@roles_required(*STAFF)
def reidentify() -> ResponseReturnValue:
    """What a pseudonym stands for (current period, the client's inventory); audited."""
    body = parse_body(ReidentifyIn)
    matches = services().alerts.reidentification.reidentify(db(), principal(), body.client_id, body.token)
    return ReidentifyOut(token=body.token, matches=matches,
                         note="this lookup was written to the audit log").reply()


@limiter.request_filter
def _ingest_is_not_rate_limited() -> bool:
    """Ingest answers monitoring systems, which retry what is refused: it is bounded by
    each contact's hourly cap on mail, not by request rate (nor does the limiter look)."""
    return request.endpoint == f"{bp.name}.ingest"


@bp.post("/ingest/<kind>/<source>")
def ingest(kind: str, source: str) -> ResponseReturnValue:
    """Accept a payload only once it is pseudonymized and committed (then 202)."""
    svc = services()
    if kind not in SOURCE_KINDS:
        raise InvalidInput(f"unknown ingest kind {kind!r}; one of {', '.join(SOURCE_KINDS)}")
    token = bearer_token()
    sources = svc.alerts.sources
    # A source this worker knows already is not looked up in a unit of its own: ingest
    # reads it again just before it writes the post.
    remembered = sources.recognized(source, kind, token)
    poster = remembered or sources.authenticate(db(), source, kind, token)
    try:
        result = svc.alerts.ingest.submit(
            svc.db, poster, parse_json(request.get_data(cache=False)))
    except (InvalidInput, RequestEntityTooLarge):
        if remembered is not None:  # a token that no longer stands hears so, not why
            sources.authenticate(db(), source, kind, token)
        raise
    return jsonify({"accepted": result.accepted, "new": result.new, "queued": result.queued}), 202


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
def unsubscribe(token: str) -> ResponseReturnValue:
    """GET shows a confirmation form; POST (also RFC 8058 one-click) unsubscribes."""
    if request.method == "GET":
        return render_template("unsubscribe.html", token=token, done=False, error=None)
    try:
        services().alerts.outbox.unsubscribe(db(), token)
    except CustodyError as exc:
        return render_template("unsubscribe.html", token=token, done=False, error=str(exc)), 400
    return render_template("unsubscribe.html", token=token, done=True, error=None)
