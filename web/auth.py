"""Who is calling: bearer tokens for the API, the session cookie for pages; login and logout."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from custody.accounts.models import User
from custody.accounts.roles import ROLES
from custody.accounts.service import principal_of
from custody.errors import CustodyError, Forbidden
from custody.web.context import db, principal, services
from custody.web.limits import limiter, login_limit
from custody.web.sessions import server_session

bp = Blueprint("auth", __name__)
F = TypeVar("F", bound=Callable[..., Any])


class LoginForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired(), Length(max=150)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])
    code = StringField("Authenticator code (if enabled)", validators=[Length(max=10)])


class PasswordForm(FlaskForm):
    current = PasswordField("Current password", validators=[DataRequired()])
    new = PasswordField("New password (12 characters or more)", validators=[DataRequired()])


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def load_principal() -> None:
    """Set ``g.principal`` from a bearer token or the session cookie (or leave it None)."""
    g.principal = None
    token = bearer_token()
    if token is not None:
        user = services().accounts.user_for_token(db(), token)
        if user is not None:
            g.principal = principal_of(user)
        return
    uid = session.get("uid")
    if uid is not None:
        user = db().get(User, uid)
        if user is not None:
            g.principal = principal_of(user)
            g.must_change_password = user.must_change_password


# Who may call what: provider staff, or every role (clients then see only their own).
ANYONE = ROLES


def roles_required(*roles: str) -> Callable[[F], F]:
    """Let only these roles in; pages send anonymous callers to the login form."""

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if g.get("principal") is None and not request.path.startswith("/api/"):
                return redirect(url_for("auth.login", next=request.path))
            who = principal()
            if who.role not in roles:
                raise Forbidden(f"this needs the {' or '.join(roles)} role")
            return view(*args, **kwargs)

        wrapper.roles = roles  # type: ignore[attr-defined]  # for the OpenAPI document
        return wrapper  # type: ignore[return-value]

    return decorate


def _safe_next(target: str | None) -> str | None:
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


def home_for(role: str) -> str:
    return {"admin": "/admin/", "technician": "/admin/", "client": "/portal/"}.get(role, "/")


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(login_limit, methods=["POST"])
def login() -> Any:
    form = LoginForm()
    error = None
    if form.validate_on_submit():
        try:
            user = services().accounts.authenticate(
                db(), form.username.data or "", form.password.data or "", form.code.data or None)
        except CustodyError as exc:
            error = str(exc)
        else:
            ours = server_session(session)
            ours.clear()
            ours.regenerate()
            ours["uid"] = user.id
            g.principal = principal_of(user)
            if user.must_change_password:
                return redirect(url_for("auth.change_password"))
            return redirect(_safe_next(request.args.get("next")) or home_for(user.role))
    return render_template("login.html", form=form, error=error), (401 if error else 200)


@bp.route("/logout", methods=["POST"])
def logout() -> Response:
    session.clear()
    return redirect(url_for("auth.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@roles_required(*ANYONE)
def change_password() -> Any:
    form = PasswordForm()
    error = None
    if form.validate_on_submit():
        user = services().accounts.me(db(), principal())
        try:
            services().accounts.change_password(db(), user, form.current.data or "",
                                                form.new.data or "")
        except CustodyError as exc:
            error = str(exc)
        else:
            flash("Password changed.")
            return redirect(home_for(user.role))
    return render_template("password.html", form=form, error=error), 400 if error else 200


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.before_request(load_principal)

    @app.before_request
    def _force_password_change() -> Any:
        if g.get("must_change_password") and request.endpoint not in (
            "auth.change_password", "auth.logout", "static"
        ) and not request.path.startswith("/api/"):
            return redirect(url_for("auth.change_password"))
        return None
