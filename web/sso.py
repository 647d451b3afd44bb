"""Staff single sign-on over OpenID Connect, the protocol handled by Authlib.

Authorization code flow with PKCE (S256); the provider found by discovery; state, nonce
and code verifier kept in the signed-in-to-be browser's session; the ID token's
signature (the provider's published keys), issuer, audience, nonce and expiry checked by
Authlib. custody.accounts.sso decides who the verified claims are.
"""

from __future__ import annotations

import logging
from typing import Any

from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.flask_client import OAuth
from flask import Blueprint, Flask, current_app, render_template, url_for
from flask.typing import ResponseReturnValue
from joserfc.errors import JoseError
from requests import RequestException

from custody.errors import CustodyError, NotFound
from custody.web.auth import LoginForm, signed_in
from custody.web.context import db, services
from custody.web.limits import address_key, limiter, login_limit

bp = Blueprint("sso", __name__)
log = logging.getLogger("custody.web.sso")


def _client() -> Any:
    if not services().sso.enabled:
        raise NotFound("single sign-on is not set up here (sso.enabled)")
    return current_app.extensions["authlib.integrations.flask_client"].custody


def _redirect_uri() -> str:
    base = services().settings.server.base_url
    return (base.rstrip("/") + "/login/sso/callback") if base else \
        url_for("sso.callback", _external=True)


@bp.get("/login/sso")
@limiter.limit(login_limit, key_func=address_key)
def start() -> ResponseReturnValue:
    try:
        return _client().authorize_redirect(_redirect_uri())
    except (OAuthError, RequestException) as exc:
        log.error("the identity provider could not be reached: %s", type(exc).__name__)
        return _refused("the identity provider cannot be reached; try again, or sign in "
                        "with a password if you are the break-glass admin", 503)


@bp.get("/login/sso/callback")
@limiter.limit(login_limit, key_func=address_key)
def callback() -> ResponseReturnValue:
    try:
        token = _client().authorize_access_token()
    except (OAuthError, JoseError, RequestException, ValueError) as exc:
        # A replayed or forged state, a tampered or foreign ID token, an expired one.
        log.warning("single sign-on refused: %s: %s", type(exc).__name__, exc)
        return _refused("single sign-on failed; start again from the sign-in page", 401)
    claims = token.get("userinfo")
    if not claims:
        return _refused("the identity provider sent no ID token", 401)
    try:
        claims = _with_userinfo(dict(claims), token)
    except (OAuthError, RequestException, ValueError) as exc:
        log.warning("the identity provider's userinfo failed: %s", type(exc).__name__)
        return _refused("the identity provider did not say who you are; try again", 502)
    try:
        user = services().sso.sign_in(db(), claims)
    except CustodyError as exc:
        return _refused(str(exc), 401)
    return signed_in(user)


# What only the verified ID token may say: the userinfo endpoint adds profile claims
# (many providers send groups only there), never these.
PROTOCOL_CLAIMS = {"iss", "sub", "aud", "exp", "iat", "nonce", "amr", "acr", "auth_time", "azp"}


def _with_userinfo(claims: dict[str, Any], token: dict[str, Any]) -> dict[str, Any]:
    """The ID token's claims, completed from the userinfo endpoint when the provider has
    one; its answer must be about the same subject (OpenID Connect Core 5.3.2)."""
    client = _client()
    if "userinfo_endpoint" not in client.load_server_metadata():
        return claims
    extra = client.userinfo(token=token)
    if extra.get("sub") != claims["sub"]:
        raise ValueError("userinfo is about another subject")
    return {k: v for k, v in extra.items() if k not in PROTOCOL_CLAIMS} | claims


def _refused(message: str, status: int) -> ResponseReturnValue:
    return render_template("login.html", form=LoginForm(), error=message), status


def init_app(app: Flask) -> None:
    """Register the provider (when ``sso.enabled``) and the sign-in routes."""
    settings = app.extensions["custody"].settings.sso
    app.register_blueprint(bp)
    app.context_processor(lambda: {"sso": services().sso,
                                   "sso_local": settings.local_passwords})
    if not settings.enabled:
        return
    oauth = OAuth(app)
    oauth.register(
        "custody",
        client_id=settings.client_id,
        client_secret=settings.client_secret.get_secret_value() if settings.client_secret
        else None,
        server_metadata_url=settings.issuer.rstrip("/") + "/.well-known/openid-configuration"
        if settings.issuer else None,
        client_kwargs={"scope": settings.scopes, "code_challenge_method": "S256",
                       "timeout": 10},
    )
