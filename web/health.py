"""Liveness/readiness at /healthz and Prometheus metrics at /metrics."""

from __future__ import annotations

import hmac
import ipaddress
import os
import time
from datetime import timedelta

from flask import Blueprint, Flask, Response, g, jsonify, request
from flask.typing import ResponseReturnValue
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from sqlalchemy import text

from custody.errors import BackendUnavailable, Forbidden
from custody.scheduling import status as scheduler_status
from custody.web.auth import bearer_token
from custody.web.context import db, services
from custody.web.limits import client_address

bp = Blueprint("health", __name__)
SCHEDULER_STALE = timedelta(seconds=30)  # the active scheduler renews its lead every 2 s

REQUESTS = Counter("custody_http_requests_total", "HTTP requests handled",
                   ["method", "endpoint", "status"])
LATENCY = Histogram("custody_http_request_seconds", "HTTP request latency", ["endpoint"])


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    checks = {"database": "ok", "secrets": "ok", "broker": "ok"}
    try:
        db().execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 - any failure means "not ready"
        checks["database"] = "unavailable"
    try:
        services().secrets.check()
    except Exception:  # noqa: BLE001 - any failure (a full disk, say) means "not ready"
        checks["secrets"] = "unavailable"
    try:
        services().broker.check()
    except BackendUnavailable:
        checks["broker"] = "unavailable"  # no sessions can open or run through this node
    ok = all(v == "ok" for v in checks.values())
    body: dict[str, object] = {"status": "ok" if ok else "degraded", "checks": checks}
    if checks["database"] == "ok":
        # Told, never failing the check: a scheduler between leaders must not drain the nodes.
        sched = scheduler_status(db(), services().clock(), SCHEDULER_STALE)
        body["scheduler"] = {"state": "active" if sched.active else "down",
                             "last_ok": {name: at.isoformat() for name, at in
                                         sorted(sched.last_ok.items())}}
    return jsonify(body), (200 if ok else 503)


@bp.get("/metrics")
def metrics() -> ResponseReturnValue:
    """For a scraper on this machine, or one that sends ``security.metrics_token``."""
    if not _may_scrape():
        raise Forbidden("metrics are served to loopback callers, or with the bearer token "
                        "set as security.metrics_token")
    # Under gunicorn, `custody serve` sets prometheus_client's multiprocess directory so that
    # every worker's counts add up, whichever worker answers the scrape.
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
    return Response(generate_latest(), mimetype=CONTENT_TYPE_LATEST)


def _may_scrape() -> bool:
    token = services().settings.security.metrics_token
    sent = bearer_token()
    if token is not None and sent is not None:
        return hmac.compare_digest(sent.encode(), token.get_secret_value().encode())
    proxied = any(h in request.headers for h in ("X-Forwarded-For", "Forwarded", "X-Real-IP"))
    try:
        return ipaddress.ip_address(client_address()).is_loopback and not proxied
    except ValueError:
        return False


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)

    @app.before_request
    def _start_timer() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def _count(response: Response) -> Response:
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        REQUESTS.labels(request.method, endpoint, str(response.status_code)).inc()
        if "started" in g:
            LATENCY.labels(endpoint).observe(time.perf_counter() - g.started)
        return response
