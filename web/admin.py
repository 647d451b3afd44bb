"""Admin pages: the dashboard, a client's engagements, the purge schedule, the audit log."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from wtforms import DateField, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional

from custody.accounts.roles import STAFF
from custody.audit.service import verify_chain
from custody.clients.models import Engagement
from custody.clients.service import CONTACT_KINDS, PURPOSES, EngagementChanges, check_order
from custody.dashboard import dashboard, next_sweep
from custody.errors import BackendUnavailable, CustodyError
from custody.names import names_of
from custody.purge.plan import PurgeKind
from custody.purge.schedule import WINDOWS, build_schedule, schedule_csv
from custody.purge.service import receipt_json
from custody.scheduling import status as scheduler_status
from custody.web.api import send_verification
from custody.web.audit import audit_filter
from custody.web.auth import roles_required
from custody.web.confirm import unconfirmed
from custody.web.context import db, principal, services
from custody.web.forms import (
    ActionForm,
    attempt,
    page_links,
    place_error,
    problems,
)
from custody.web.health import SCHEDULER_STALE
from custody.web.purge import plan_out
from custody.web.schemas import items

bp = Blueprint("admin", __name__, url_prefix="/admin")


class EngagementForm(FlaskForm):
    paid_on = DateField("Paid on", validators=[Optional()])
    warranty_until = DateField("Warranty until", validators=[Optional()])


class NewEngagementForm(FlaskForm):
    title = StringField("Service", validators=[DataRequired(), Length(1, 200)])


class HoldForm(FlaskForm):
    target = SelectField("What to keep", validators=[DataRequired()])
    reason = StringField("Why it must stay", validators=[DataRequired(), Length(3, 500)])
    until = DateField("Until", validators=[DataRequired()])


def _day_end(day: date | None) -> datetime | None:
    return datetime.combine(day, time(23, 59, 59), tzinfo=UTC) if day else None


def _engagement_forms(engagements: Sequence[Engagement]) -> dict[int, EngagementForm]:
    """One form per service, filled from what is stored."""
    return {e.id: EngagementForm(prefix=f"e{e.id}", formdata=None,
                                 paid_on=e.paid_at.date() if e.paid_at else None,
                                 warranty_until=e.warranty_until.date() if e.warranty_until
                                 else None) for e in engagements}


def _client_names() -> dict[int, str]:
    return {c.id: c.name for c in services().clients.list_clients(db(), principal())}




@bp.get("/")
@roles_required(*STAFF)
def home() -> ResponseReturnValue:
    svc = services()
    every = timedelta(minutes=svc.settings.purge.sweep_minutes)
    numbers = dashboard(db(), principal(), svc.purge.plan(db()), svc.clock(), every)
    clients = svc.clients.list_clients(db(), principal())
    try:
        svc.broker.check()
        broker_up = True
    except BackendUnavailable:
        broker_up = False  # no session opens or runs through this node
    scheduler = scheduler_status(db(), svc.clock(), SCHEDULER_STALE)
    expiring = (svc.certs.expiring(db(), principal(), days=30).rows
                if principal().role == "admin" else None)
    return render_template("admin_home.html", numbers=numbers, clients=clients,
                           sweep_minutes=svc.settings.purge.sweep_minutes,
                           broker_up=broker_up, scheduler_up=scheduler.active,
                           expiring=expiring, client_names={c.id: c.name for c in clients},
                           now=svc.clock())


@bp.route("/clients/<int:client_id>", methods=["GET", "POST"])
@roles_required(*STAFF)
def client(client_id: int) -> ResponseReturnValue:
    svc, who = services(), principal()
    record = svc.clients.get_client(db(), who, client_id)
    new = NewEngagementForm(prefix="new")
    errors: dict[str, str] = {}
    if request.method == "POST" and not new.validate_on_submit():
        errors["new"] = problems(new)
    elif request.method == "POST":
        if who.role != "admin":
            errors["new"] = "only admins can add services"
        else:
            try:
                svc.clients.add_engagement(db(), who, client_id, new.title.data or "", None, None)
            except CustodyError as exc:
                errors["new"] = place_error(new, exc) or ""
            else:
                flash("Service added.")
                return redirect(url_for("admin.client", client_id=client_id))
    engagements = svc.clients.list_engagements(db(), who, client_id)
    forms = _engagement_forms(engagements)
    devices = svc.devices.list_devices(db(), who, client_id)
    status = 400 if errors else 200
    return render_template("admin_client.html", client=record, engagements=engagements,
                           forms=forms, new=new, errors=errors, devices=devices,
                           action=ActionForm(), purposes=PURPOSES, kinds=CONTACT_KINDS,
                           contacts=svc.clients.list_contacts(db(), who, client_id)), status


@bp.post("/clients/<int:client_id>/contacts")
@roles_required("admin")
def client_contact(client_id: int) -> ResponseReturnValue:
    """Add a contact for the client; the address gets its double opt-in link."""
    svc, who = services(), principal()
    if ActionForm().validate_on_submit():
        purposes = [p for p in request.form.getlist("purposes") if p in PURPOSES]
        contact = attempt(lambda: svc.clients.add_contact(
            db(), who, client_id, request.form.get("kind", "email"),
            request.form.get("value", ""), purposes), "Not added")
        if contact is not None:
            sent = send_verification(contact)
            flash(f"{contact.value} added; " + ("it was sent its confirmation link." if sent
                  else "its confirmation link could not be sent yet: resend it later."))
    return redirect(url_for("admin.client", client_id=client_id) + "#contacts")


@bp.route("/clients/<int:client_id>/policy", methods=["GET", "POST"])
@roles_required("admin")
def client_policy(client_id: int) -> ResponseReturnValue:
    """How the client's device access is governed: approval, commands refused, the names
    its certificates may carry, its names in alerts, address pseudonyms. What the page
    does not show (allow-list mode, privileged sessions, rotation) stays as it is."""
    svc, who = services(), principal()
    record = svc.clients.get_client(db(), who, client_id)
    policy = svc.devices.client_policy(db(), who, client_id)
    form = ActionForm()
    lines = {name: "\n".join(getattr(policy, name, None) or []) if policy else ""
             for name in ("deny_commands", "cert_names", "alert_names")}
    values: dict[str, Any] = {
        "require_approval": bool(policy and policy.require_approval),
        "approver_role": policy.approver_role if policy else "admin",
        "prefix_preserving_ips": bool(policy and policy.prefix_preserving_ips), **lines}
    error = None
    if form.validate_on_submit():
        values = {"require_approval": request.form.get("require_approval") == "1",
                  "approver_role": request.form.get("approver_role", "admin"),
                  "prefix_preserving_ips": request.form.get("prefix_preserving_ips") == "1",
                  **{name: request.form.get(name, "") for name in lines}}

        def listed(name: str) -> list[str]:
            return [line.strip() for line in str(values[name]).splitlines() if line.strip()]

        try:
            svc.devices.set_client_policy(
                db(), who, client_id, values["require_approval"], values["approver_role"],
                listed("deny_commands"), listed("cert_names"), values["prefix_preserving_ips"],
                listed("alert_names"),
                privileged_role=policy.privileged_role if policy else "technician",
                allow_commands=policy.allow_commands if policy else None,
                unlisted_action=policy.unlisted_action if policy else "refuse",
                rotate_after_privileged=bool(policy and policy.rotate_after_privileged),
                rotate_every_days=policy.rotate_every_days if policy else None)
        except CustodyError as exc:
            error = str(exc)  # answered with a 400: the request's unit rolls back
        else:
            flash(f"{record.name}'s access policy is saved.")
            return redirect(url_for("admin.client_policy", client_id=client_id))
    return render_template("admin_policy.html", client=record, values=values, form=form,
                           error=error), 400 if error else 200


@bp.post("/clients/<int:client_id>/close")
@roles_required("admin")
def client_close(client_id: int) -> ResponseReturnValue:
    svc, who = services(), principal()
    record = svc.clients.get_client(db(), who, client_id)
    if ActionForm().validate_on_submit():
        asking = unconfirmed(
            f"Close {record.name}",
            f"{record.name} is closed: no new work, and everything about it is destroyed "
            "once its services are paid and their warranties over (custody purge plan "
            "shows when).", cancel=url_for("admin.client", client_id=client_id))
        if asking is not None:
            return asking
        svc.rights.close_client(db(), who, client_id)
        flash(f"{record.name} is closed.")
    return redirect(url_for("admin.client", client_id=client_id) + "#lifecycle")


@bp.post("/clients/<int:client_id>/erasure")
@roles_required("admin")
def client_erasure(client_id: int) -> ResponseReturnValue:
    """Confirm a client's erasure request (after a confirmation step) or decline it."""
    svc, who = services(), principal()
    record = svc.clients.get_client(db(), who, client_id)
    if ActionForm().validate_on_submit():
        if request.form.get("decision") == "decline":
            svc.rights.withdraw_erasure(db(), who, client_id)
            flash(f"{record.name}'s erasure request is declined; tell them why.")
        else:
            asking = unconfirmed(
                f"Erase {record.name}",
                f"Everything custody holds about {record.name} is destroyed at the next purge "
                "sweep: its devices' credentials and access data, certificates' records, "
                "contacts, alerts, accounts and its key for the secret store. Only the "
                "receipts stay. This cannot be undone.",
                cancel=url_for("admin.client", client_id=client_id))
            if asking is not None:
                return asking
            svc.rights.confirm_erasure(db(), who, client_id)
            flash(f"{record.name}'s erasure is confirmed: it goes at the next purge sweep.")
    return redirect(url_for("admin.client", client_id=client_id) + "#lifecycle")


