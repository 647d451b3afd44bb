"""Technician pages: devices, a device, a session with its terminal."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from wtforms import IntegerField, StringField
from wtforms.validators import DataRequired, Length, NumberRange

from custody.devices.ssh import fingerprint
from custody.errors import CustodyError
from custody.web.auth import roles_required
from custody.web.context import db, principal, services

bp = Blueprint("tech", __name__, url_prefix="/tech")
STAFF = ("admin", "technician")


class SessionForm(FlaskForm):
    reason = StringField("Reason (ticket reference)", validators=[DataRequired(), Length(3, 200)])
    minutes = IntegerField("Duration in minutes", default=60,
                           validators=[DataRequired(), NumberRange(1, 240)])


@bp.get("/devices")
@roles_required(*STAFF)
def devices() -> ResponseReturnValue:
    svc = services()
    who = principal()
    client_id = request.args.get("client_id", type=int)
    query = (request.args.get("q") or "").strip().lower()
    items = svc.devices.list_devices(db(), who, client_id)
    if query:
        items = [d for d in items if query in d.name.lower() or query in (d.host or "").lower()]
    clients = {c.id: c.name for c in svc.clients.list_clients(db(), who)}
    return render_template("tech_devices.html", devices=items, clients=clients,
                           client_id=client_id, q=query)


@bp.route("/devices/<int:device_id>", methods=["GET", "POST"])
@roles_required(*STAFF)
def device(device_id: int) -> ResponseReturnValue:
    svc = services()
    who = principal()
    dev = svc.devices.get_device(db(), who, device_id)
    form = SessionForm()
    error = None
    if form.validate_on_submit():
        try:
            session = svc.sessions.request(db(), who, device_id, form.reason.data or "",
                                           (form.minutes.data or 60) * 60)
            db().commit()
            if session.state == "approved":
                svc.sessions.open(db(), session.id)
                db().commit()
            return redirect(url_for("tech.session_page", session_id=session.id))
        except CustodyError as exc:
            db().rollback()
            error = str(exc)
    recent = [s for s in svc.sessions.list_sessions(db(), who) if s.device_id == device_id][:10]
    pin = fingerprint(dev.host_key) if dev.host_key else None
    return render_template("tech_device.html", device=dev, form=form, error=error, recent=recent,
                           fingerprint=pin, client=svc.clients.get_client(db(), who, dev.client_id))


@bp.get("/sessions/<int:session_id>")
@roles_required(*STAFF)
def session_page(session_id: int) -> ResponseReturnValue:
    svc = services()
    session = svc.sessions.get_for(db(), principal(), session_id)
    dev = svc.devices.get_device(db(), principal(), session.device_id)
    return render_template("tech_session.html", session=session, device=dev,
                           now=svc.clock())


@bp.post("/sessions/<int:session_id>/close")
@roles_required(*STAFF)
def close_session(session_id: int) -> ResponseReturnValue:
    services().sessions.close(db(), principal(), session_id)
    db().commit()
    return redirect(url_for("tech.session_page", session_id=session_id))
