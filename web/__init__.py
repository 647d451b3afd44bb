"""The Flask adapter: parses requests, checks roles and tenants, calls custody services."""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from flask import Flask, Response, g, request, session
from flask_wtf.csrf import CSRFProtect
from werkzeug.exceptions import NotFound
from werkzeug.routing import IntegerConverter

from custody.config import Settings
from custody.db import ID_MAX, STORAGE_FULL_MESSAGE, storage_full
from custody.errors import StorageFull
from custody.services import Services, build_services
from custody.web import (
    admin,
    admin_certs,
    admin_inventory,
    admin_users,
    alerts,
    api,
    audit,
    auth,
    broker,
    certs,
    demo,
    health,
    openapi,
    pages,
    people,
    portal,
    purge,
    search,
    sso,
    tech,
    terminal,
    transcripts,
)
from custody.web.context import end_unit_of_work
from custody.web.errors import error_response, register_error_handlers
from custody.web.limits import api_limit, client_address, limiter
from custody.web.sessions import DbSessionInterface

access_log = logging.getLogger("custody.access")
log = logging.getLogger("custody.web")


class DatabaseId(IntegerConverter):
    """``<int:...>`` in every route: a non-negative id that fits the id columns (INTEGER:
    32 bits on PostgreSQL, the narrower of the two databases)."""

    MAX = ID_MAX

    def to_python(self, value: str) -> Any:
        number = super().to_python(value)
        if number > self.MAX:
            raise NotFound()  # not a ValidationError: that would read as a 405 elsewhere
        return number
csrf = CSRFProtect()


def create_app(settings: Settings | None = None, services: Services | None = None) -> Flask:
    """Build the web app around ``services`` (or services built from ``settings``)."""
    if services is None:
        if settings is None:
            raise ValueError("create_app needs settings or services")
        services = build_services(settings)
    settings = services.settings
    app = Flask(__name__)
    # Ids beyond the id columns' range name nothing: 404, not an overflow.
    app.url_map.converters["int"] = DatabaseId
    app.extensions["custody"] = services
    app.config.update(
        SECRET_KEY=services.signing_key,
        MAX_CONTENT_LENGTH=settings.security.max_body_bytes,
        WTF_CSRF_CHECK_DEFAULT=False,  # checked below, for cookie-authenticated requests only
        WTF_CSRF_TIME_LIMIT=None,
        SESSION_COOKIE_SECURE=settings.tls_enabled,
        PREFERRED_URL_SCHEME="https" if settings.tls_enabled else "http",
    )
    app.session_interface = DbSessionInterface(services)
    csrf.init_app(app)
    app.config["RATELIMIT_STORAGE_OPTIONS"] = {"engine": services.engine,
                                               "clock": services.clock}
    limiter.init_app(app)

    @app.before_request
    def _csrf_for_cookie_sessions() -> None:
        # Bearer-token calls carry no ambient credential, so CSRF cannot reach them.
        # The unsubscribe link is its own credential (RFC 8058 one-click posts carry no token).
        # An API call with neither a token nor a signed-in session carries no credential at
        # all: it gets the 401 its missing credential earns. Pages keep the check (login CSRF).
        if request.method in ("GET", "HEAD", "OPTIONS") or auth.bearer_token() is not None \
                or request.path.startswith(("/ingest/", "/unsubscribe/")):
            return
        if request.path.startswith("/api/") and "uid" not in session:
            return  # no signed-in session behind the cookie: no credential for CSRF to ride
        csrf.protect()

    auth.init_app(app)
    sso.init_app(app)
    health.init_app(app)
    app.register_blueprint(api.bp)
    app.register_blueprint(audit.bp)
    app.register_blueprint(people.bp)
    app.register_blueprint(broker.bp)
    app.register_blueprint(purge.bp)
    app.register_blueprint(certs.bp)
    app.register_blueprint(alerts.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(tech.bp)
    app.register_blueprint(transcripts.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(admin_inventory.bp)
    app.register_blueprint(admin_users.bp)
    app.register_blueprint(admin_certs.bp)
    app.register_blueprint(portal.bp)
    app.register_blueprint(search.bp)
    terminal.init_app(app)
    demo.init_app(app)
    limiter.limit(api_limit)(api.bp)
    limiter.limit(api_limit)(people.bp)
    limiter.limit(api_limit)(broker.bp)
    limiter.limit(api_limit)(purge.bp)
    limiter.limit(api_limit)(certs.bp)
    limiter.limit(api_limit)(audit.bp)
    register_error_handlers(app)

    @app.teardown_appcontext
    def _close_db(_exc: BaseException | None) -> None:
        end_unit_of_work(ok=False)  # only reached with a session still open after a failure

    @app.after_request
    def _headers(response: Response) -> Response:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault(
            "Content-Security-Policy",
            # xterm.js writes <style> elements for its renderer, hence 'unsafe-inline' for styles only.
            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
            "frame-ancestors 'none'")
        if request.endpoint != "static":  # one-time secrets are on pages: nothing is cached
            response.headers.setdefault("Cache-Control", "no-store")
        if settings.tls_enabled:
            response.headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
        _log_access(response)
        return response

    # Registered last, so run first (Flask runs these in reverse): the headers and the
    # access log above see the answer as it finally is.
    @app.after_request
    def _end_unit_of_work(response: Response) -> Response:
        try:
            end_unit_of_work(ok=response.status_code < 400)
        except Exception as exc:
            session.clear()  # nothing this request did stands, a login it made included
            if not storage_full(exc):
                raise
            # The commit found the disk full: the answer says so, not what would have been.
            log.error("the disk is full: %s %s was rolled back", request.method, request.path)
            body, status = error_response(507, StorageFull.code, STORAGE_FULL_MESSAGE)
            response.status_code = status
            response.set_data(body.get_data() if isinstance(body, Response) else body)
            response.mimetype = "application/json" if isinstance(body, Response) else "text/html"
        return response

    return app


# Paths whose last part is a credential of its own (a verification or unsubscribe link).
LINK_TOKEN = re.compile(r"^(/contacts/verify/|/account/email/verify/|/unsubscribe/)[^/]+")


def _logged_path() -> str:
    """The path, with a link's token cut out (matched route or not): the access log
    must not hand out working links."""
    return LINK_TOKEN.sub(r"\1[token]", request.path)


def _log_access(response: Response) -> None:
    """One line per request; the caller's address only for provider staff (P3)."""
    if not access_log.isEnabledFor(logging.INFO):
        return  # logging at WARNING or above: nothing to put together
    who = g.get("principal")
    fields = {
        "method": request.method,
        "path": _logged_path(),
        "status": response.status_code,
        "ms": round((time.perf_counter() - g.started) * 1000, 1) if "started" in g else None,
        "user": who.username if who else None,
        "role": who.role if who else None,
    }
    if who is not None and who.is_staff:
        fields["ip"] = client_address()
    access_log.info("request", extra={"fields": fields})
