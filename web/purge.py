"""Purge schedule, runs, receipts and holds; the data-subject rights of clients."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from custody.errors import InvalidInput
from custody.purge.models import Hold
from custody.purge.plan import PlanItem
from custody.purge.service import receipt_json
from custody.web.api import send_verification
from custody.web.auth import ANYONE, roles_required
from custody.web.context import db, principal, services
from custody.web.schemas import ContactPatch, HoldIn, PurgeRunIn, RestrictionIn, parse_body
from custody.web.serialize import client_json, contact_json, when

bp = Blueprint("purge_api", __name__, url_prefix="/api/v1")


def plan_json(item: PlanItem) -> dict[str, Any]:
    return {"kind": item.kind, "target": item.target, "target_id": item.target_id,
            "client_id": item.client_id, "name": item.name, "due_at": when(item.due_at),
            "state": item.state, "reason": item.reason}


def hold_json(h: Hold) -> dict[str, Any]:
    return {"id": h.id, "target_kind": h.target_kind, "target_id": h.target_id,
            "reason": h.reason, "until": when(h.until), "created_at": when(h.created_at),
            "released_at": when(h.released_at)}


@bp.get("/purge/schedule")
@roles_required("admin")
def schedule() -> ResponseReturnValue:
    items = services().purge.plan(db())
    return jsonify({"items": [plan_json(i) for i in items]})


@bp.post("/purge/run")
@roles_required("admin")
def run() -> ResponseReturnValue:
    body = parse_body(PurgeRunIn)
    result = services().purge.run(principal().actor, dry_run=body.dry_run, trigger="api")
    return jsonify({"run_id": result.run_id, "dry_run": result.dry_run,
                    "receipts": result.receipts})


@bp.get("/purge/receipts")
@roles_required("admin")
def receipts() -> ResponseReturnValue:
    return jsonify({"items": [receipt_json(r) for r in services().purge.receipts(db())]})


@bp.get("/holds")
@roles_required("admin")
def list_holds() -> ResponseReturnValue:
    return jsonify({"items": [hold_json(h) for h in services().purge.active_holds(db())]})


@bp.post("/holds")
@roles_required("admin")
def add_hold() -> ResponseReturnValue:
    body = parse_body(HoldIn)
    if body.until is None:
        raise InvalidInput("until: required")
    hold = services().purge.add_hold(db(), principal(), body.target_kind, body.target_id,
                                     body.reason, body.until)
    return jsonify(hold_json(hold)), 201


@bp.delete("/holds/<int:hold_id>")
@roles_required("admin")
def release_hold(hold_id: int) -> ResponseReturnValue:
    services().purge.release_hold(db(), principal(), hold_id)
    return "", 204


@bp.get("/clients/<int:client_id>/export")
@roles_required(*ANYONE)
def export(client_id: int) -> ResponseReturnValue:
    data = services().rights.export(db(), principal(), client_id)
    resp = jsonify(data)
    resp.headers["Content-Disposition"] = f'attachment; filename="custody-export-{client_id}.json"'
    return resp


@bp.patch("/contacts/<int:contact_id>")
@roles_required("admin", "client")
def update_contact(contact_id: int) -> ResponseReturnValue:
    body = parse_body(ContactPatch)
    if body.value is None and body.purposes is None:
        raise InvalidInput("body: send value (to correct it) or purposes (to change consent)")
    contact, reverify = services().rights.update_contact(db(), principal(), contact_id,
                                                         body.value, body.purposes)
    out = contact_json(contact)
    if reverify:
        out["verification_sent"] = send_verification(contact)
    return jsonify(out)


@bp.post("/clients/<int:client_id>/restriction")
@roles_required("admin", "client")
def restriction(client_id: int) -> ResponseReturnValue:
    body = parse_body(RestrictionIn)
    client = services().rights.set_restriction(db(), principal(), client_id, body.restricted)
    return jsonify(client_json(client) | {
        "processing_restricted": client.processing_restricted_at is not None})


@bp.post("/clients/<int:client_id>/erasure-request")
@roles_required("admin", "client")
def erasure_request(client_id: int) -> ResponseReturnValue:
    client = services().rights.request_erasure(db(), principal(), client_id)
    return jsonify(client_json(client) | {"erasure_requested_at": when(client.erasure_requested_at)}), 202


@bp.post("/clients/<int:client_id>/erasure/confirm")
@roles_required("admin")
def erasure_confirm(client_id: int) -> ResponseReturnValue:
    client = services().rights.confirm_erasure(db(), principal(), client_id)
    return jsonify(client_json(client))


@bp.post("/clients/<int:client_id>/close")
@roles_required("admin")
def close_client(client_id: int) -> ResponseReturnValue:
    client = services().rights.close_client(db(), principal(), client_id)
    return jsonify(client_json(client))
