"""The JSON API under /api/v1: clients, contacts, engagements, devices."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, request, url_for
from flask.typing import ResponseReturnValue

from custody.accounts.models import User
from custody.clients.models import Contact
from custody.clients.service import EngagementChanges
from custody.devices.service import DeviceChanges, DeviceCredentials, DeviceFilter, DeviceSpec
from custody.errors import InvalidInput
from custody.paging import MOST
from custody.sensitive import Secret
from custody.web.auth import ANYONE, roles_required
from custody.web.context import db, principal, services
from custody.web.forms import whole_number
from custody.web.openapi import operation, query
from custody.web.schemas import (
    ClientIn,
    ClientOut,
    ContactIn,
    ContactOut,
    DeviceIn,
    DeviceOut,
    DevicePatchIn,
    EngagementIn,
    EngagementOut,
    EngagementPatch,
    Items,
    MeOut,
    ReceiptOut,
    TotpConfirmIn,
    TotpConfirmOut,
    TotpStartOut,
    VerificationOut,
    items,
    parse_body,
)
from custody.web.serialize import client_out, contact_out, device_out, engagement_out

bp = Blueprint("api", __name__, url_prefix="/api/v1")
log = logging.getLogger("custody.web.api")


@operation("Who am I", out=MeOut)
@bp.get("/me")
@roles_required(*ANYONE)
def me() -> ResponseReturnValue:
    who = principal()
    return MeOut(id=who.user_id, username=who.username, role=who.role,
                 client_id=who.client_id).reply()


@operation("Start TOTP enrolment; returns an otpauth:// provisioning URI", out=TotpStartOut,
           status=201)
@bp.post("/me/totp")
@roles_required(*ANYONE)
def start_totp() -> ResponseReturnValue:
    """Begin TOTP enrolment: the URI goes into an authenticator app, then confirm a code."""
    user = _me()
    uri = services().accounts.second_factor.start(user)
    return TotpStartOut(provisioning_uri=uri, enabled=False).reply(201)


@operation("Activate TOTP with a current code; logins then need a code", body=TotpConfirmIn,
           out=TotpConfirmOut)
@bp.post("/me/totp/confirm")
@roles_required(*ANYONE)
def confirm_totp() -> ResponseReturnValue:
    body = parse_body(TotpConfirmIn)
    codes = services().accounts.second_factor.confirm(db(), _me(), body.code, body.password)
    return TotpConfirmOut(enabled=True, recovery_codes=codes).reply()


def _me() -> User:
    return services().accounts.me(db(), principal())


@operation("List clients visible to the caller", out=Items[ClientOut])
@bp.get("/clients")
@roles_required(*ANYONE)
def list_clients() -> ResponseReturnValue:
    return items([client_out(c) for c in services().clients.list_clients(db(), principal())]
                 ).reply()


@operation("Create a client", body=ClientIn, out=ClientOut, status=201)
@bp.post("/clients")
@roles_required("admin")
def create_client() -> ResponseReturnValue:
    body = parse_body(ClientIn)
    client = services().clients.create_client(db(), principal().actor, body.name)
    return client_out(client).reply(201)


@operation("Read a client", out=ClientOut)
@bp.get("/clients/<int:client_id>")
@roles_required(*ANYONE)
def get_client(client_id: int) -> ResponseReturnValue:
    return client_out(services().clients.get_client(db(), principal(), client_id)).reply()


@operation("List a client's contacts", out=Items[ContactOut])
@bp.get("/clients/<int:client_id>/contacts")
@roles_required(*ANYONE)
def list_contacts(client_id: int) -> ResponseReturnValue:
    rows = services().clients.list_contacts(db(), principal(), client_id)
    return items([contact_out(c) for c in rows]).reply()


@operation("Add a contact; a verification e-mail goes out (double opt-in)", body=ContactIn,
           out=ContactOut, status=201)
@bp.post("/clients/<int:client_id>/contacts")
@roles_required("admin")
def create_contact(client_id: int) -> ResponseReturnValue:
    body = parse_body(ContactIn)
    contact = services().clients.add_contact(db(), principal(), client_id, body.kind,
                                             body.value, body.purposes)
    out = contact_out(contact)
    out.verification_sent = send_verification(contact)
    return out.reply(201)


@operation("Send the verification e-mail again", out=VerificationOut, status=202)
@bp.post("/contacts/<int:contact_id>/verification")
@roles_required("admin")
def resend_verification(contact_id: int) -> ResponseReturnValue:
    contact = services().clients.unverified_contact(db(), principal(), contact_id)
    return VerificationOut(id=contact.id, verification_sent=send_verification(contact)).reply(202)


def send_verification(contact: Contact) -> bool:
    """Mail the double opt-in link; a mail failure leaves the contact unverified, not lost."""
    svc = services()
    # Never from the request's Host header: whoever sends the request chooses that.
    link = svc.settings.public_url + url_for("pages.verify_contact",
                                             token=svc.clients.verification_token(contact))
    return svc.clients.send_verification(db(), contact, link)


@operation("List a client's engagements", out=Items[EngagementOut])
@bp.get("/clients/<int:client_id>/engagements")
@roles_required(*ANYONE)
def list_engagements(client_id: int) -> ResponseReturnValue:
    rows = services().clients.list_engagements(db(), principal(), client_id)
    return items([engagement_out(e) for e in rows]).reply()


@operation("Create an engagement", body=EngagementIn, out=EngagementOut, status=201)
@bp.post("/clients/<int:client_id>/engagements")
@roles_required("admin")
def create_engagement(client_id: int) -> ResponseReturnValue:
    body = parse_body(EngagementIn)
    eng = services().clients.add_engagement(db(), principal(), client_id, body.title,
                                            body.paid_at, body.warranty_until)
    return engagement_out(eng).reply(201)


@operation("Read an engagement", out=EngagementOut)
@bp.get("/engagements/<int:engagement_id>")
@roles_required(*ANYONE)
def get_engagement(engagement_id: int) -> ResponseReturnValue:
    return engagement_out(services().clients.get_engagement(db(), principal(), engagement_id)
                          ).reply()


@operation("Change paid, warranty or closed dates", body=EngagementPatch, out=EngagementOut)
@bp.patch("/engagements/<int:engagement_id>")
@roles_required("admin")
def update_engagement(engagement_id: int) -> ResponseReturnValue:
    body = parse_body(EngagementPatch)
    if not body.model_fields_set:
        raise InvalidInput("body: name at least one of title, paid_at, warranty_until, closed_at")
    changes = EngagementChanges(title=body.title, paid_at=body.paid_at,
                                warranty_until=body.warranty_until, closed_at=body.closed_at,
                                fields=frozenset(body.model_fields_set))
    eng = services().clients.update_engagement(db(), principal(), engagement_id, changes)
    return engagement_out(eng).reply()


@operation("List devices by name, a page at a time", out=Items[DeviceOut], query=(
    query("client_id", "only this client's devices", type="integer"),
    query("device_type", "only devices of this family (cisco_ios, linux, ...)"),
    query("state", "only active devices, or only those whose access data is destroyed",
          enum=["active", "purged"]),
    query("q", "in the name (staff: or the address), any case", maxLength=200),
    query("limit", "devices in a page (default 100)", type="integer", minimum=1,
          maximum=MOST),
    query("cursor", "the next_cursor of the page before", maxLength=1000)))
@bp.get("/devices")
@roles_required(*ANYONE)
def list_devices() -> ResponseReturnValue:
    who = principal()
    page = services().devices.find_devices(
        db(), who, device_filter(), limit=whole_arg("limit"),
        cursor=request.args.get("cursor") or None)
    return items([device_out(d, who) for d in page.rows], page.next_cursor).reply()


def device_filter() -> DeviceFilter:
    """The filters a devices list was asked for (the API's and the page's alike)."""
    state = request.args.get("state") or None
    if state not in (None, "active", "purged"):
        raise InvalidInput("state must be active or purged", field="state")
    return DeviceFilter(client_id=whole_arg("client_id"),
                        device_type=request.args.get("device_type") or None,
                        access_state=state,
                        search=(request.args.get("q") or "").strip()[:200] or None)


def whole_arg(name: str) -> int | None:
    """A whole-number query argument, or InvalidInput naming it."""
    raw = request.args.get(name)
    return None if raw in (None, "") else whole_number(raw, name)


@operation("Enrol a device; credentials are write-only", body=DeviceIn, out=DeviceOut,
           status=201)
@bp.post("/devices")
@roles_required("admin")
def create_device() -> ResponseReturnValue:
    body = parse_body(DeviceIn)
    creds = body.credentials
    spec = DeviceSpec(client_id=body.client_id, name=body.name.strip(), host=body.host.strip(),
                      port=body.port, device_type=body.device_type, egress_ip=body.egress_ip,
                      engagement_ids=tuple(body.engagement_ids))
    credentials = DeviceCredentials(
        username=creds.username,
        password=secret_or_none(creds.password), secret=secret_or_none(creds.secret),
        private_key=secret_or_none(creds.private_key),
    )
    device = services().devices.create_device(db(), principal(), spec, credentials)
    return device_out(device, principal()).reply(201)


@operation("Read a device", out=DeviceOut)
@bp.get("/devices/<int:device_id>")
@roles_required(*ANYONE)
def get_device(device_id: int) -> ResponseReturnValue:
    who = principal()
    return device_out(services().devices.get_device(db(), who, device_id), who).reply()


@operation("Change a device's name, address, family, egress or engagements (a new address "
           "unpins its host key)", body=DevicePatchIn, out=DeviceOut)
@bp.patch("/devices/<int:device_id>")
@roles_required("admin")
def update_device(device_id: int) -> ResponseReturnValue:
    body = parse_body(DevicePatchIn)
    given = frozenset(body.model_fields_set)
    for name in given & {"name", "host", "port", "device_type", "engagement_ids"}:
        if getattr(body, name) is None:
            raise InvalidInput(f"{name} cannot be null", field=name)
    changes = DeviceChanges(
        name=body.name.strip() if body.name else None,
        host=body.host.strip() if body.host else None, port=body.port,
        device_type=body.device_type, egress_ip=body.egress_ip,
        engagement_ids=tuple(body.engagement_ids or ()), fields=given)
    device = services().devices.update_device(db(), principal(), device_id, changes)
    return device_out(device, principal()).reply()


@operation("Delete a device: its credentials and access data are destroyed as a purge "
           "would, with a receipt; not while a session is live", out=ReceiptOut)
@bp.delete("/devices/<int:device_id>")
@roles_required("admin")
def delete_device(device_id: int) -> ResponseReturnValue:
    receipt = services().purge.delete_device(db(), principal(), device_id)
    return ReceiptOut(**receipt).reply()


def secret_or_none(value: Any) -> Secret | None:
    return None if value is None else Secret(value.get_secret_value())
