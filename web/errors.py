"""Map domain errors to HTTP: JSON for the API, simple pages elsewhere; never ``str(e)`` of
an unknown exception."""

from __future__ import annotations

import logging
import uuid

from flask import Flask, Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException
from werkzeug.routing.exceptions import WebsocketMismatch

from custody.db import STORAGE_FULL_MESSAGE, storage_full
from custody.errors import (
    BackendUnavailable,
    Conflict,
    CustodyError,
    DeviceError,
    EgressUnavailable,
    FieldError,
    Forbidden,
    InvalidInput,
    NotFound,
    StorageFull,
    TooManyAttempts,
    Unauthorized,
)

log = logging.getLogger("custody.web")

STATUS = {
    StorageFull: 507,
    EgressUnavailable: 503,
    DeviceError: 502,
    InvalidInput: 400,
    TooManyAttempts: 429,
    Unauthorized: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    BackendUnavailable: 503,
}


def wants_json() -> bool:
    return request.path.startswith(("/api/", "/ingest/")) or request.is_json


def error_response(status: int, code: str, message: str, fields: tuple[FieldError, ...] = ()
                   ) -> tuple[Response, int] | tuple[str, int]:
    if wants_json():
        error: dict[str, object] = {"code": code, "message": message}
        if fields:
            error["fields"] = [{"field": f.field, "message": f.message} for f in fields]
        resp = jsonify({"error": error})
        if status == 401:
            resp.headers["WWW-Authenticate"] = 'Bearer realm="custody"'
        return resp, status
    return render_template("error.html", status=status, message=message), status


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(CustodyError)
    def _domain(exc: CustodyError):  # type: ignore[no-untyped-def]
        status = next((s for cls, s in STATUS.items() if isinstance(exc, cls)), 400)
        if status >= 500:
            log.warning("backend problem on %s %s: %s", request.method, request.path, exc)
        fields = exc.fields if isinstance(exc, InvalidInput) else ()
        return error_response(status, exc.code, str(exc), fields)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):  # type: ignore[no-untyped-def]
        status = exc.code or 500
        messages = {
            400: exc.description or "bad request",
            404: "no such resource",
            405: f"method {request.method} is not allowed here",
            413: f"request body is larger than {app.config['MAX_CONTENT_LENGTH']} bytes",
            429: "too many requests; slow down and retry later",
        }
        if isinstance(exc, WebsocketMismatch):
            return error_response(400, "websocket_only", "this URL takes websocket connections only")
        code = (exc.name or "error").lower().replace(" ", "_")
        body, status = error_response(status, code, messages.get(status, exc.description or code))
        allowed = getattr(exc, "valid_methods", None)
        if allowed:  # RFC 9110: a 405 says which methods the resource takes
            response = app.make_response((body, status))
            response.headers["Allow"] = ", ".join(sorted(allowed))
            return response
        return body, status

    @app.errorhandler(Exception)
    def _unknown(exc: Exception):  # type: ignore[no-untyped-def]
        if storage_full(exc):
            log.error("the disk is full: %s %s was refused", request.method, request.path)
            return error_response(507, StorageFull.code, STORAGE_FULL_MESSAGE)
        request_id = uuid.uuid4().hex[:12]
        log.error("unhandled %s on %s %s (request %s)", type(exc).__name__, request.method,
                  request.path, request_id)
        return error_response(500, "internal_error",
                              f"internal error; quote request id {request_id} to the operator")