@bp.post("/engagements/<int:engagement_id>")
@roles_required("admin")
def engagement(engagement_id: int) -> ResponseReturnValue:
    svc, who = services(), principal()
    eng = svc.clients.get_engagement(db(), who, engagement_id)
    form = EngagementForm(prefix=f"e{eng.id}")
    error = None
    if form.validate_on_submit():
        paid_at = _day_end(form.paid_on.data) if form.paid_on.data else None
        warranty_until = _day_end(form.warranty_until.data)
        try:
            check_order(paid_at, warranty_until)  # wrong dates: said by their field, not asked
            due = svc.purge.newly_due(db(), who, eng.id, paid_at, warranty_until)
        except CustodyError:
            due = []  # the update below says what is wrong, by its field
        sweep = next_sweep(db(), timedelta(minutes=svc.settings.purge.sweep_minutes))
        asking = unconfirmed(
            f"Save “{eng.title}”",
            f"This makes {len(due)} device(s) due now: {', '.join(i.name for i in due)}. "
            "Their credentials and access data are destroyed at the next purge sweep ("
            + (f"{sweep:%Y-%m-%d %H:%M} UTC" if sweep else "when the scheduler next runs")
            + "), which cannot be undone; a hold keeps them meanwhile.",
            cancel=url_for("admin.client", client_id=eng.client_id)) if due else None
        if asking is not None:
            return asking
        try:
            svc.clients.update_engagement(db(), who, eng.id, EngagementChanges(
                paid_at=paid_at, warranty_until=warranty_until,
                fields=frozenset({"paid_at", "warranty_until"})))
        except CustodyError as exc:
            error = place_error(form, exc)
        else:
            flash(f"Saved “{eng.title}”.")
            return redirect(url_for("admin.client", client_id=eng.client_id))
    else:
        error = problems(form)
    # Show the client page again with the values as typed and the message by the form.
    engagements = svc.clients.list_engagements(db(), who, eng.client_id)
    forms = _engagement_forms(engagements) | {eng.id: form}
    return render_template("admin_client.html", client=svc.clients.get_client(
        db(), who, eng.client_id), engagements=engagements, forms=forms,
        new=NewEngagementForm(prefix="new", formdata=None), errors={eng.id: error},
        devices=svc.devices.list_devices(db(), who, eng.client_id), action=ActionForm(),
        purposes=PURPOSES, kinds=CONTACT_KINDS,
        contacts=svc.clients.list_contacts(db(), who, eng.client_id)), 400


