"""Admin pages for people: add users, and on a user's page change their role and
transcript permission, reset their password or second factor, revoke their tokens,
disable, enable or delete them."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional

from custody.accounts.roles import ROLES, STAFF
from custody.errors import CustodyError, InvalidInput
from custody.web.auth import roles_required
from custody.web.confirm import unconfirmed
from custody.web.context import db, principal, services
from custody.web.forms import ActionForm, place_error, problems

bp = Blueprint("users", __name__, url_prefix="/admin")


class UserForm(FlaskForm):
    username = StringField("User name", validators=[DataRequired(), Length(2, 150)])
    role = SelectField("Role", choices=list(ROLES), default="technician")
    client_id = SelectField("Client (client users only)", coerce=int, validators=[Optional()])


class RoleForm(FlaskForm):
    role = SelectField("Role", choices=list(STAFF))


class TranscriptsForm(FlaskForm):
    allowed = BooleanField("May read session transcripts")


class DeleteForm(FlaskForm):
    confirm = StringField("Type the user name to confirm", validators=[DataRequired()])


def _clients() -> list[tuple[int, str]]:
    return [(c.id, c.name) for c in services().clients.list_clients(db(), principal())]


@bp.route("/users", methods=["GET", "POST"])
@roles_required("admin")
def users() -> ResponseReturnValue:
    form = UserForm()
    form.client_id.choices = [(0, "(staff)")] + _clients()
    error = None
    created: dict[str, str] | None = None
    if form.validate_on_submit():
        client_id = form.client_id.data or None
        if (form.role.data == "client") != (client_id is not None):
            error = place_error(form, InvalidInput(
                "a client user needs a client; staff need none", field="client_id"))
        else:
            try:
                user, password = services().accounts.create_user(
                    db(), principal().actor, form.username.data or "", form.role.data or "",
                    client_id)
            except CustodyError as exc:
                error = place_error(form, exc)
            else:
                created = {"username": user.username, "password": password or "", "id": str(user.id)}
                form = UserForm(formdata=None)
                form.client_id.choices = [(0, "(staff)")] + _clients()
    elif request.method == "POST":
        error = problems(form)
    people = services().accounts.list_users(db(), principal())
    return render_template("admin_users.html", form=form, users=people, error=error,
                           created=created, clients=dict(_clients())), (
        400 if error or form.errors else 200)


def _user_page(user_id: int, error: str | None = None, password: str | None = None,
               delete: DeleteForm | None = None) -> ResponseReturnValue:
    user = services().accounts.get_user(db(), principal(), user_id)
    tokens = [t for t in services().tokens.list(db(), principal(), everyone=True)
              if t.user_id == user.id]
    role = RoleForm(formdata=None, role=user.role)
    transcripts = TranscriptsForm(formdata=None, allowed=user.can_read_transcripts)
    return render_template("admin_user.html", user=user, tokens=tokens, form=ActionForm(),
                           role_form=role, transcripts_form=transcripts,
                           delete_form=delete or DeleteForm(formdata=None), error=error,
                           password=password, now=services().clock(),
                           clients=dict(_clients())), 400 if error else 200


@bp.get("/users/<int:user_id>")
@roles_required("admin")
def user(user_id: int) -> ResponseReturnValue:
    return _user_page(user_id)


@bp.post("/users/<int:user_id>/disable")
@roles_required("admin")
def disable(user_id: int) -> ResponseReturnValue:
    """Lock a person out after a confirmation that says what cannot be undone."""
    target = services().accounts.get_user(db(), principal(), user_id)
    asking = unconfirmed(
        f"Disable {target.username}",
        f"{target.username} cannot sign in any more; their API tokens are revoked for good, "
        "their web sessions end and their live device sessions close now. Enabling them "
        "later lets them sign in again, with new tokens.",
        cancel=url_for("users.user", user_id=user_id))
    if asking is not None:
        return asking
    try:
        ended = services().accounts.disable_user(db(), principal(), user_id)
    except CustodyError as exc:
        return _user_page(user_id, str(exc))
    flash("User disabled: " + ", ".join(f"{n} {what.replace('_', ' ')}"
                                        for what, n in ended.items()) + ".")
    return redirect(url_for("users.user", user_id=user_id))


@bp.post("/users/<int:user_id>/enable")
@roles_required("admin")
def enable(user_id: int) -> ResponseReturnValue:
    try:
        services().accounts.enable_user(db(), principal(), user_id)
    except CustodyError as exc:
        return _user_page(user_id, str(exc))
    flash("User enabled. Their old tokens stay revoked.")
    return redirect(url_for("users.user", user_id=user_id))


@bp.post("/users/<int:user_id>/delete")
@roles_required("admin")
def delete(user_id: int) -> ResponseReturnValue:
    form = DeleteForm()
    target = services().accounts.get_user(db(), principal(), user_id)
    if not form.validate_on_submit() or form.confirm.data != target.username:
        form.confirm.errors = [*form.confirm.errors, f"type {target.username} to confirm"]
        return _user_page(user_id, "not deleted: the confirmation does not match", delete=form)
    try:
        services().accounts.delete_user(db(), principal(), user_id)
    except CustodyError as exc:
        return _user_page(user_id, str(exc))
    flash(f"User {target.username} deleted; the audit log keeps user {user_id}.")
    return redirect(url_for("users.users"))


@bp.post("/users/<int:user_id>/role")
@roles_required("admin")
def set_role(user_id: int) -> ResponseReturnValue:
    form = RoleForm()
    if not form.validate_on_submit():
        return _user_page(user_id, problems(form))
    try:
        services().accounts.set_role(db(), principal(), user_id, form.role.data or "")
    except CustodyError as exc:
        return _user_page(user_id, str(exc))
    flash(f"Role set to {form.role.data}.")
    return redirect(url_for("users.user", user_id=user_id))


@bp.post("/users/<int:user_id>/transcripts")
@roles_required("admin")
def set_transcripts(user_id: int) -> ResponseReturnValue:
    form = TranscriptsForm()
    form.validate_on_submit()
    try:
        services().accounts.set_transcript_permission(db(), principal(), user_id,
                                                      bool(form.allowed.data))
    except CustodyError as exc:
        return _user_page(user_id, str(exc))
    flash("Transcript permission " + ("granted." if form.allowed.data else "withdrawn."))
    return redirect(url_for("users.user", user_id=user_id))


@bp.post("/users/<int:user_id>/password-reset")
@roles_required("admin")
def reset_password(user_id: int) -> ResponseReturnValue:
    """A new one-time password, after a confirmation (the old one stops working)."""
    target = services().accounts.get_user(db(), principal(), user_id)
    asking = unconfirmed(
        f"Reset {target.username}'s password",
        f"{target.username}'s current password stops working now; a one-time password is "
        "shown once on the next page, and they choose their own at their next login.",
        cancel=url_for("users.user", user_id=user_id))
    if asking is not None:
        return asking
    try:
        password = services().accounts.reset_password(db(), principal(), user_id)
    except CustodyError as exc:
        return _user_page(user_id, str(exc))
    return _user_page(user_id, password=password)


@bp.post("/users/<int:user_id>/totp-reset")
@roles_required("admin")
def reset_totp(user_id: int) -> ResponseReturnValue:
    """Remove a user's authenticator and recovery codes, after a confirmation."""
    target = services().accounts.get_user(db(), principal(), user_id)
    asking = unconfirmed(
        f"Remove {target.username}'s second factor",
        f"{target.username}'s authenticator and recovery codes stop working now; they set up "
        "a new authenticator at their next login if their role requires one.",
        cancel=url_for("users.user", user_id=user_id))
    if asking is not None:
        return asking
    services().accounts.second_factor.reset(db(), principal(), user_id)
    flash("Second factor removed; they set up a new one at their next login if their "
          "role requires it.")
    return redirect(url_for("users.user", user_id=user_id))
