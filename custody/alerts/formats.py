"""Recognise an incoming payload's format and pseudonymize it accordingly."""

from __future__ import annotations

import json
from typing import Any

from custody.alerts.pseudonym import Pseudonymizer
from custody.errors import InvalidInput

MAX_LABELS = 200


def parse_json(raw: bytes) -> Any:
    """Decode a UTF-8 JSON body, or raise InvalidInput saying what is wrong with it."""
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise InvalidInput("the body is not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"the body is not valid JSON: {exc.msg} at line {exc.lineno}") from None


def detect(payload: Any) -> str:
    if not isinstance(payload, dict):
        raise InvalidInput("the payload must be a JSON object")
    if "alerts" in payload or "groupKey" in payload:
        if str(payload.get("version")) != "4":
            raise InvalidInput(f"version: Alertmanager webhook version 4 expected, got "
                               f"{payload.get('version')!r}")
        if not isinstance(payload.get("alerts"), list):
            raise InvalidInput("alerts: a list of alerts is required")
        for n, alert in enumerate(payload["alerts"]):
            if not isinstance(alert, dict) or not isinstance(alert.get("labels", {}), dict):
                raise InvalidInput(f"alerts[{n}]: an object with a labels object is required")
            if len(alert.get("labels", {})) > MAX_LABELS:
                raise InvalidInput(f"alerts[{n}].labels: more than {MAX_LABELS} labels")
        return "alertmanager"
    if "event_id" in payload:
        return "zabbix"
    return "generic"


def pseudonymize(engine: Pseudonymizer, payload: Any) -> tuple[str, Any]:
    """Return (format, pseudonymized payload)."""
    kind = detect(payload)
    if kind == "alertmanager":
        return kind, engine.alertmanager(payload)
    return kind, engine.generic(payload)
