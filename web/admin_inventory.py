"""Admin pages for what the provider runs: devices (write-only credentials), egress
profiles, alert sources (tokens shown once) and certificates."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from wtforms import (
    IntegerField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from custody.alerts.formats import SOURCE_KINDS
from custody.certs.service import CERTIFICATE_STATES
from custody.certs.x509ops import REASONS
from custody.devices.service import DEVICE_TYPES, DeviceChanges, DeviceCredentials, DeviceSpec
from custody.errors import CustodyError
from custody.sensitive import Secret
from custody.web.auth import roles_required
from custody.web.certs import certificate_filter
from custody.web.confirm import unconfirmed
from custody.web.context import db, end_unit_of_work, principal, services
from custody.web.forms import (
    ActionForm,
    attempt,
    page_links,
    place_error,
    problems,
    whole_number,
)

bp = Blueprint("inventory", __name__, url_prefix="/admin")


class DeviceForm(FlaskForm):
    client_id = SelectField("Client", coerce=int, validators=[DataRequired()])
    name = StringField("Name", validators=[DataRequired(), Length(1, 200)])
    host = StringField("Address (IP or host name)", validators=[DataRequired(), Length(1, 253)])
    port = IntegerField("SSH port", default=22, validators=[DataRequired(), NumberRange(1, 65535)])
    device_type = SelectField("Type", choices=sorted(DEVICE_TYPES), default="cisco_ios")
    egress_ip = SelectField("Egress address", validators=[Optional()])
    engagement_ids = SelectMultipleField("Covered by services", coerce=int,
                                         validators=[Optional()])
    username = StringField("Login name", validators=[DataRequired(), Length(1, 200)])
    password = PasswordField("Password", validators=[Optional()])
    secret = PasswordField("Enable secret", validators=[Optional()])
    private_key = TextAreaField("Private key (PEM)", validators=[Optional()])


class CredentialsForm(FlaskForm):
    username = StringField("Login name", validators=[DataRequired(), Length(1, 200)])
    password = PasswordField("New password", validators=[Optional()])
    secret = PasswordField("New enable secret", validators=[Optional()])
    private_key = TextAreaField("New private key (PEM)", validators=[Optional()])


class EgressForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(1, 100)])
    source_ip = StringField("Source address", validators=[DataRequired(), Length(2, 64)])


class SourceForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(1, 100)])
    kind = SelectField("Kind", choices=list(SOURCE_KINDS))
    client_id = SelectField("Client (empty: map each alert)", coerce=int,
                            validators=[Optional()])


class RevokeForm(FlaskForm):
    # No reason is preselected: the reason goes into the CRL, so it is chosen deliberately.
    reason = SelectField("Reason (RFC 5280)", choices=["", *sorted(REASONS)], default="",
                         validators=[DataRequired("choose a reason")])


def _secret(value: str | None) -> Secret | None:
    return Secret(value) if value else None


def _credentials(form: DeviceForm | CredentialsForm) -> DeviceCredentials:
    return DeviceCredentials(username=(form.username.data or "").strip(),
                             password=_secret(form.password.data),
                             secret=_secret(form.secret.data),
                             private_key=_secret(form.private_key.data))


def _forget_secrets(form: DeviceForm | CredentialsForm) -> None:
    """Secrets are write-only: a form shown again never carries them back."""
    for name in ("password", "secret", "private_key"):
        form[name].data = None
        form[name].raw_data = []


def _clients() -> list[tuple[int, str]]:
    return [(c.id, c.name) for c in services().clients.list_clients(db(), principal())]


@bp.route("/devices/new", methods=["GET", "POST"])
@roles_required("admin")
def new_device() -> ResponseReturnValue:
    svc, who = services(), principal()
    form = DeviceForm()
    form.client_id.choices = _clients()
    form.egress_ip.choices = [("", "none (this host's default address)")] + [
        (p.source_ip, f"{p.name} ({p.source_ip})")
        for p in svc.devices.egress_profiles(db(), who)]
    form.engagement_ids.choices = [
        (e.id, f"{name}: {e.title}") for cid, name in form.client_id.choices
        for e in svc.clients.list_engagements(db(), who, cid)]
    error = None
    if form.validate_on_submit():
        spec = DeviceSpec(client_id=form.client_id.data, name=(form.name.data or "").strip(),
                          host=(form.host.data or "").strip(), port=form.port.data or 22,
                          device_type=form.device_type.data or "",
                          egress_ip=form.egress_ip.data or None,
                          engagement_ids=tuple(form.engagement_ids.data or ()))
        try:
            device = svc.devices.create_device(db(), who, spec, _credentials(form))
        except CustodyError as exc:
            error = place_error(form, exc)
        else:
            flash(f"Device {device.name} enrolled. Pin its host key next.")
            return redirect(url_for("tech.device", device_id=device.id))
    elif request.method == "POST":
        error = problems(form)
    if error or form.errors:
        _forget_secrets(form)
    return render_template("admin_device_new.html", form=form, error=error), (
        400 if error or form.errors else 200)


@bp.route("/devices/<int:device_id>/credentials", methods=["GET", "POST"])
@roles_required("admin")
def credentials(device_id: int) -> ResponseReturnValue:
    svc, who = services(), principal()
    device = svc.devices.get_device(db(), who, device_id)
    form = CredentialsForm()
    error = None
    if form.validate_on_submit():
        try:
            version = svc.devices.rotate_credentials(db(), who, device_id, _credentials(form))
        except CustodyError as exc:
            error = place_error(form, exc)
        else:
            flash(f"New credentials stored (version {version}); the old ones are destroyed.")
            return redirect(url_for("tech.device", device_id=device_id))
    elif request.method == "POST":
        error = problems(form)
    _forget_secrets(form)
    return render_template("admin_credentials.html", form=form, device=device, error=error), (
        400 if error or form.errors else 200)


@bp.route("/egress", methods=["GET", "POST"])
@roles_required("admin")
def egress() -> ResponseReturnValue:
    form = EgressForm()
    error = None
    if form.validate_on_submit():
        try:
            services().devices.create_egress_profile(db(), principal(), form.name.data or "",
                                                     form.source_ip.data or "")
        except CustodyError as exc:
            error = place_error(form, exc)
        else:
            flash("Egress profile added.")
            return redirect(url_for("inventory.egress"))
    elif request.method == "POST":
        error = problems(form)
    return _egress_page(form, error=error)


def _egress_page(form: EgressForm, error: str | None = None, editing: int | None = None,
                 edit: EgressForm | None = None, edit_error: str | None = None
                 ) -> ResponseReturnValue:
    """The profiles (each with the live devices that use it), the add form, and the
    edit form of the one being changed, with its error and values kept."""
    svc, who = services(), principal()
    profiles = svc.devices.egress_profiles(db(), who)
    return render_template("admin_egress.html", form=form, profiles=profiles, error=error,
                           users=svc.devices.egress_users(db(), who), editing=editing,
                           edit=edit, edit_error=edit_error, action=ActionForm()), (
        400 if error or form.errors or edit_error is not None else 200)


@bp.post("/egress/<int:profile_id>/edit")
@roles_required("admin")
def edit_egress(profile_id: int) -> ResponseReturnValue:
    """Rename a profile or change its address, while no live device uses it."""
    svc, who = services(), principal()
    profile = svc.devices.egress_profile(db(), who, profile_id)
    if not ActionForm().validate_on_submit():  # the CSRF token; the fields carry a prefix
        return redirect(url_for("inventory.egress"))
    edit = EgressForm(prefix=f"edit{profile_id}", meta={"csrf": False})
    if not edit.validate():
        return _egress_page(EgressForm(formdata=None), editing=profile_id, edit=edit,
                            edit_error=problems(edit) or "")
    try:
        svc.devices.update_egress_profile(db(), who, profile_id, edit.name.data or "",
                                          (edit.source_ip.data or "").strip(), profile.node)
    except CustodyError as exc:
        end_unit_of_work(ok=False)
        return _egress_page(EgressForm(formdata=None), editing=profile_id, edit=edit,
                            edit_error=place_error(edit, exc) or "")
    flash(f"Egress profile {edit.name.data} saved.")
    return redirect(url_for("inventory.egress"))


@bp.post("/egress/<int:profile_id>/delete")
@roles_required("admin")
def delete_egress(profile_id: int) -> ResponseReturnValue:
    """Delete a profile no live device uses, after a confirmation."""
    svc, who = services(), principal()
    profile = svc.devices.egress_profile(db(), who, profile_id)
    if not ActionForm().validate_on_submit():
        return redirect(url_for("inventory.egress"))
    asking = unconfirmed(
        f"Delete egress profile {profile.name}",
        f"Devices can no longer be given {profile.source_ip} as their source address "
        "(no live device uses it now). Add the profile again to use the address again.",
        cancel=url_for("inventory.egress"))
    if asking is not None:
        return asking
    if attempt(lambda: svc.devices.delete_egress_profile(db(), who, profile_id) or True,
               "Not deleted"):
        flash(f"Egress profile {profile.name} deleted.")
    return redirect(url_for("inventory.egress"))


@bp.route("/alert-sources", methods=["GET", "POST"])
@roles_required("admin")
def alert_sources() -> ResponseReturnValue:
    form = SourceForm()
    form.client_id.choices = [(0, "(map each alert by its labels)")] + _clients()
    error = None
    created: dict[str, Any] | None = None
    if form.validate_on_submit():
        try:
            source, token = services().alerts.sources.create_source(
                db(), principal(), (form.name.data or "").strip(), form.kind.data or "",
                form.client_id.data or None)
        except CustodyError as exc:
            error = place_error(form, exc)
        else:
            created = {"name": source.name, "token": token,
                       "url": f"/ingest/{source.kind}/{source.name}"}
            form = SourceForm(formdata=None)
            form.client_id.choices = [(0, "(map each alert by its labels)")] + _clients()
    elif request.method == "POST":
        error = problems(form)
    sources = services().alerts.sources.list_sources(db(), principal())
    return render_template("admin_alert_sources.html", form=form, sources=sources,
                           error=error, created=created, clients=dict(_clients())), (
        400 if error or form.errors else 200)


class AssignForm(FlaskForm):
    client_id = SelectField("Send its alerts to", coerce=int, validators=[Optional()])


@bp.route("/alerts/held", methods=["GET", "POST"])
@roles_required("admin")
def held_alerts() -> ResponseReturnValue:
    """Alerts no client could be told of; an admin binds their source to a client."""
    form = AssignForm()
    form.client_id.choices = [(0, "(map each alert by its labels)")] + _clients()
    error = None
    if request.method == "POST":
        source_id = request.args.get("source", type=int)
        if source_id is None or not form.validate_on_submit():
            error = problems(form) or "choose a source and a client"
        else:
            try:
                services().alerts.sources.assign_source(db(), principal(), source_id,
                                                form.client_id.data or None)
            except CustodyError as exc:
                error = str(exc)
            else:
                flash("Saved: the source's next alerts go to the chosen client.")
                return redirect(url_for("inventory.held_alerts"))
    rows = services().alerts.history.held(db(), principal())
    sources = {s.id: s for s in services().alerts.sources.list_sources(db(), principal())}
    return render_template("admin_held_alerts.html", rows=rows, sources=sources, form=form,
                           error=error, clients=dict(_clients()),
                           days=services().settings.alerts.held_retention_days), (
        400 if error else 200)


@bp.get("/certificates")
@roles_required("admin")
def certificates() -> ResponseReturnValue:
    """The authorities, and the ledger 100 a page, filtered by client, state, expiry and
    a search."""
    svc, who = services(), principal()
    try:
        wanted = certificate_filter()
        page = svc.certs.find_certificates(db(), who, wanted,
                                           cursor=request.args.get("cursor") or None)
    except CustodyError as exc:
        flash(f"Not shown: {exc}")
        return redirect(url_for("inventory.certificates"))
    return render_template("admin_certificates.html", authorities=svc.certs.authorities(db(), who),
                           ledger=page.rows, wanted=wanted, states=CERTIFICATE_STATES,
                           clients=dict(_clients()), revoke=RevokeForm(),
                           now=services().clock(),
                           **page_links("inventory.certificates", page.next_cursor))


@bp.post("/devices/<int:device_id>/edit")
@roles_required("admin")
def edit_device(device_id: int) -> ResponseReturnValue:
    """Change a device's name, address, port, family or egress, checked as at enrolment."""
    if ActionForm().validate_on_submit():
        given = {name: (request.form.get(name) or "").strip()
                 for name in ("name", "host", "port", "device_type", "egress_ip")}
        if attempt(lambda: services().devices.update_device(
                db(), principal(), device_id, DeviceChanges(
                    name=given["name"], host=given["host"],
                    port=whole_number(given["port"], "port"),
                    device_type=given["device_type"], egress_ip=given["egress_ip"] or None,
                    fields=frozenset(given))), "Not saved"):
            flash("Saved. A new address or port needs its host key pinned again.")
    return redirect(url_for("tech.device", device_id=device_id) + "#edit")


