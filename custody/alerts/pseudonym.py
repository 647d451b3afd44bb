"""Pseudonymize monitoring alerts (DESIGN §4, P5): keyed HMAC tokens, each word looked at once.

Identifying labels are replaced by key; their values are then learned for the
whole payload, so the same value is replaced wherever else it appears (free text,
groupKey, URLs). Every other string is scanned for IPv4/IPv6 addresses, MACs,
e-mail addresses, phone numbers, host names, serial numbers and the client's known
names: identifiers that may span spaces (phone numbers, "S/N: ...", multi-word
names) in the whole string when their marker is present, everything else word by
word, each distinct word once per engine. Alert names, severities, statuses, times,
versions and numbers stay readable.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from custody.addresses import is_ip, is_ipv6

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
# Identifiers that may contain a space are found in the whole string first (each only
# when its marker is there); everything else lies within one space-separated word.
_PHONE = re.compile(r"\+\d[\d ()-]{6,18}\d(?!\w)")
# Each starts with a character class, so the scan skips ahead quickly to where one may begin.
_SERIAL = re.compile(r"[Ss](?<![\w][Ss])(/?[Nn]|(?i:erial)(?:\s+(?i:number))?)\b\s*[:#=]?\s*"
                     r"([A-Z0-9][A-Z0-9-]{5,})")
_VERSION = re.compile(r"[VvRr](?<![\w][VvRr])(?i:ersion|er\.?|elease)?\s+(v?\d+(?:\.\d+)+)")
# A word with none of these holds no identifier PATTERN could find.
_GATE = re.compile(r"[\d@:+]|[.][A-Za-z]|-[0-9A-Fa-f]")
_PUNCTUATION = "\"'()[]{}<>,;:.!?"
_CACHE_LIMIT = 100_000


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
        self._labels = IDENTIFYING_LABELS | (extra_labels or {})
        self._cache: dict[tuple[str, str], str] = {}
        self._learned_kinds: dict[str, tuple[str, str]] = {}
        self._texts: dict[str, str] = {}  # results for strings already seen (same key, same output)
        self._words: dict[str, str] = {}
        self._urls: dict[str, str] = {}
        self._in_payload: dict[str, str] = {}  # free text already done within this payload
        self._pan = CryptoPAn(hmac.digest(key, b"crypto-pan", "sha256")) \
            if prefix_preserving_ips else None
        names = {n.lower() for n in known_names if len(n) >= 3}
        self._single_names = {n for n in names if " " not in n}
        several = sorted((n for n in names if " " in n), key=len, reverse=True)
        # Case-sensitive literals over lower-cased text: a fast test before the real pattern.
        self._maybe_known = re.compile("|".join(map(re.escape, several))) if several else None
        self._known = (re.compile("|".join(rf"(?<![\w.-]){re.escape(n)}(?![\w-])" for n in several),
                                  re.IGNORECASE) if several else None)

    def token(self, kind: str, value: str) -> str:
        cached = self._cache.get((kind, value))
        if cached is None:
            if kind == "ip" and self._pan is not None:
                cached = "ip-" + self._pan.anonymize(value)
            else:
                cached = f"{kind}-{self._digest.hex(f'{kind}:{value.lower()}'.encode())[:8]}"
            self._cache[(kind, value)] = cached
        return cached

    # -- free text
    def text(self, value: str, learned: Learned | None = None) -> str:
        """Replace every identifier in ``value``: learned label values, then what the
        patterns find, each word looked at once (and remembered)."""
        if learned:
            value = _replace_values(value, learned)
        cached = self._texts.get(value)
        if cached is not None:
            return cached
        result = value
        lower = value.lower()
        if self._known is not None and self._maybe_known is not None \
                and self._maybe_known.search(lower):
            result = self._known.sub(lambda m: self.token("name", m.group(0)), result)
        if "+" in result:
            result = _PHONE.sub(self._phone, result)
        if "sn" in lower or "s/n" in lower or "serial" in lower:
            result = _SERIAL.sub(lambda m: m.group(0)[:m.start(2) - m.start(0)]
                                 + self.token("serial", m.group(2)), result)
        words = result.split(" ")
        seen = self._words
        out = [seen.get(w) or self._learn(w) for w in words]
        if out != words:
            for m in _VERSION.finditer(result):  # "version 15.2.4.5" is not an address
                at = result.count(" ", 0, m.start(1))  # the index of the number's word
                if words[at].rstrip(_PUNCTUATION) == m.group(1):
                    out[at] = words[at]
            result = " ".join(out)
        if len(self._texts) > _CACHE_LIMIT:
            self._texts.clear()
        self._texts[value] = result
        return result

    def _phone(self, m: re.Match[str]) -> str:
        start = m.start()
        if start and (m.string[start - 1].isalnum() or m.string[start - 1] in "_+"):
            return m.group(0)
        return self.token("phone", m.group(0))

    def _learn(self, word: str) -> str:
        if len(self._words) > _CACHE_LIMIT:
            self._words.clear()
        new = self._words[word] = self._word(word)
        return new

    def _word(self, word: str) -> str:
        """One space-free word: a known name, or whatever PATTERN finds in it."""
        core = word.strip(_PUNCTUATION)
        if core.lower() in self._single_names:
            head = word.find(core)
            return word[:head] + self.token("name", core) + word[head + len(core):]
        if word.isalpha() or not _GATE.search(word):
            return word
        new = PATTERN.sub(self._replace, word)
        return word if new == word else new

    def _replace(self, m: re.Match[str]) -> str:
        kind = m.lastgroup
        found = m.group(0)
        if kind == "ipv4":
            return self.token("ip", found)
        if kind == "ipv6":
            if not is_ipv6(found):
                return found  # times like 12:30:45 and other colon-separated numbers
            return self.token("ip", found)
        if kind == "serial":
            prefix = _SERIAL.match(found)
            if prefix is None:
                return found
            return found[:prefix.start(2)] + self.token("serial", prefix.group(2))
        if kind == "url":
            return self.url(found)
        assert kind is not None
        return self.token(kind, found)

    def opaque(self, value: str) -> str:
        """A keyed, untyped digest of ``value`` (group keys, fingerprints, event ids)."""
        return self._digest.hex(value.encode())[:16]

    def url(self, value: str) -> str:
        """A link into someone's systems keeps only its scheme and a pseudonymized host."""
        cached = self._urls.get(value)
        if cached is None:
            if len(self._urls) > _CACHE_LIMIT:
                self._urls.clear()
            cached = self._urls[value] = self._url(value)
        return cached

    def _url(self, value: str) -> str:
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
        self._in_payload = {}
        label_sets = [payload.get("groupLabels") or {}, payload.get("commonLabels") or {}]
        for alert in payload.get("alerts") or []:
            label_sets.append(alert.get("labels") or {})
        for labels in label_sets:
            for name, value in labels.items():
                kind = self._labels.get(name)
                if kind and isinstance(value, str) and value \
                        and value.lower() not in self._learned_kinds:
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
                out[field] = "group-" + self.opaque(str(value))
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
                out[field] = self.opaque(str(value))
            else:
                out[field] = value  # status, startsAt, endsAt: readable
        return out

    def _labels_of(self, labels: dict[str, Any], learned: Learned) -> dict[str, Any]:
        out: dict[str, Any] = {}
        kinds, memo = self._labels, self._in_payload
        for name, value in labels.items():
            kind = kinds.get(name)
            if kind is not None:
                out[name] = self.token(kind, value) if value and isinstance(value, str) else value
            elif name in READABLE or not isinstance(value, str):
                out[name] = value
            elif name in URL_FIELDS or value.startswith(("http://", "https://")):
                out[name] = self.url(value)
            else:
                done = memo.get(value)
                if done is None:
                    done = memo[value] = self.text(value, learned)
                out[name] = done
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


