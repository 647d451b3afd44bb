"""Logging setup: text or JSON lines, with secrets scrubbed from messages and arguments."""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from custody.sensitive import MASK

# key=value / "key": "value" pairs whose value is sensitive, and bearer tokens.
_PATTERNS = [
    re.compile(r"(?i)\b(password|passwd|secret|token|private_key|passphrase|authorization)"
               r"([\"']?\s*[:=]\s*[\"']?)([^\s\"',}]+)"),
    re.compile(r"(?i)\b(bearer\s+)([A-Za-z0-9._~+/=-]+)"),
    re.compile(r"cst_[A-Za-z0-9_-]{20,}"),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S),
]


_live_secrets: Counter[str] = Counter()  # value -> connections using it
_live_lock = threading.Lock()


def register_secret(value: str) -> None:
    """Scrub this exact value from every log line while it is in use (device credentials)."""
    if len(value) >= 4:
        with _live_lock:
            _live_secrets[value] += 1


def unregister_secret(value: str) -> None:
    with _live_lock:
        _live_secrets[value] -= 1
        if _live_secrets[value] <= 0:
            del _live_secrets[value]


def scrub(text: str) -> str:
    """Mask anything that looks like a credential in ``text``."""
    with _live_lock:
        live = sorted(_live_secrets, key=len, reverse=True)
    for value in live:
        text = text.replace(value, MASK)
    text = _PATTERNS[0].sub(lambda m: m.group(1) + m.group(2) + MASK, text)
    text = _PATTERNS[1].sub(lambda m: m.group(1) + MASK, text)
    text = _PATTERNS[2].sub(MASK, text)
    return _PATTERNS[3].sub(MASK, text)


class ScrubFilter(logging.Filter):
    """Scrub the message after its arguments are merged in, so neither can leak a secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()  # Secret arguments render as ****
        except (TypeError, ValueError):
            message = str(record.msg)
        record.msg = scrub(message)
        record.args = None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            entry.update(extra)
        if record.exc_info:
            entry["exc_type"] = record.exc_info[0].__name__ if record.exc_info[0] else None
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict) and extra:
            line += " " + " ".join(f"{k}={v}" for k, v in extra.items())
        return scrub(line)

    def formatException(self, ei: Any) -> str:  # noqa: N802 - logging's API name
        # Tracebacks can quote local values; keep the type and location, scrub the rest.
        return scrub(super().formatException(ei))


def configure_logging(level: str, fmt: str, stream: Any = None) -> None:
    """Route the root logger to ``stream`` in the chosen format, with the scrub filter."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(ScrubFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_custody", False):
            root.removeHandler(old)
    handler._custody = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # we write our own access log
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    # netmiko and paramiko log channel writes at DEBUG, keystrokes and secrets included.
    for noisy in ("netmiko", "paramiko"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
