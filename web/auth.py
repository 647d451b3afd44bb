"""Who is calling: bearer tokens for the API, the session cookie for pages; login and logout."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

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
from wtforms import IntegerField, PasswordField, StringField
from wtforms.validators import DataRequired, Length, NumberRange

from custody.accounts.models import User
from custody.accounts.roles import ROLES
from custody.accounts.service import principal_of
from custody.accounts.tokens import is_api_token
from custody.errors import CustodyError, Forbidden, TooManyAttempts
from custody.web.confirm import unconfirmed
from custody.web.context import db, principal, services
from custody.web.forms import ActionForm, confirm_by_post, place_error, problems
from custody.web.limits import address_key, client_address, limiter, login_limit, user_key
from custody.web.sessions import server_session

bp = Blueprint("auth", __name__)
F = TypeVar("F", bound=Callable[..., Any])


class LoginForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired(), Length(max=150)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])
    code = StringField("Authenticator code (if enabled)", validators=[Length(max=10)])


class TokenForm(FlaskForm):
    name = StringField("Name (what uses it)", validators=[Length(max=100)])
    days = IntegerField("Valid for (days)", default=90,
                        validators=[DataRequired(), NumberRange(min=1, max=3650)])


# Each change mails a confirmation: not a tool to flood someone's inbox.
EMAIL_LIMIT = "5 per hour"


class EmailForm(FlaskForm):
    email = StringField("E-mail for security notices and approval requests",
                        validators=[Length(max=254)])


class TotpForm(FlaskForm):
    code = StringField("Code from your authenticator", validators=[DataRequired(), Length(max=10)])
    password = PasswordField("Your password", validators=[DataRequired(), Length(max=1024)])


class PasswordForm(FlaskForm):
    current = PasswordField("Current password", validators=[DataRequired()])
    new = PasswordField("New password (12 characters or more)", validators=[DataRequired()])


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def load_principal() -> None:
    """Set ``g.principal`` from a bearer token or the session cookie (or leave it None).

    Once per request (the rate limiter may ask first). A disabled user's token or
    session counts as none at all, from the next request on."""
    if "principal" in g:
        return
    g.principal = None
    token = bearer_token()
    if token is not None:
        if not is_api_token(token):
            return  # an alert source's or a node's: nobody signs in with it, no unit opens
        found = services().tokens.authenticate(db(), token)
        if found is not None:
            user, row = found
            g.principal, g.token_id = principal_of(user), row.id
        return
    uid = session.get("uid")
    if uid is None:
        return
    user = services().accounts.active_user(db(), uid)
    if user is None:
        session.clear()  # disabled or deleted: this cookie is worth nothing now
        return
    g.principal = principal_of(user)
    if user.must_change_password:
        g.unfinished = "password"
    elif services().accounts.second_factor.required(user):
        g.unfinished = "totp"


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
@limiter.limit(login_limit, methods=["POST"], key_func=address_key)
def login() -> Any:
    form = LoginForm()
    error, status = None, 200
    if form.validate_on_submit():
        try:
            user = services().accounts.authenticate(
                db(), form.username.data or "", form.password.data or "",
                form.code.data or None, address=client_address())
        except TooManyAttempts as exc:
            error, status = str(exc), 429
        except CustodyError as exc:
            error, status = str(exc), 401
        else:
            return signed_in(user, _safe_next(request.args.get("next")))
    return render_template("login.html", form=form, error=error), status


def signed_in(user: User, then: str | None = None) -> Response:
    """Start the user's web session under a fresh id (a planted one is worthless) and
    send them on: first to what their account still lacks, else to ``then`` or home."""
    ours = server_session(session)
    ours.clear()
    ours.regenerate()
    ours["uid"] = user.id
    g.principal = principal_of(user)
    if user.must_change_password:
        return redirect(url_for("auth.change_password"))
    if services().accounts.second_factor.required(user):
        return redirect(url_for("auth.totp"))
    return redirect(then or home_for(user.role))


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
            ended = services().accounts.change_password(
                db(), user, form.current.data or "", form.new.data or "",
                keep_session=server_session(session).id_hash)
        except CustodyError as exc:
            error = place_error(form, exc)
        else:
            flash("Password changed." + (f" {ended} other session(s) signed out."
                                         if ended else ""))
            return redirect(home_for(user.role))
    return render_template("password.html", form=form, error=error), (
        400 if error or form.errors else 200)


@bp.route("/account", methods=["GET"])
@roles_required(*ANYONE)
def account() -> Any:
    return _account_page(TokenForm())


def _account_page(token_form: TokenForm, error: str | None = None,
                  new_token: dict[str, str] | None = None,
                  email_form: EmailForm | None = None, email_error: str | None = None) -> Any:
    user = services().accounts.me(db(), principal())
    email_form = email_form or EmailForm(formdata=None, email=user.email or "")
    return render_template("account.html", user=user, form=ActionForm(), token_form=token_form,
                           token_error=error, new_token=new_token, now=services().clock(),
                           email_form=email_form, email_error=email_error,
                           tokens=services().tokens.list(db(), principal())
                           ), 400 if error or token_form.errors or email_error or \
        email_form.errors else 200


@bp.route("/account/email", methods=["POST"])
@limiter.limit(EMAIL_LIMIT, key_func=user_key)
@roles_required(*ANYONE)
def set_email() -> Any:
    form = EmailForm()
    if not form.validate_on_submit():
        return _account_page(TokenForm(formdata=None), email_form=form,
                             email_error=problems(form))
    try:
        sent = services().accounts.set_email(db(), principal(), form.email.data)
    except CustodyError as exc:
        return _account_page(TokenForm(formdata=None), email_form=form,
                             email_error=place_error(form, exc))
    flash("Check your inbox: a confirmation link is on its way." if sent else
          "E-mail address removed." if not form.email.data else
          "The confirmation mail could not be sent; try again later.")
    return redirect(url_for("auth.account"))


@bp.route("/account/email/verify/<token>", methods=["GET", "POST"])
def verify_email(token: str) -> Any:
    return confirm_by_post(lambda: services().accounts.verify_email(db(), token),
                           "Thank you: security notices and approval requests for you will go "
                           "to this address.")


@bp.route("/account/tokens", methods=["POST"])
@roles_required(*ANYONE)
def create_token() -> Any:
    form = TokenForm()
    if not form.validate_on_submit():
        return _account_page(form, problems(form))
    try:
        row, secret = services().tokens.create_own(db(), principal(), form.name.data or "",
                                                   form.days.data)
    except CustodyError as exc:
        return _account_page(form, place_error(form, exc))
    return _account_page(TokenForm(formdata=None), new_token={"name": row.name, "secret": secret})


@bp.route("/account/tokens/<int:token_id>/revoke", methods=["POST"])
@roles_required(*ANYONE)
def revoke_token(token_id: int) -> Any:
    """Revoke a token after a confirmation: programs using it stop working for good."""
    back = _safe_next(request.form.get("next")) or url_for("auth.account")
    token = services().tokens.get(db(), principal(), token_id)
    name = token.name or f"{token.id}"
    asking = unconfirmed(
        f"Revoke token {name}",
        f"Every program that uses token {name} is refused from now on (401). This cannot be "
        "undone: give those programs a new token.", cancel=back)
    if asking is not None:
        return asking
    row = services().tokens.revoke(db(), principal(), token_id)
    flash(f"Token {row.name or row.id} revoked.")
    return redirect(_safe_next(request.form.get("next")) or url_for("auth.account"))


@bp.route("/account/logout-everywhere", methods=["POST"])
@roles_required(*ANYONE)
def logout_everywhere() -> Any:
    ended = services().accounts.log_out_everywhere(
        db(), principal(), keep=server_session(session).id_hash)
    flash(f"Signed out of {ended} other session(s).")
    return redirect(url_for("auth.account"))


@bp.route("/account/totp", methods=["GET", "POST"])
@roles_required(*ANYONE)
def totp() -> Any:
    """Enrol an authenticator: scan (or type) the secret, confirm a code, keep the
    recovery codes (shown once)."""
    accounts = services().accounts
    user = accounts.me(db(), principal())
    form = TotpForm()
    error, codes = None, None
    if form.validate_on_submit():
        try:
            codes = accounts.second_factor.confirm(db(), user, (form.code.data or "").strip(),
                                          form.password.data or "")
        except CustodyError as exc:
            error = place_error(form, exc)
    uri = None
    if codes is None:  # a fresh secret when the page is opened; the same after a typo
        uri = accounts.second_factor.start(user, fresh=request.method == "GET")
    return render_template("totp.html", form=form, error=error, uri=uri,
                           secret=parse_qs(urlsplit(uri).query)["secret"][0] if uri else None,
                           codes=codes, enrolled=user.totp_secret_path is not None
                           ), 400 if error or form.errors else 200


# Where a signed-in user who must finish setting up their account is sent first.
FINISH = {"password": "auth.change_password", "totp": "auth.totp"}
FINISH_ALLOWED = {"auth.change_password", "auth.totp", "auth.logout", "static"}


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.before_request(load_principal)

    @app.before_request
    def _finish_account_first() -> Any:
        """A web session on a one-time password, or without the second factor its role
        requires, may only finish that (tokens made at the machine are not held back)."""
        unfinished = g.get("unfinished")
        if unfinished is None or request.endpoint in FINISH_ALLOWED:
            return None
        if request.path.startswith("/api/"):
            raise Forbidden("choose your own password first" if unfinished == "password"
                            else "enrol a second factor (TOTP) first: your role requires it")
        return redirect(url_for(FINISH[unfinished]))
