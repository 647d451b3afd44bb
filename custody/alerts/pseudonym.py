"""Pseudonymize monitoring alerts (DESIGN §4, P5): one pass per string, keyed HMAC tokens.

Identifying labels are replaced by key; their values are then learned for the
whole payload, so the same value is replaced wherever else it appears (free text,
groupKey, URLs). Every other string is scanned once with a single combined pattern
for IPv4/IPv6 addresses, MACs, e-mail addresses, phone numbers, host names, serial
numbers and the client's known names. Alert names, severities, statuses, times and
numbers stay readable.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from custody.addresses import is_ip

# Labels whose values identify a person, a host or a place; replaced by key.
IDENTIFYING_LABELS = {
    "instance": "host", "ip": "ip", "address": "ip", "host": "host", "hostname": "host",
    "device": "device", "node": "host", "nodename": "host", "fqdn": "host", "mac": "mac",
    "serial": "serial", "serial_number": "serial", "user": "user", "username": "user",
    "email": "email", "phone": "phone", "site": "site", "location": "site",
    "customer": "name", "client": "name", "pod": "host", "target": "host",
}
URL_FIELDS = {"generatorURL", "externalURL", "generator_url", "runbook_url", "runbook",
              "dashboard", "dashboard_url", "url", "link"}
READABLE = {"alertname", "severity", "status", "startsAt", "endsAt", "job", "version",
            "receiver", "fingerprint", "summary_template"}

_TLDS = ("com|net|org|info|biz|io|dev|app|cloud|local|lan|internal|intranet|corp|home|"
         "example|test|invalid|localdomain|arpa|[a-z]{2}")
PATTERN = re.compile(
    r"(?P<email>(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)"
    r"|(?P<url>https?://[^\s\"'<>]+)"
    r"|(?P<mac>(?<![0-9A-Fa-f:.-])(?:[0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}(?![0-9A-Fa-f:.-])"
    r"|(?<![0-9A-Fa-f.])[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}(?![0-9A-Fa-f.]))"
    r"|(?P<ipv4>(?<![\w.])(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
    r"(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}(?![\w.]|\.\d))"
    r"|(?P<ipv6>(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:]))"
    r"|(?P<phone>(?<![\w+])\+\d[\d ()-]{6,18}\d(?!\w))"
    r"|(?P<serial>(?i:\b(?:s/?n|serial(?:\s+number)?)\s*[:#=]?\s*)[A-Z0-9][A-Z0-9-]{5,})"
    rf"|(?P<host>(?<![\w.@/-])(?:[A-Za-z0-9](?:[A-Za-z0-9-]{{0,61}}[A-Za-z0-9])?\.)+(?:{_TLDS})"
    r"(?![\w.-]))",
)
Learned = list[tuple[str, str]]  # (lower-cased label value, its token), longest first
# Every identifier PATTERN finds contains one of these characters.
_MAYBE = re.compile(r"[\d@:+]|\.[A-Za-z]")
_SERIAL_PREFIX = re.compile(r"(?i)^(?:s/?n|serial(?:\s+number)?)\s*[:#=]?\s*")
_VERSION_BEFORE = re.compile(r"(?i)(?:\bv|version|ver\.?|release)\s*$")


class Pseudonymizer:
    """Tokens are HMAC-SHA256(period key, kind:value), truncated: stable within the period."""

    def __init__(self, key: bytes, known_names: Iterable[str] = (),
                 extra_labels: dict[str, str] | None = None) -> None:
        self._key = key
        self._labels = IDENTIFYING_LABELS | (extra_labels or {})
        self._cache: dict[tuple[str, str], str] = {}
        self._learned_kinds: dict[str, tuple[str, str]] = {}
        self._texts: dict[str, str] = {}  # results for strings already seen (same key, same output)
        names = sorted({n for n in known_names if len(n) >= 3}, key=len, reverse=True)
        self._known = (re.compile("|".join(rf"(?<![\w.-]){re.escape(n)}(?![\w-])" for n in names),
                                  re.IGNORECASE) if names else None)

    def token(self, kind: str, value: str) -> str:
        cached = self._cache.get((kind, value))
        if cached is None:
            digest = hmac.new(self._key, f"{kind}:{value.lower()}".encode(), hashlib.sha256)
            cached = self._cache[(kind, value)] = f"{kind}-{digest.hexdigest()[:8]}"
        return cached

    # -- free text
    def text(self, value: str, learned: Learned | None = None) -> str:
        """Replace every identifier in ``value`` (one pass per pattern set)."""
        if learned:
            value = _replace_values(value, learned)
        cached = self._texts.get(value)
        if cached is not None:
            return cached
        result = value
        if self._known is not None:
            result = self._known.sub(lambda m: self.token("name", m.group(0)), result)
        if _MAYBE.search(result):  # words only ("critical", "snmp"): nothing to find
            result = PATTERN.sub(self._replace, result)
        if len(self._texts) > 100_000:
            self._texts.clear()
        self._texts[value] = result
        return result

    def _replace(self, m: re.Match[str]) -> str:
        kind = m.lastgroup
        found = m.group(0)
        if kind == "ipv4":
            if _VERSION_BEFORE.search(m.string[max(0, m.start() - 10):m.start()]):
                return found
            return self.token("ip", found)
        if kind == "ipv6":
            try:
                ipaddress.IPv6Address(found)
            except ValueError:
                return found  # times like 12:30:45 and other colon-separated numbers
            return self.token("ip", found)
        if kind == "serial":
            prefix = _SERIAL_PREFIX.match(found)
            head = prefix.group(0) if prefix else ""
            return head + self.token("serial", found[len(head):])
        if kind == "url":
            return self.url(found)
        assert kind is not None
        return self.token(kind, found)

    def url(self, value: str) -> str:
        """A link into someone's systems keeps only its scheme and a pseudonymized host."""
        try:
            host = urlsplit(value).hostname or ""
        except ValueError:
            host = ""
        scheme = value.split(":", 1)[0]
        return f"{scheme}://{self.token('host', host)}/" if host else ""

    # -- payloads
    def alertmanager(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Pseudonymize an Alertmanager webhook (version 4) payload; returns a new dict."""
        self._learned_kinds = {}
        label_sets = [payload.get("groupLabels") or {}, payload.get("commonLabels") or {}]
        for alert in payload.get("alerts") or []:
            label_sets.append(alert.get("labels") or {})
        for labels in label_sets:
            for name, value in labels.items():
                kind = self._labels.get(name)
                if kind and isinstance(value, str) and value:
                    self._learned_kinds[value.lower()] = (kind, self.token(kind, value))
                    host = value.rsplit(":", 1)[0] if kind in ("host", "ip") else value
                    if host != value:  # "10.1.2.3:9100": also learn the bare address
                        bare = "ip" if is_ip(host) else kind
                        self._learned_kinds[host.lower()] = (bare, self.token(bare, host))
        # Longest first, so "10.1.2.3:9116" goes before "10.1.2.3".
        learned = sorted(((v, t) for v, (_, t) in self._learned_kinds.items()),
                         key=lambda vt: len(vt[0]), reverse=True)
        out: dict[str, Any] = {}
        for field, value in payload.items():
            if field == "groupKey":
                out[field] = "group-" + hmac.new(self._key, str(value).encode(),
                                                 hashlib.sha256).hexdigest()[:16]
            elif field == "alerts":
                out[field] = [self._alert(a, learned) for a in value or []]
            elif field in ("groupLabels", "commonLabels", "commonAnnotations"):
                out[field] = self._labels_of(value or {}, learned)
            elif field in URL_FIELDS:
                out[field] = self.url(value) if isinstance(value, str) else value
            elif isinstance(value, str) and field not in ("version", "status", "receiver"):
                out[field] = self.text(value, learned)
            else:
                out[field] = value
        return out

    def _alert(self, alert: dict[str, Any], learned: Learned) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for field, value in alert.items():
            if field in ("labels", "annotations"):
                out[field] = self._labels_of(value or {}, learned)
            elif field in URL_FIELDS:
                out[field] = self.url(value) if isinstance(value, str) else value
            elif field == "fingerprint":
                out[field] = hmac.new(self._key, str(value).encode(),
                                      hashlib.sha256).hexdigest()[:16]
            else:
                out[field] = value  # status, startsAt, endsAt: readable
        return out

    def _labels_of(self, labels: dict[str, Any], learned: Learned) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in labels.items():
            if not isinstance(value, str):
                out[name] = value
            elif name in self._labels:
                out[name] = self.token(self._labels[name], value) if value else value
            elif name in URL_FIELDS or value.startswith(("http://", "https://")):
                out[name] = self.url(value)
            elif name in READABLE:
                out[name] = value
            else:
                out[name] = self.text(value, learned)
        return out

    def generic(self, payload: Any) -> Any:
        """Any JSON (Zabbix events too): identifying keys by key, and their values learned
        first, so they are replaced in every other string as well."""
        learned: dict[str, str] = {}
        self._collect(payload, None, learned)
        order = sorted(learned.items(), key=lambda vt: len(vt[0]), reverse=True)
        return self._walk(payload, None, order)

    def _collect(self, value: Any, key: str | None, learned: dict[str, str]) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                self._collect(v, k, learned)
        elif isinstance(value, list):
            for v in value:
                self._collect(v, key, learned)
        elif isinstance(value, str) and value and key in self._labels:
            learned[value.lower()] = self.token(self._labels[key], value)

    def _walk(self, value: Any, key: str | None, learned: Learned) -> Any:
        if isinstance(value, dict):
            return {k: self._walk(v, k, learned) for k, v in value.items()}
        if isinstance(value, list):
            return [self._walk(v, key, learned) for v in value]
        if isinstance(value, str):
            if key in self._labels and value:
                return self.token(self._labels[key], value)
            if key in URL_FIELDS:
                return self.url(value)
            if key in READABLE:
                return value
            return self.text(value, learned)
        return value


def _replace_values(text: str, learned: Learned) -> str:
    """Replace whole-word, case-insensitive occurrences of learned values (no regex to build)."""
    lower = text.lower()
    for value, token in learned:
        start = lower.find(value)
        if start < 0:
            continue
        parts, last = [], 0
        while start >= 0:
            end = start + len(value)
            before = lower[start - 1] if start else " "
            after = lower[end] if end < len(lower) else " "
            if not (before.isalnum() or before in "_.-") and not (after.isalnum() or after in "_-"):
                parts.append(text[last:start])
                parts.append(token)
                last = end
            start = lower.find(value, end)
        if parts:
            parts.append(text[last:])
            text = "".join(parts)
            lower = text.lower()
    return text