class CryptoPAn:
    """Prefix-preserving address pseudonyms (Crypto-PAn, Xu et al. 2002) under a 32-byte key.

    Bit i of the result flips by the first bit of AES(first i bits of the address, padded
    with a secret pad), so addresses sharing an n-bit prefix share one afterwards too.
    """

    def __init__(self, key: bytes) -> None:
        self._aes = Cipher(algorithms.AES(key[:16]), modes.ECB())
        self._pad = int.from_bytes(self._aes.encryptor().update(key[16:32]), "big")

    def anonymize(self, text: str) -> str:
        """An address of the same family; anything that is not an address gets a keyed hash."""
        try:
            address = ipaddress.ip_address(text.strip("[]"))
        except ValueError:
            return hmac.digest(self._pad.to_bytes(16, "big"), text.encode(), "sha256").hex()[:8]
        width = address.max_prefixlen
        value = int(address) << (128 - width)
        blocks = b"".join(
            ((value >> (128 - i) << (128 - i) if i else 0)
             | (self._pad & ((1 << (128 - i)) - 1))).to_bytes(16, "big")
            for i in range(width))
        out = self._aes.encryptor().update(blocks)
        flips = 0
        for i in range(width):
            flips = (flips << 1) | (out[16 * i] >> 7)
        return str(ipaddress.ip_address(int(address) ^ flips))


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
