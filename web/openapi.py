"""The OpenAPI 3.1 document of /api/v1, generated from the routes and their pydantic models.

Each API view carries an :func:`operation` (summary, body and response models); its roles
come from ``roles_required`` and its path parameters from the URL rule. Nothing about a
route is written twice, and a route without an operation fails the document's test."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from flask import Blueprint, Flask, current_app, jsonify
from flask.typing import ResponseReturnValue
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

import custody
from custody.web.schemas import ErrorOut

bp = Blueprint("openapi", __name__)
F = TypeVar("F", bound=Callable[..., Any])
RULE_ARGUMENT = re.compile(r"<(?:(\w+):)?(\w+)>")
ERRORS = {400: "invalid input (the fields are named)", 401: "not authenticated",
          403: "role not allowed", 404: "not found (or another tenant's)",
          409: "conflicts with the current state", 429: "too many requests",
          503: "a backend custody needs (the secret store, an egress address) is unavailable",
          507: "the disk that holds custody's data is full: nothing of the request was kept"}
TOO_LARGE = {413: "the request body is larger than security.max_body_bytes"}
DEVICE_ERRORS = {502: "the device refused, failed or did not answer"}


@dataclass(frozen=True)
class Operation:
    """What the document says about one view."""

    summary: str
    body: type[BaseModel] | None = None
    out: type[BaseModel] | None = None
    status: int = 200
    also: tuple[int, ...] = ()  # other success statuses with the same body (202: pending)
    media: str | None = None  # a success body that is not JSON: its media type
    query: tuple[dict[str, Any], ...] = field(default=())
    public: bool = False


def operation(summary: str, **details: Any) -> Callable[[F], F]:
    """Describe an API view for the document; put it above the route decorator."""
    op = Operation(summary, **details)

    def mark(view: F) -> F:
        view.operation = op  # type: ignore[attr-defined]
        return view

    return mark


def query(name: str, description: str, *, required: bool = False, **schema: Any
          ) -> dict[str, Any]:
    """A query parameter; ``schema`` holds its JSON Schema (type string unless said)."""
    return {"name": name, "in": "query", "required": required, "description": description,
            "schema": {"type": "string"} | schema}


def document(app: Flask) -> dict[str, Any]:
    """Build the document from the app's registered /api/v1 routes."""
    ops = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if not rule.rule.startswith("/api/v1"):
            continue
        view = app.view_functions[rule.endpoint]
        op: Operation | None = getattr(view, "operation", None)
        if op is None:
            raise LookupError(f"the API view {rule.endpoint} has no @operation")
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            ops.append((rule.rule, rule.endpoint, method, op, getattr(view, "roles", None)))
    models = {(m, "validation") for *_, op, _ in ops if (m := op.body) is not None}
    models |= {(m, "serialization") for *_, op, _ in ops if (m := op.out) is not None}
    models.add((ErrorOut, "serialization"))
    refs, defs = models_json_schema(sorted(models, key=lambda m: (m[0].__name__, m[1])),
                                    ref_template="#/components/schemas/{model}")
    paths: dict[str, dict[str, Any]] = {}
    for rule, endpoint, method, op, roles in ops:
        path = RULE_ARGUMENT.sub(r"{\2}", rule)
        operation_id = endpoint if len(paths.get(path, {})) == 0 else f"{endpoint}.{method}"
        paths.setdefault(path, {})[method.lower()] = _operation(rule, operation_id, op, roles, refs)
    return {
        "openapi": "3.1.0",
        "info": {"title": "custody API", "version": custody.__version__},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {"schemas": defs.get("$defs", {}), "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer",
                       "description": "a token from `custody token create USERNAME`"}}},
    }


def _operation(rule: str, operation_id: str, op: Operation, roles: tuple[str, ...] | None,
               refs: dict[Any, Any]) -> dict[str, Any]:
    error = {"application/json": {"schema": refs[(ErrorOut, "serialization")]}}
    if op.out is not None:
        success: dict[str, Any] = {"description": "success", "content": {
            "application/json": {"schema": refs[(op.out, "serialization")]}}}
    elif op.media is not None:
        success = {"description": "success", "content": {op.media: {"schema": {}}}}
    else:
        success = {"description": "success"}
    responses = {str(status): success for status in (op.status, *op.also)}
    errors = ERRORS | (TOO_LARGE if op.body is not None else {}) | (
        DEVICE_ERRORS if rule.startswith(("/api/v1/devices/", "/api/v1/sessions/")) else {})
    responses |= {str(status): {"description": text, "content": error}
                  for status, text in sorted(errors.items()) if not op.public}
    parameters = [{"name": name, "in": "path", "required": True,
                   "schema": {"type": "integer" if converter == "int" else "string"}}
                  for converter, name in RULE_ARGUMENT.findall(rule)]
    out: dict[str, Any] = {
        "summary": op.summary,
        "operationId": operation_id,
        "responses": responses,
    }
    if roles:
        out["description"] = (f"Roles: {', '.join(roles)}. "
                              "Client users only ever see their own client.")
    if parameters or op.query:
        out["parameters"] = [*parameters, *op.query]
    if op.body is not None:
        out["requestBody"] = {"required": True, "content": {
            "application/json": {"schema": refs[(op.body, "validation")]}}}
    if op.public:
        out["security"] = []
    return out


@operation("This document", media="application/json", public=True)
@bp.get("/api/v1/openapi.json")
def openapi() -> ResponseReturnValue:
    doc = current_app.extensions.get("custody.openapi")
    if doc is None:
        doc = current_app.extensions["custody.openapi"] = document(current_app)
    return jsonify(doc)
