"""Server-rendered pages of the foundation: home, contact verification, admin clients."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from custody.accounts.roles import STAFF
from custody.errors import CustodyError
from custody.web.auth import home_for, roles_required
from custody.web.context import db, principal, services
from custody.web.forms import confirm_by_post

bp = Blueprint("pages", __name__)


class ClientForm(FlaskForm):
    name = StringField("Client name", validators=[DataRequired(), Length(max=200)])


@bp.get("/")
def index() -> ResponseReturnValue:
    who = g.get("principal")
    return redirect(home_for(who.role) if who else url_for("auth.login"))


@bp.route("/contacts/verify/<token>", methods=["GET", "POST"])
def verify_contact(token: str) -> ResponseReturnValue:
    return confirm_by_post(lambda: services().clients.verify_contact(db(), token),
                           "Thank you: your address is confirmed.")


@bp.route("/admin/clients", methods=["GET", "POST"])
@roles_required(*STAFF)
def admin_clients() -> ResponseReturnValue:
    form = ClientForm()
    error = None
    if form.validate_on_submit():
        if principal().role != "admin":
            error = "only admins can add clients"
        else:
            try:
                services().clients.create_client(db(), principal().actor, form.name.data or "")
            except CustodyError as exc:
                error = str(exc)
            else:
                flash("Client added.")
                return redirect(url_for("pages.admin_clients"))
    clients = services().clients.list_clients(db(), principal())
    return render_template("admin_clients.html", clients=clients, form=form, error=error), (
        400 if error else 200)
