"""Purge schedule, runs, receipts and holds; the data-subject rights of clients."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from custody.errors import InvalidInput
from custody.purge.models import Hold
from custody.purge.plan import PlanItem
from custody.purge.service import receipt_json
from custody.web.api import send_verification
from custody.web.auth import ANYONE, roles_required
from custody.web.context import db, principal, services
from custody.web.openapi import operation
from custody.web.schemas import (
    ClientOut,
    ContactOut,
    ContactPatch,
    HoldIn,
    HoldOut,
    Items,
    PlanItemOut,
    PurgeRunIn,
    PurgeRunOut,
    ReceiptOut,
    RestrictionIn,
    items,
    parse_body,
)
from custody.web.serialize import client_out, contact_out

bp = Blueprint("purge_api", __name__, url_prefix="/api/v1")


def plan_out(item: PlanItem) -> PlanItemOut:
    return PlanItemOut(kind=item.kind, target=item.target, target_id=item.target_id,
                       client_id=item.client_id, name=item.name, due_at=item.due_at,
                       state=item.state, reason=item.reason)


def hold_out(h: Hold) -> HoldOut:
    return HoldOut(id=h.id, target_kind=h.target_kind, target_id=h.target_id, reason=h.reason,
                   until=h.until, created_at=h.created_at, released_at=h.released_at)


@operation("What will be destroyed, when and why", out=Items[PlanItemOut])
@bp.get("/purge/schedule")
@roles_required("admin")
def schedule() -> ResponseReturnValue:
    return items([plan_out(i) for i in services().purge.plan(db())]).reply()


@operation("Destroy what is due (or list it with dry_run); one receipt per target",
           body=PurgeRunIn, out=PurgeRunOut)
@bp.post("/purge/run")
@roles_required("admin")
def run() -> ResponseReturnValue:
    body = parse_body(PurgeRunIn)
    result = services().purge.run(principal().actor, dry_run=body.dry_run, trigger="api")
    return PurgeRunOut(run_id=result.run_id, dry_run=result.dry_run,
                       receipts=result.receipts).reply()


@operation("The latest purge receipts", out=Items[ReceiptOut])
@bp.get("/purge/receipts")
@roles_required("admin")
def receipts() -> ResponseReturnValue:
    return items([ReceiptOut(**receipt_json(r)) for r in services().purge.receipts(db())]).reply()


@operation("Active holds", out=Items[HoldOut])
@bp.get("/holds")
@roles_required("admin")
def list_holds() -> ResponseReturnValue:
    return items([hold_out(h) for h in services().purge.active_holds(db())]).reply()


@operation("Hold a device's or client's data (reason and end date)", body=HoldIn, out=HoldOut,
           status=201)
@bp.post("/holds")
@roles_required("admin")
def add_hold() -> ResponseReturnValue:
    body = parse_body(HoldIn)
    if body.until is None:
        raise InvalidInput("until: required", field="until")
    hold = services().purge.add_hold(db(), principal(), body.target_kind, body.target_id,
                                     body.reason, body.until)
    return hold_out(hold).reply(201)


@operation("Release a hold", status=204)
@bp.delete("/holds/<int:hold_id>")
@roles_required("admin")
def release_hold(hold_id: int) -> ResponseReturnValue:
    services().purge.release_hold(db(), principal(), hold_id)
    return "", 204


@operation("Everything held about the client, as JSON (no secrets)", media="application/json")
@bp.get("/clients/<int:client_id>/export")
@roles_required(*ANYONE)
def export(client_id: int) -> ResponseReturnValue:
    data = services().rights.export(db(), principal(), client_id)
    resp = jsonify(data)
    resp.headers["Content-Disposition"] = f'attachment; filename="custody-export-{client_id}.json"'
    return resp


@operation("Correct a contact (re-verified) or change its consented purposes; the client's "
           "decision (an admin acting for it is audited as such)", body=ContactPatch,
           out=ContactOut)
@bp.patch("/contacts/<int:contact_id>")
@roles_required("admin", "client")
def update_contact(contact_id: int) -> ResponseReturnValue:
    body = parse_body(ContactPatch)
    if body.value is None and body.purposes is None:
        raise InvalidInput("body: send value (to correct it) or purposes (to change consent)")
    contact, reverify = services().rights.update_contact(db(), principal(), contact_id,
                                                         body.value, body.purposes)
    out = contact_out(contact)
    if reverify:
        out.verification_sent = send_verification(contact)
    return out.reply()


@operation("Restrict or object to processing (stops alert mail)", body=RestrictionIn,
           out=ClientOut)
@bp.post("/clients/<int:client_id>/restriction")
@roles_required("admin", "client")
def restriction(client_id: int) -> ResponseReturnValue:
    body = parse_body(RestrictionIn)
    client = services().rights.set_restriction(db(), principal(), client_id, body.restricted)
    return client_out(client).reply()


@operation("Ask for erasure; an admin confirms it", out=ClientOut, status=202)
@bp.post("/clients/<int:client_id>/erasure-request")
@roles_required("admin", "client")
def erasure_request(client_id: int) -> ResponseReturnValue:
    client = services().rights.request_erasure(db(), principal(), client_id)
    return client_out(client).reply(202)


@operation("Withdraw an erasure request (until an admin confirms it)", out=ClientOut)
@bp.delete("/clients/<int:client_id>/erasure-request")
@roles_required("admin", "client")
def erasure_withdraw(client_id: int) -> ResponseReturnValue:
    client = services().rights.withdraw_erasure(db(), principal(), client_id)
    return client_out(client).reply()


@operation("Confirm erasure: the client purge becomes due at once", out=ClientOut)
@bp.post("/clients/<int:client_id>/erasure/confirm")
@roles_required("admin")
def erasure_confirm(client_id: int) -> ResponseReturnValue:
    client = services().rights.confirm_erasure(db(), principal(), client_id)
    return client_out(client).reply()


@operation("Close the client; its purge follows payment and warranty", out=ClientOut)
@bp.post("/clients/<int:client_id>/close")
@roles_required("admin")
def close_client(client_id: int) -> ResponseReturnValue:
    client = services().rights.close_client(db(), principal(), client_id)
    return client_out(client).reply()