@bp.post("/devices/<int:device_id>/delete")
@roles_required("admin")
def delete_device(device_id: int) -> ResponseReturnValue:
    """Delete a device after a confirmation: its access data goes as a purge's would."""
    svc, who = services(), principal()
    device = svc.devices.get_device(db(), who, device_id)
    if not ActionForm().validate_on_submit():
        return redirect(url_for("tech.device", device_id=device_id))
    asking = unconfirmed(
        f"Delete {device.name}",
        f"{device.name}'s credentials (every version), address and host key are destroyed "
        "now, with a receipt, as a purge would; its sessions' records stay. Nobody can log "
        "in to it through custody afterwards. This cannot be undone.",
        cancel=url_for("tech.device", device_id=device_id))
    if asking is not None:
        return asking
    receipt = attempt(lambda: svc.purge.delete_device(db(), who, device_id), "Not deleted")
    if receipt is not None:
        flash(f"{device.name} is deleted (receipt {receipt['id']}).")
    return redirect(url_for("tech.device", device_id=device_id))


@bp.post("/devices/<int:device_id>/host-key/scan")
@roles_required("admin")
def scan_host_key(device_id: int) -> ResponseReturnValue:
    """Fetch the key the device presents from its egress address; it waits to be compared
    with the device's own fingerprint and pinned."""
    if ActionForm().validate_on_submit():
        svc = services()
        if attempt(lambda: svc.devices.scan_host_key(db(), principal(), device_id,
                                                     svc.settings.broker.connect_timeout),
                   "Not scanned"):
            flash("Scanned. Compare the fingerprint with the device's own before you pin it.")
    return redirect(url_for("tech.device", device_id=device_id) + "#host-key")


