"""Liveness/readiness at /healthz and Prometheus metrics at /metrics."""

from __future__ import annotations

import os
import time

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

from custody.errors import BackendUnavailable
from custody.web.context import db, services

bp = Blueprint("health", __name__)

REQUESTS = Counter("custody_http_requests_total", "HTTP requests handled",
                   ["method", "endpoint", "status"])
LATENCY = Histogram("custody_http_request_seconds", "HTTP request latency", ["endpoint"])


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    checks = {"database": "ok", "secrets": "ok"}
    try:
        db().execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 - any failure means "not ready"
        checks["database"] = "unavailable"
    try:
        services().secrets.check()
    except BackendUnavailable:
        checks["secrets"] = "unavailable"
    ok = all(v == "ok" for v in checks.values())
    return jsonify({"status": "ok" if ok else "degraded", "checks": checks}), (200 if ok else 503)


@bp.get("/metrics")
def metrics() -> ResponseReturnValue:
    # Under gunicorn, `custody serve` sets prometheus_client's multiprocess directory so that
    # every worker's counts add up, whichever worker answers the scrape.
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
    return Response(generate_latest(), mimetype=CONTENT_TYPE_LATEST)


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
