"""Pseudonymize monitoring alerts (DESIGN §4, P5): keyed HMAC tokens, failing closed.

Every string in a payload goes through the scanner (custody.alerts.scanner) unless
the service knows it is safe: a fixed status word, a timestamp. Fields whose name
says they hold an identifier (by pattern: ``instance``, ``devname``, ``srcUser``,
``Account Name``) are replaced whole, and their values are learned first so the same
value is replaced wherever else it appears in the payload (free text, groupKey,
URLs). Links keep only their scheme and a pseudonymized host. Alert names,
severities, statuses, times, versions, interfaces and numbers stay readable.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from custody.addresses import is_ip
from custody.alerts.cryptopan import CryptoPAn
from custody.alerts.scanner import TextScanner
from custody.alerts.shapes import STRICT_KINDS, TIMESTAMP, field_name, key_kind
from custody.alerts.textops import CACHE_LIMIT, remember, replace_values
from custody.alerts.vocabulary import NOT_NAMES


class Learned(list[tuple[str, str]]):
    """One payload's learned values: (lower-cased value, its replacement), longest first;
    with each string of the payload already replaced, by field, for the strings that
    repeat (the alerts of a group mostly share their labels and texts)."""

    def __init__(self, pairs: Iterable[tuple[str, str]] = ()) -> None:
        super().__init__(pairs)
        self.done: dict[tuple[str | None, str], str] = {}


STATUSES = frozenset({"firing", "resolved", "ok", "problem", "alerting", "normal", "pending",
                      "nodata", "error", "up", "down", "warning", "critical", "unknown"})
_URL_KEY = re.compile(r"(?i)(?:url|uri|link|href|runbook)s?$|^(?:url|link|href)")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{1,15}://")


class KeyedDigest:
    """HMAC-SHA256 under one key, with the key's inner and outer pads hashed once:
    the same digests as ``hmac.digest``, at a third of its cost per call."""

    def __init__(self, key: bytes) -> None:
        block = (hashlib.sha256(key).digest() if len(key) > 64 else key).ljust(64, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))

    def hex(self, message: bytes) -> str:
        inner = self._inner.copy()
        inner.update(message)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()


class Pseudonymizer:
    """Tokens are HMAC-SHA256(period key, kind:value), truncated: stable within the period.

    With ``prefix_preserving_ips``, addresses become Crypto-PAn pseudonyms instead: two
    addresses in one subnet stay in one (pseudonymous) subnet.
    """

    def __init__(self, key: bytes, known_names: Iterable[str] = (),
                 extra_labels: dict[str, str] | None = None,
                 prefix_preserving_ips: bool = False) -> None:
        self._digest = KeyedDigest(key)
        self._extra = extra_labels or {}
        self._cache: dict[tuple[str, str], str] = {}
        self._urls: dict[str, str] = {}
        self._keys: dict[str, str] = {}
        self._pan = CryptoPAn(hmac.digest(key, b"crypto-pan", "sha256")) \
            if prefix_preserving_ips else None
        self._addresses: set[str] = set()  # prefix-preserving pseudonyms made here
        self._scanner = TextScanner(self.token, self.url, known_names,
                                    own=self._addresses.__contains__)

    def token(self, kind: str, value: str) -> str:
        """The pseudonym of ``value`` as an identifier of ``kind`` (``ip-3fa9c21b``)."""
        cached = self._cache.get((kind, value))
        if cached is None:
            if kind == "ip" and self._pan is not None:
                cached = "ip-" + self._pan.anonymize(value)
                if len(self._addresses) > CACHE_LIMIT:
                    self._addresses.clear()
                self._addresses.add(cached)
            else:
                cached = f"{kind}-{self._digest.hex(f'{kind}:{value.lower()}'.encode())[:8]}"
            remember(self._cache, (kind, value), cached)
        return cached

    def text(self, value: str, learned: Learned | None = None) -> str:
        """Replace every identifier in ``value``: learned values first, then what the
        scanner finds."""
        if learned:
            value = replace_values(value, learned)
        return self._scanner.text(value)

    def _key(self, key: str) -> str:
        """A JSON key: scanned like text, unless it reads as a dotted field name."""
        done = self._keys.get(key)
        if done is None:
            done = remember(self._keys, key, key if field_name(key) else self._scanner.text(key))
        return done

    def opaque(self, value: str) -> str:
        """A keyed, untyped digest of ``value`` (group keys, fingerprints, event ids)."""
        return self._digest.hex(value.encode())[:16]

    def url(self, value: str) -> str:
        """A link into someone's systems keeps only its scheme and a pseudonymized host."""
        cached = self._urls.get(value)
        if cached is None:
            cached = remember(self._urls, value, self._url(value))
        return cached

    def _url(self, value: str) -> str:
        try:
            host = urlsplit(value.strip()).hostname or ""
        except ValueError:
            host = ""
        scheme = value.strip().split(":", 1)[0] if _SCHEME.match(value.strip()) else ""
        if not scheme:
            return self.text(value)  # not a link after all: scan it like any text
        return f"{scheme}://{self._scanner.value('host', host)}/" if host else f"{scheme}://"

    # -- payloads
    def alertmanager(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Pseudonymize an Alertmanager (v4) or Grafana (version 1) webhook; a new dict."""
        learned_map: dict[str, str] = {}
        label_sets = [payload.get("groupLabels") or {}, payload.get("commonLabels") or {}]
        for alert in payload.get("alerts") or []:
            label_sets.append(alert.get("labels") or {})
        seen: set[tuple[str, str]] = set()  # the alerts of a group mostly share labels
        for labels in label_sets:
            for name, value in labels.items():
                if isinstance(value, str):
                    if (name, value) in seen:
                        continue
                    seen.add((name, value))
                self._learn(name, value, learned_map)
        learned = _ordered(learned_map)
        out: dict[str, Any] = {}
        for field, value in payload.items():
            if field == "groupKey":
                out[field] = "group-" + self.opaque(str(value))
            elif field == "alerts":
                out[field] = [self._alert(a, learned) for a in value or []]
            elif field in ("groupLabels", "commonLabels", "commonAnnotations"):
                out[field] = self._labels_of(value or {}, learned)
            elif field in ("status", "state") and isinstance(value, str) \
                    and value.lower() in STATUSES:
                out[field] = value
            elif field == "version" and value in ("1", "4"):
                out[field] = value
            else:
                out[self._key(field)] = self._walk(value, field, learned)
        return out

    grafana = alertmanager

    def _learn(self, key: str, value: Any, learned: dict[str, str]) -> None:
        kind = key_kind(key, self._extra)
        if not kind or not isinstance(value, str) or not value.strip() \
                or value.lower() in learned:
            return
        replaced = self._scanner.value(kind, value)
        if replaced == value or value.strip().lower() in NOT_NAMES:
            return  # an ordinary word ("syslog") is replaced in its field, not everywhere
        learned[value.lower()] = replaced
        if kind in ("host", "ip", "device"):
            bare = value.rsplit(":", 1)[0] if value.count(":") == 1 else value
            # "10.1.2.3:9100": the bare address too; "sql03.muster.local": "sql03" too
            first = bare.split(".", 1)[0] if not is_ip(bare) else bare
            for part in {bare, first} - {value}:
                if len(part) >= 3 and part.lower() not in NOT_NAMES \
                        and part.lower() not in learned:
                    learned[part.lower()] = self._scanner.value(kind, part)

    def _alert(self, alert: dict[str, Any], learned: Learned) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for field, value in alert.items():
            if field in ("labels", "annotations"):
                out[field] = self._labels_of(value or {}, learned)
            elif field == "fingerprint":
                out[field] = self.opaque(str(value))
            elif field == "status" and isinstance(value, str) and value.lower() in STATUSES:
                out[field] = value
            elif field in ("startsAt", "endsAt") and isinstance(value, str) \
                    and TIMESTAMP.fullmatch(value):
                out[field] = value
            else:
                out[self._key(field)] = self._walk(value, field, learned)
        return out

    def _labels_of(self, labels: dict[str, Any], learned: Learned) -> dict[str, Any]:
        """A label set: each value as its name says (labels are never read as tags).
        Most are strings the payload's other alerts had too: those are looked up first."""
        done = learned.done
        out: dict[str, Any] = {}
        for name, value in labels.items():
            if isinstance(value, str):
                found = done.get((name, value))
                if found is None:
                    found = done[(name, value)] = self._string(value, name, learned)
            else:
                found = self._walk(value, name, learned)
            out[self._key(name)] = found
        return out

    def generic(self, payload: Any) -> Any:
        """Any JSON (Zabbix events too): identifying fields by name, and their values learned
        first, so they are replaced in every other string as well."""
        learned: dict[str, str] = {}
        self._collect(payload, None, learned)
        return self._walk(payload, None, _ordered(learned))

    def _collect(self, value: Any, key: str | None, learned: dict[str, str]) -> None:
        if isinstance(value, dict):
            tagged = _tagged(value)
            if tagged is not None:
                self._learn(tagged[0], tagged[1], learned)
            for k, v in value.items():
                self._collect(v, k, learned)
        elif isinstance(value, list):
            for v in value:
                self._collect(v, key, learned)
        elif key is not None:
            self._learn(key, value, learned)

    def _walk(self, value: Any, key: str | None, learned: Learned) -> Any:
        if isinstance(value, dict):
            tagged = _tagged(value)
            out = {self._key(k): self._walk(v, k, learned) for k, v in value.items()}
            if tagged is not None:  # Zabbix tags: {"tag": "owner", "value": "jdoe"}
                kind = key_kind(tagged[0], self._extra)
                if kind is not None:
                    out["value"] = self._scanner.value(kind, tagged[1])
            return out
        if isinstance(value, list):
            return [self._walk(v, key, learned) for v in value]
        if isinstance(value, str):
            done = learned.done.get((key, value))
            if done is None:
                done = learned.done[(key, value)] = self._string(value, key, learned)
            return done
        if isinstance(value, int | float) and not isinstance(value, bool) and key is not None:
            kind = key_kind(key, self._extra)
            if kind in STRICT_KINDS:  # a number where a phone, serial or user should be
                return self._scanner.value(str(kind), str(value))
        return value


    def _string(self, value: str, key: str | None, learned: Learned) -> str:
        kind = key_kind(key, self._extra) if key is not None else None
        if kind is not None:
            return self._scanner.value(kind, value)
        if (key is not None and _URL_KEY.search(key)) or _SCHEME.match(value):
            return self.url(value)
        return self.text(value, learned)


def _tagged(value: dict[str, Any]) -> tuple[str, str] | None:
    """A {"tag"|"key"|"name": K, "value": V} pair, as Zabbix and others write tags."""
    tag = value.get("tag", value.get("key", value.get("name")))
    item = value.get("value")
    if isinstance(tag, str) and isinstance(item, str) and len(value) <= 3:
        return tag, item
    return None


def _ordered(learned: dict[str, str]) -> Learned:
    """Longest first, so "10.1.2.3:9116" goes before "10.1.2.3"."""
    return Learned(sorted(learned.items(), key=lambda vt: len(vt[0]), reverse=True))
