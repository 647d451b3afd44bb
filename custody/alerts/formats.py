"""The payload formats alert sources post, checked before anything is pseudonymized.

A source declares its kind; the kind decides the parser, and a payload that is not
of that kind is refused with a message that says what was expected.
"""

from __future__ import annotations

import json
import re
from typing import Any

from custody.alerts.kinds import SourceKind
from custody.alerts.pseudonym import Pseudonymizer
from custody.errors import InvalidInput

SOURCE_KINDS: tuple[SourceKind, ...] = tuple(SourceKind)
MAX_LABELS = 200
MAX_DEPTH = 32
_WEBHOOK_VERSIONS = {"alertmanager": "4", "grafana": "1"}
_NAMES = {"alertmanager": "Alertmanager webhook", "grafana": "Grafana webhook"}
RESOLVED = frozenset({"resolved", "ok", "recovery", "recovered", "normal", "up"})


def parse_json(raw: bytes) -> Any:
    """Decode a UTF-8 JSON body, or raise InvalidInput saying what is wrong with it."""
    try:
        text = raw.decode("utf-8")
        value = json.loads(text)
    except UnicodeDecodeError:
        raise InvalidInput("the body is not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"the body is not valid JSON: {exc.msg} at line {exc.lineno}") from None
    except RecursionError:
        raise InvalidInput(f"the body is nested more than {MAX_DEPTH} levels deep") from None
    check_structure(value, strings=_SUSPECT_ESCAPE.search(text) is not None)
    return value


# The only ways JSON text brings a NUL or an unpaired surrogate into a string: the escapes
# \u0000 and \ud800-\udfff (a raw control character is not valid JSON, and UTF-8 cannot
# carry a surrogate). Without one, the strings need no look.
_SUSPECT_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")


def check_structure(value: Any, limit: int = MAX_DEPTH, strings: bool = True) -> None:
    """Refuse JSON nested deeper than ``limit`` or holding text that is not Unicode (an
    unpaired surrogate escape such as "\\ud800") or holds a NUL character (which
    PostgreSQL cannot store, and no monitoring system sends): walked without recursion.
    ``strings=False`` looks at the nesting only (the text had no escape that makes such
    a string)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            raise InvalidInput(f"the body is nested more than {limit} levels deep")
        if isinstance(item, dict | list):
            values = item.values() if isinstance(item, dict) else item
            if strings:
                stack.extend((v, depth + 1) for v in values)
                if isinstance(item, dict):
                    stack.extend((k, depth) for k in item)
            elif item and depth == limit:  # what it holds is one level down: too deep
                raise InvalidInput(f"the body is nested more than {limit} levels deep")
            else:  # only containers can go deeper
                stack.extend((v, depth + 1) for v in values if isinstance(v, dict | list))
        elif isinstance(item, str) and "\0" in item:
            raise InvalidInput("the body holds text with a NUL character (\\u0000)")
        elif isinstance(item, str) and not item.isascii():
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise InvalidInput("the body holds text that is not valid Unicode "
                                   "(an unpaired surrogate escape)") from None


def detect(payload: Any) -> str:
    """Guess a payload's kind (the CLI, when no kind is given); sources declare theirs."""
    if isinstance(payload, dict) and ("alerts" in payload or "groupKey" in payload):
        return "grafana" if str(payload.get("version")) == "1" else "alertmanager"
    if isinstance(payload, dict) and "event_id" in payload:
        return "zabbix"
    return "generic"


def alerts_of(kind: str, payload: Any) -> list[dict[str, Any]]:
    """Check ``payload`` as a ``kind`` payload and return its alerts (one for Zabbix and
    generic events), or raise InvalidInput naming what is wrong."""
    if kind not in SOURCE_KINDS:
        raise InvalidInput(f"unknown alert format {kind!r}; one of {', '.join(SOURCE_KINDS)}")
    if not isinstance(payload, dict):
        raise InvalidInput(f"{kind}: the payload must be a JSON object")
    if kind in _WEBHOOK_VERSIONS:
        return _webhook(kind, payload)
    if kind == "zabbix":
        event_id = payload.get("event_id")
        if not isinstance(event_id, str | int) or isinstance(event_id, bool) or not str(event_id):
            raise InvalidInput("zabbix: event_id is required (the media type posts {EVENT.ID})")
        for field in ("subject", "message", "severity", "status", "host", "client"):
            if field in payload and not isinstance(payload[field], str):
                raise InvalidInput(f"zabbix: {field} must be a string")
    return [payload]


def _webhook(kind: str, payload: dict[str, Any]) -> list[dict[str, Any]]:
    expected = _WEBHOOK_VERSIONS[kind]
    if str(payload.get("version")) != expected:
        raise InvalidInput(f"version: {_NAMES[kind]} version {expected} expected, got "
                           f"{payload.get('version')!r}")
    alerts = payload.get("alerts")
    if not isinstance(alerts, list):
        raise InvalidInput("alerts: a list of alerts is required", field="alerts")
    for field in ("groupLabels", "commonLabels", "commonAnnotations"):
        _string_map(payload.get(field, {}), field)
    for n, alert in enumerate(alerts):
        if not isinstance(alert, dict):
            raise InvalidInput(f"alerts[{n}]: an object is expected")
        _string_map(alert.get("labels", {}), f"alerts[{n}].labels")
        _string_map(alert.get("annotations", {}), f"alerts[{n}].annotations")
        for field in ("status", "fingerprint", "startsAt", "endsAt"):
            if field in alert and not isinstance(alert[field], str):
                raise InvalidInput(f"alerts[{n}].{field}: a string is expected")
    return alerts


def _string_map(value: Any, where: str) -> None:
    if value is None:
        return
    if not isinstance(value, dict):
        raise InvalidInput(f"{where}: an object of strings is expected, got "
                           f"{type(value).__name__}", field=where)
    if len(value) > MAX_LABELS:
        raise InvalidInput(f"{where}: more than {MAX_LABELS} labels", field=where)
    for name, item in value.items():
        if not isinstance(item, str):
            raise InvalidInput(f"{where}.{name}: a string is expected, got {type(item).__name__}",
                               field=f"{where}.{name}")


def status_of(alert: dict[str, Any], payload: dict[str, Any]) -> str:
    """``firing`` or ``resolved``: Zabbix's RESOLVED/OK (in any case) is a recovery too."""
    raw = alert.get("status", payload.get("status", "firing"))
    return "resolved" if str(raw).strip().lower() in RESOLVED else "firing"


def pseudonymize(engine: Pseudonymizer, payload: Any, kind: str | None = None) -> tuple[str, Any]:
    """Return (format, pseudonymized payload); the format is guessed when not given."""
    kind = kind or detect(payload)
    alerts_of(kind, payload)
    if kind in _WEBHOOK_VERSIONS:
        return kind, engine.alertmanager(payload)
    return kind, engine.generic(payload)