def _hold_choices() -> list[tuple[str, str]]:
    clients = _client_names()
    devices = services().devices.active_devices(db(), principal())
    return [*((f"device:{d.id}", f"device {d.name} ({clients.get(d.client_id, '?')})")
              for d in devices),
            *((f"client:{cid}", f"client {name} (everything)") for cid, name in clients.items())]


@bp.route("/purge", methods=["GET", "POST"])
@roles_required("admin")
def purge() -> ResponseReturnValue:
    svc, who = services(), principal()
    days = request.args.get("days", type=int) or 30
    if days not in WINDOWS:
        days = 30
    hold = HoldForm(prefix="hold")
    hold.target.choices = _hold_choices()
    error = None
    if request.method == "POST" and hold.validate_on_submit():
        kind, _, target_id = (hold.target.data or "").partition(":")
        try:
            svc.purge.add_hold(db(), who, kind, int(target_id), hold.reason.data or "",
                               _day_end(hold.until.data) or svc.clock())
        except CustodyError as exc:
            error = place_error(hold, exc)
        else:
            flash("Hold added: nothing of it is destroyed until the hold ends or is released.")
            return redirect(url_for("admin.purge", days=days))
    elif request.method == "POST":
        error = problems(hold)
    return _purge_page(days, hold, error, None), 400 if error or hold.errors else 200


