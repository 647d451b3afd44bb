"""The client portal: services, devices, certificates, alerts, contacts, rights, notice."""

from __future__ import annotations

import json

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from custody.clients.service import PURPOSES
from custody.dashboard import dashboard
from custody.errors import CustodyError, Forbidden
from custody.privacy import NOTICE_VERSION, notice
from custody.web.api import send_verification
from custody.web.auth import roles_required
from custody.web.confirm import unconfirmed
from custody.web.context import db, principal, services
from custody.web.forms import ActionForm

bp = Blueprint("portal", __name__, url_prefix="/portal")


class CorrectionForm(FlaskForm):
    value = StringField("Corrected address", validators=[DataRequired(), Length(3, 320)])


def _client_id() -> int:
    who = principal()
    if who.client_id is None:  # roles_required("client") lets in only client users
        raise Forbidden("the portal is for client users")
    return who.client_id


def _page(errors: dict[int | str, str] | None = None,
          corrections: dict[int, CorrectionForm] | None = None) -> ResponseReturnValue:
    svc, who, cid = services(), principal(), _client_id()
    contacts = svc.clients.list_contacts(db(), who, cid)
    forms = {c.id: CorrectionForm(prefix=f"c{c.id}", formdata=None, value=c.value)
             for c in contacts} | (corrections or {})
    return render_template(
        "portal_home.html", client=svc.clients.get_client(db(), who, cid),
        engagements=svc.clients.list_engagements(db(), who, cid),
        devices=svc.devices.list_devices(db(), who),
        certificates=svc.certs.list_for_client(db(), who, cid),
        notifications=svc.alerts.history.notifications(db(), who, cid)[:50],
        sessions=svc.sessions.on_client_devices(db(), who, cid),
        numbers=dashboard(db(), who, svc.purge.plan(db(), cid), svc.clock()),
        contacts=contacts, corrections=forms, purposes=PURPOSES, action=ActionForm(),
        errors=errors or {}, notice=notice(svc.settings), notice_version=NOTICE_VERSION,
        now=svc.clock()), 400 if errors else 200


@bp.get("/")
@roles_required("client")
def home() -> ResponseReturnValue:
    return _page()


@bp.get("/export")
@roles_required("client")
def export() -> ResponseReturnValue:
    """"Download my data": everything held about the client, as JSON."""
    data = services().rights.export(db(), principal(), _client_id())
    return Response(json.dumps(data, indent=2, ensure_ascii=False), mimetype="application/json",
                    headers={"Content-Disposition": 'attachment; filename="my-data.json"'})


@bp.post("/contacts/<int:contact_id>/consent")
@roles_required("client")
def consent(contact_id: int) -> ResponseReturnValue:
    if not ActionForm().validate_on_submit():
        return _page({contact_id: "the form expired; please try again"})
    chosen = [p for p in request.form.getlist("purposes") if p in PURPOSES]
    try:
        services().rights.update_contact(db(), principal(), contact_id, None, chosen)
    except CustodyError as exc:
        return _page({contact_id: str(exc)})
    flash("Your choices are saved.")
    return redirect(url_for("portal.home") + "#contacts")


@bp.post("/contacts/<int:contact_id>/correction")
@roles_required("client")
def correct(contact_id: int) -> ResponseReturnValue:
    form = CorrectionForm(prefix=f"c{contact_id}")
    if not form.validate_on_submit():
        return _page({contact_id: "; ".join(m for ms in form.errors.values() for m in ms)},
                     {contact_id: form})
    try:
        contact, reverify = services().rights.update_contact(db(), principal(), contact_id,
                                                             form.value.data, None)
    except CustodyError as exc:
        return _page({contact_id: str(exc)}, {contact_id: form})
    if reverify:
        send_verification(contact)
        flash("Corrected. We sent a confirmation link to the new address.")
    return redirect(url_for("portal.home") + "#contacts")


@bp.post("/restriction")
@roles_required("client")
def restriction() -> ResponseReturnValue:
    if ActionForm().validate_on_submit():
        restrict = request.form.get("restricted") == "1"
        services().rights.set_restriction(db(), principal(), _client_id(), restrict)
        flash("Processing is restricted: no alert e-mails go out." if restrict
              else "Processing is no longer restricted.")
    return redirect(url_for("portal.home") + "#rights")


@bp.post("/erasure")
@roles_required("client")
def erasure() -> ResponseReturnValue:
    if not ActionForm().validate_on_submit():
        return redirect(url_for("portal.home") + "#rights")
    if request.form.get("withdraw") == "1":
        services().rights.withdraw_erasure(db(), principal(), _client_id())
        flash("Your erasure request is withdrawn: we keep your data as before.")
        return redirect(url_for("portal.home") + "#rights")
    asking = unconfirmed(
        "Ask us to erase your data",
        "Once we confirm your request, everything we hold about you is destroyed: your "
        "devices' access data and credentials, your certificates' records, contacts, alert "
        "history and accounts. What the law makes us keep stays, without your name. Until "
        "we confirm, you can withdraw the request here.",
        cancel=url_for("portal.home") + "#rights")
    if asking is not None:
        return asking
    services().rights.request_erasure(db(), principal(), _client_id())
    flash("Your erasure request is recorded. We confirm it and then destroy your data; "
          "until then you can withdraw it.")
    return redirect(url_for("portal.home") + "#rights")


@bp.route("/certificates/<int:cert_id>/key", methods=["GET", "POST"])
@roles_required("client")
def key_bundle(cert_id: int) -> ResponseReturnValue:
    """The one download of a generated key: the page says what happens, and only its POST
    (never a prefetched or cross-site GET) hands the bundle over and destroys our copy."""
    svc, who = services(), principal()
    cert = svc.certs.get(db(), who, cert_id)
    form = ActionForm()
    if request.method == "POST" and form.validate_on_submit():
        bundle = svc.certs.download_bundle(db(), who, cert_id)
        return Response(bundle, mimetype="application/x-pkcs12", headers={
            "Content-Disposition": f'attachment; filename="certificate-{cert_id}.p12"',
            "Cache-Control": "no-store"})
    return render_template("portal_key.html", cert=cert, form=form), (
        400 if request.method == "POST" else 200)