@bp.post("/devices/<int:device_id>/host-key")
@roles_required("admin")
def pin_host_key(device_id: int) -> ResponseReturnValue:
    """Pin the scanned key (its fingerprint confirmed) or a public key pasted here."""
    if ActionForm().validate_on_submit():
        fingerprint_seen = (request.form.get("fingerprint") or "").strip() or None
        public_key = (request.form.get("public_key") or "").strip() or None
        if attempt(lambda: services().devices.pin_host_key(
                db(), principal(), device_id, fingerprint_seen, public_key), "Not pinned"):
            flash("Host key pinned: sessions to this device check it from now on.")
    return redirect(url_for("tech.device", device_id=device_id) + "#host-key")


@bp.post("/certificates/<int:cert_id>/revoke")
@roles_required("admin")
def revoke(cert_id: int) -> ResponseReturnValue:
    form = RevokeForm()
    if not form.validate_on_submit():
        flash(f"Not revoked: {problems(form)}")
        return redirect(url_for("inventory.certificates"))
    cert = services().certs.get(db(), principal(), cert_id)
    asking = unconfirmed(
        f"Revoke certificate {cert_id}",
        f"Certificate {cert_id} ({cert.subject}, serial {cert.serial}) is revoked with the "
        f"reason “{form.reason.data}” and the CRL is published again: whatever checks it "
        "stops trusting the certificate. This cannot be undone.",
        cancel=url_for("inventory.certificates"))
    if asking is not None:
        return asking
    # Nothing of a half-done revocation stays.
    if attempt(lambda: services().certs.revoke(db(), principal(), cert_id,
                                               form.reason.data or ""), "Not revoked"):
        flash(f"Certificate {cert_id} revoked; the CRL is published again.")
    return redirect(url_for("inventory.certificates"))