@bp.post("/purge/dry-run")
@roles_required("admin")
def dry_run() -> ResponseReturnValue:
    svc = services()
    form = ActionForm()
    if not form.validate_on_submit():
        return redirect(url_for("admin.purge"))
    result = svc.purge.run(principal().actor, dry_run=True, trigger="web")
    hold = HoldForm(prefix="hold", formdata=None)
    hold.target.choices = _hold_choices()
    return _purge_page(30, hold, None, result.receipts)


def _purge_page(days: int, hold: HoldForm, error: str | None,
                dry_run: list[dict[str, Any]] | None) -> str:
    svc = services()
    holds = {(h.target_kind, h.target_id): h for h in svc.purge.active_holds(db())}
    receipts = [receipt_json(r) for r in svc.purge.receipts(db(), limit=20)]
    shown = [*(r["target"] for r in dry_run or []), *(f"{k}:{i}" for k, i in holds),
             *(receipt_target(r) for r in receipts)]
    return render_template(
        "admin_purge.html",
        schedule=build_schedule(svc.purge.plan(db()), _client_names(), svc.clock(), days),
        windows=WINDOWS, hold=hold, error=error, action=ActionForm(), dry_run=dry_run,
        holds=holds, receipts=receipts, receipt_target=receipt_target,
        names=names_of(db(), principal(), shown))


def receipt_target(receipt: dict[str, Any]) -> str:
    """A receipt's target as the records name it ("device:3", "client:1")."""
    kind = "device" if receipt["kind"] == PurgeKind.DEVICE_ACCESS else receipt["kind"]
    return f"{kind}:{receipt['target_id']}"


@bp.post("/holds/<int:hold_id>/release")
@roles_required("admin")
def release_hold(hold_id: int) -> ResponseReturnValue:
    if not ActionForm().validate_on_submit():
        return redirect(url_for("admin.purge"))
    hold = services().purge.get_hold(db(), principal(), hold_id)
    key = f"{hold.target_kind}:{hold.target_id}"
    what = f"{hold.target_kind} {names_of(db(), principal(), [key]).get(key, hold.target_id)}"
    asking = unconfirmed(
        f"Release the hold on {what}",
        f"The hold (“{hold.reason}”, until {hold.until:%Y-%m-%d}) ends now. The {what}'s "
        "data follows the schedule again: if it is due, the next purge sweep destroys it.",
        cancel=url_for("admin.purge"))
    if asking is not None:
        return asking
    services().purge.release_hold(db(), principal(), hold_id)
    flash("Hold released: the data follows the schedule again.")
    return redirect(url_for("admin.purge"))


@bp.get("/purge/schedule.<fmt>")
@roles_required("admin")
def export_schedule(fmt: str) -> ResponseReturnValue:
    plan = services().purge.plan(db())
    stamp = f"{services().clock():%Y%m%d}"
    if fmt == "csv":
        return Response(schedule_csv(plan, _client_names()), mimetype="text/csv", headers={
            "Content-Disposition": f'attachment; filename="purge-schedule-{stamp}.csv"'})
    if fmt == "json":
        return Response(items([plan_out(i) for i in plan]).model_dump_json(indent=2),
                        mimetype="application/json", headers={
            "Content-Disposition": f'attachment; filename="purge-schedule-{stamp}.json"'})
    return render_template("error.html", status=404,
                           message="the schedule exports as .csv or .json"), 404


@bp.route("/audit", methods=["GET", "POST"])
@roles_required("admin")
def audit() -> ResponseReturnValue:
    """The log, newest first, 200 a page; filtered by who (a username), what (an action's
    start), on what (a target as recorded) and when (a range of days)."""
    form = ActionForm()
    verdict = verify_chain(db()) if form.validate_on_submit() else None
    args = {k: (request.args.get(k) or "").strip()
            for k in ("actor", "action", "target", "from", "to")}
    try:
        page = services().audit.find(db(), audit_filter(),
                                     cursor=request.args.get("cursor") or None)
    except CustodyError as exc:
        flash(f"Not shown: {exc}")
        return redirect(url_for("admin.audit"))
    names = names_of(db(), principal(), [key for e in page.rows for key in (e.actor, e.target)])
    return render_template("admin_audit.html", events=page.rows, form=form, verdict=verdict,
                           args=args, names=names, **page_links("admin.audit", page.next_cursor))

