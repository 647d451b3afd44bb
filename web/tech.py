"""Technician pages: devices, a device, a session with its terminal."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectField, StringField
from wtforms.validators import DataRequired, Length, NumberRange

from custody.accounts.roles import STAFF
from custody.devices.models import SessionState
from custody.devices.platforms import DEVICE_TYPES
from custody.devices.sessions import SessionFilter
from custody.devices.ssh import fingerprint
from custody.errors import CustodyError
from custody.names import names_of
from custody.purge.plan import PurgeKind
from custody.web.api import device_filter
from custody.web.auth import roles_required
from custody.web.broker import session_filter
from custody.web.confirm import unconfirmed
from custody.web.context import db, principal, services
from custody.web.forms import ActionForm, page_links, place_error

bp = Blueprint("tech", __name__, url_prefix="/tech")


class SessionForm(FlaskForm):
    reason = StringField("Reason (ticket reference)", validators=[DataRequired(), Length(3, 200)])
    minutes = IntegerField("Duration in minutes", default=60,
                           validators=[DataRequired(), NumberRange(1, 240)])


@bp.get("/devices")
@roles_required(*STAFF)
def devices() -> ResponseReturnValue:
    """Devices by name, 100 a page, filtered by client, family, state and a search."""
    svc, who = services(), principal()
    try:
        wanted = device_filter()
        page = svc.devices.find_devices(db(), who, wanted,
                                        cursor=request.args.get("cursor") or None)
    except CustodyError as exc:
        flash(f"Not shown: {exc}")
        return redirect(url_for("tech.devices"))
    clients = {c.id: c.name for c in svc.clients.list_clients(db(), who)}
    return render_template("tech_devices.html", devices=page.rows, clients=clients,
                           wanted=wanted, types=sorted(DEVICE_TYPES),
                           **page_links("tech.devices", page.next_cursor))


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
            if session.state == "approved":
                svc.sessions.open(db(), session.id)
            return redirect(url_for("tech.session_page", session_id=session.id))
        except CustodyError as exc:
            error = place_error(form, exc)
    recent = svc.sessions.find_sessions(db(), who, SessionFilter(device_id=device_id),
                                        limit=10).rows
    pin = fingerprint(dev.host_key) if dev.host_key else None
    pending = fingerprint(dev.host_key_pending) if dev.host_key_pending else None
    policy = svc.devices.client_policy(db(), who, dev.client_id)
    planned = next((i for i in svc.purge.plan(db(), dev.client_id)
                    if i.kind == PurgeKind.DEVICE_ACCESS and i.target_id == device_id), None)
    purge_note = "not in the purge plan" if planned is None else (
        f"{planned.state.replace('_', ' ')}: {planned.reason}"
        + (f" (due {planned.due_at:%Y-%m-%d})" if planned.due_at else ""))
    return render_template("tech_device.html", device=dev, form=form, error=error, recent=recent,
                           fingerprint=pin, pending=pending, action=ActionForm(),
                           types=sorted(DEVICE_TYPES),
                           egress=svc.devices.egress_profiles(db(), who) if who.role == "admin"
                           else [],
                           purge_note=purge_note,
                           needs_approval=bool(policy and policy.require_approval),
                           client=svc.clients.get_client(db(), who, dev.client_id)), (
        400 if error or form.errors else 200)


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
    svc = services()
    session = svc.sessions.get_for(db(), principal(), session_id)
    device = svc.devices.get_device(db(), principal(), session.device_id)
    asking = unconfirmed(
        f"Close the session on {device.name}",
        f"The session ({session.reason}) ends now: the connection to {device.name} closes, "
        "whatever runs on it is cut off, and its transcript is kept.",
        cancel=url_for("tech.session_page", session_id=session_id))
    if asking is not None:
        return asking
    svc.sessions.close(db(), principal(), session_id)
    return redirect(url_for("tech.session_page", session_id=session_id))


class ReidentifyForm(FlaskForm):
    client_id = SelectField("Client", coerce=int, validators=[DataRequired()])
    token = StringField("Pseudonym", validators=[DataRequired(), Length(3, 80)])


@bp.get("/sessions")
@roles_required(*STAFF)
def sessions() -> ResponseReturnValue:
    """Sessions, newest first, 100 a page, by state, client or device."""
    svc, who = services(), principal()
    try:
        wanted = session_filter()
        page = svc.sessions.find_sessions(db(), who, wanted,
                                          cursor=request.args.get("cursor") or None)
    except CustodyError as exc:
        flash(f"Not shown: {exc}")
        return redirect(url_for("tech.sessions"))
    names = names_of(db(), who, (f"device:{s.device_id}" for s in page.rows))
    clients = {c.id: c.name for c in svc.clients.list_clients(db(), who)}
    return render_template(
        "tech_sessions.html", sessions=page.rows, names=names, clients=clients,
        wanted=wanted, states=list(SessionState), now=svc.clock(),
        **page_links("tech.sessions", page.next_cursor))


@bp.route("/approvals", methods=["GET", "POST"])
@roles_required(*STAFF)
def approvals() -> ResponseReturnValue:
    svc, who = services(), principal()
    form = ActionForm()
    error = None
    if form.validate_on_submit():
        approve = request.form.get("decision") == "approve"
        command_id = request.form.get("approval_id", type=int)
        session_id = request.form.get("session_id", type=int) or 0
        try:
            if command_id is not None:
                svc.sessions.approvals.decide(db(), who, command_id, approve)
                done = f"Command request {command_id} {'approved' if approve else 'refused'}."
            else:
                decided = svc.sessions.decide(db(), who, session_id, approve)
                if decided.state == "approved":
                    svc.sessions.open(db(), decided.id)
                done = f"Session {session_id} {'approved' if approve else 'denied'}."
        except CustodyError as exc:
            error = str(exc)
        else:
            flash(done)
            return redirect(url_for("tech.approvals"))
    pending = svc.sessions.list_sessions(db(), who, "pending")
    commands = svc.sessions.approvals.pending(db(), who)
    clients = {c.id: c.name for c in svc.clients.list_clients(db(), who)}
    names = names_of(db(), who, [*(f"device:{s.device_id}" for s in pending),
                                 *(f"user:{r.user_id}" for r in [*pending, *commands])])
    return render_template("tech_approvals.html", pending=pending, commands=commands,
                           names=names, clients=clients, now=svc.clock(),
                           form=form, error=error), 400 if error else 200


@bp.route("/reidentify", methods=["GET", "POST"])
@roles_required(*STAFF)
def reidentify() -> ResponseReturnValue:
    """What a pseudonym in an alert stands for; every lookup is audited."""
    svc, who = services(), principal()
    form = ReidentifyForm()
    form.client_id.choices = [(c.id, c.name) for c in svc.clients.list_clients(db(), who)]
    matches: list[str] | None = None
    error = None
    if form.validate_on_submit():
        try:
            matches = svc.alerts.reidentification.reidentify(db(), who, form.client_id.data,
                                            (form.token.data or "").strip())
        except CustodyError as exc:
            error = place_error(form, exc)
    return render_template("tech_reidentify.html", form=form, matches=matches, error=error), (
        400 if error or (request.method == "POST" and form.errors) else 200)
