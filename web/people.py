"""The JSON API for people under /api/v1: users (admins), the caller's tokens and sessions."""

from __future__ import annotations

from flask import Blueprint, request, session
from flask.typing import ResponseReturnValue

from custody.web.auth import ANYONE, EMAIL_LIMIT, roles_required
from custody.web.context import db, principal, services
from custody.web.limits import limiter, user_key
from custody.web.openapi import operation, query
from custody.web.schemas import (
    EmailIn,
    EmailOut,
    Items,
    LoggedOutOut,
    OffboardOut,
    PasswordResetOut,
    TokenCreatedOut,
    TokenIn,
    TokenOut,
    UserOut,
    UserPatch,
    items,
    parse_body,
)
from custody.web.serialize import token_fields, token_out, user_out
from custody.web.sessions import server_session

bp = Blueprint("people", __name__, url_prefix="/api/v1")


@operation("List users", out=Items[UserOut])
@bp.get("/users")
@roles_required("admin")
def list_users() -> ResponseReturnValue:
    return items([user_out(u) for u in services().accounts.list_users(db(), principal())]).reply()


@operation("Read a user", out=UserOut)
@bp.get("/users/<int:user_id>")
@roles_required("admin")
def get_user(user_id: int) -> ResponseReturnValue:
    return user_out(services().accounts.get_user(db(), principal(), user_id)).reply()


@operation("Change a staff user's role or transcript permission (audited)", body=UserPatch,
           out=UserOut)
@bp.patch("/users/<int:user_id>")
@roles_required("admin")
def patch_user(user_id: int) -> ResponseReturnValue:
    body = parse_body(UserPatch)
    accounts = services().accounts
    user = accounts.get_user(db(), principal(), user_id)
    if body.role is not None:
        user = accounts.set_role(db(), principal(), user_id, body.role)
    if body.can_read_transcripts is not None:
        user = accounts.set_transcript_permission(db(), principal(), user_id,
                                                  body.can_read_transcripts)
    return user_out(user).reply()


@operation("Disable a user: tokens and web sessions stop at once, device sessions close, "
           "pending approvals are cancelled", out=OffboardOut)
@bp.post("/users/<int:user_id>/disable")
@roles_required("admin")
def disable_user(user_id: int) -> ResponseReturnValue:
    ended = services().accounts.disable_user(db(), principal(), user_id)
    user = services().accounts.get_user(db(), principal(), user_id)
    return OffboardOut(user=user_out(user), ended=ended).reply()


@operation("Enable a disabled user (old tokens stay revoked)", out=UserOut)
@bp.post("/users/<int:user_id>/enable")
@roles_required("admin")
def enable_user(user_id: int) -> ResponseReturnValue:
    return user_out(services().accounts.enable_user(db(), principal(), user_id)).reply()


@operation("Delete a user: disable, then remove their personal data; the audit log keeps "
           "their id", out=OffboardOut)
@bp.delete("/users/<int:user_id>")
@roles_required("admin")
def delete_user(user_id: int) -> ResponseReturnValue:
    ended = services().accounts.delete_user(db(), principal(), user_id)
    user = services().accounts.get_user(db(), principal(), user_id)
    return OffboardOut(user=user_out(user), ended=ended).reply()


@operation("Reset a user's password to a one-time one (shown once); their sessions end",
           out=PasswordResetOut)
@bp.post("/users/<int:user_id>/password-reset")
@roles_required("admin")
def reset_password(user_id: int) -> ResponseReturnValue:
    password = services().accounts.reset_password(db(), principal(), user_id)
    user = services().accounts.get_user(db(), principal(), user_id)
    return PasswordResetOut(user=user_out(user), password=password).reply()


@operation("Remove a user's second factor (a lost authenticator)", out=UserOut)
@bp.post("/users/<int:user_id>/totp-reset")
@roles_required("admin")
def reset_totp(user_id: int) -> ResponseReturnValue:
    return user_out(services().accounts.second_factor.reset(db(), principal(), user_id)).reply()


@operation("List your API tokens (admins: everyone's with all=true)", out=Items[TokenOut],
           query=(query("all", "admins: every user's tokens", enum=["true", "false"]),))
@bp.get("/tokens")
@roles_required(*ANYONE)
def list_tokens() -> ResponseReturnValue:
    everyone = request.args.get("all") == "true"
    rows = services().tokens.list(db(), principal(), everyone=everyone)
    return items([token_out(t) for t in rows]).reply()


@operation("Create an API token for yourself; the secret is in this response only",
           body=TokenIn, out=TokenCreatedOut, status=201)
@bp.post("/tokens")
@roles_required(*ANYONE)
def create_token() -> ResponseReturnValue:
    body = parse_body(TokenIn)
    row, secret = services().tokens.create_own(db(), principal(), body.name, body.days)
    return TokenCreatedOut.model_validate(token_fields(row) | {"token": secret}).reply(201)


@operation("Revoke a token: your own, or anyone's for an admin", out=TokenOut)
@bp.delete("/tokens/<int:token_id>")
@roles_required(*ANYONE)
def revoke_token(token_id: int) -> ResponseReturnValue:
    return token_out(services().tokens.revoke(db(), principal(), token_id)).reply()


@operation("Set or clear your e-mail address (staff): used once confirmed through the "
           "mailed link", body=EmailIn, out=EmailOut, status=202)
@bp.put("/me/email")
@limiter.limit(EMAIL_LIMIT, key_func=user_key)
@roles_required(*ANYONE)
def set_email() -> ResponseReturnValue:
    body = parse_body(EmailIn)
    sent = services().accounts.set_email(db(), principal(), body.email)
    return EmailOut(email=body.email.strip().lower() if body.email else None,
                    verification_sent=sent).reply(202)


@operation("Log out everywhere: end every web session of yours (but this one)",
           out=LoggedOutOut)
@bp.post("/me/logout-everywhere")
@roles_required(*ANYONE)
def logout_everywhere() -> ResponseReturnValue:
    ended = services().accounts.log_out_everywhere(db(), principal(),
                                                   keep=server_session(session).id_hash)
    return LoggedOutOut(web_sessions_ended=ended).reply()
