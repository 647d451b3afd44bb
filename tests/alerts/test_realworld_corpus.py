"""Sanity checks of the real-world alert corpus generator itself (not of the pseudonymizer)."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import pytest

from tests.alerts.realworld import (
    HELDOUT_SEED,
    IDENTIFIER_KINDS,
    SURVIVE_CLASSES,
    SYSTEMS,
    TUNING_SEED,
    Sample,
    destroyed,
    generate,
    grafana_webhook,
    inventory,
    leaks,
)

KNOWN = {name.lower() for name in inventory()}
HOST_KEY = re.compile(r"host|name|node|sys|computer|device|source|target|printer", re.I)
# A host-like key in text: 'host=x', 'devname="x"', 'Workstation Name:\tx', 'nodename:x', ' - x = v'
HOST_KEY_TEXT = r"[\w.-]*(?:host|name|node|sys|computer|device|source|target|printer)[\w.-]*"
HOST_MARKER = (rf"(?:\b(?:host|server|node|from|to|on)\s+['\"\[(]?|\\\\|\\|"
               rf"{HOST_KEY_TEXT}\s*(?:=|:|\s=\s)\s*['\"]?)")
USER_MARKER = (r"(?:\buser\s*[=:]?\s*['\"]?|\[user:\s*|\bby\s+|\bfor user\s+['\"]?|"
               r"Logon Account:\s*|Account Name:\s*|\blogin\s+|\baccount\s+)")


@pytest.fixture(scope="module")
def corpus() -> list[Sample]:
    return generate(600, TUNING_SEED)


def strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []


def keyed(value: Any) -> list[tuple[str, str]]:
    """(key, string value) of every dict entry, at any depth."""
    if isinstance(value, dict):
        return [(k, v) for k, v in value.items() if isinstance(v, str)] + \
            [kv for v in value.values() for kv in keyed(v)]
    if isinstance(value, list):
        return [kv for v in value for kv in keyed(v)]
    return []


def test_deterministic_for_a_seed() -> None:
    assert generate(80, TUNING_SEED) == generate(80, TUNING_SEED)
    assert generate(80, HELDOUT_SEED) == generate(80, HELDOUT_SEED)
    assert generate(80, TUNING_SEED) != generate(80, HELDOUT_SEED)
    assert generate(30, TUNING_SEED) == generate(80, TUNING_SEED)[:30]


@pytest.mark.parametrize("seed", [TUNING_SEED, HELDOUT_SEED])
def test_every_label_occurs_in_its_payload(seed: int) -> None:
    for n, sample in enumerate(generate(600, seed)):
        assert sample.planted and sample.survive, n
        assert set(leaks(sample.payload, sample)) == set(sample.planted), n
        assert destroyed(sample.payload, sample) == [], n
        assert {k for k, _ in sample.planted} <= set(IDENTIFIER_KINDS), n
        assert {c for c, _ in sample.survive} <= set(SURVIVE_CLASSES), n
        assert len(set(sample.planted)) == len(sample.planted), n


def test_every_kind_and_system_appears(corpus: list[Sample]) -> None:
    kinds = Counter(kind for s in corpus for kind, _ in s.planted)
    assert set(kinds) == set(IDENTIFIER_KINDS), kinds
    assert min(kinds.values()) >= 20, kinds
    systems = Counter(s.system for s in corpus)
    assert set(systems) == set(SYSTEMS), systems
    assert min(systems.values()) >= 5, systems
    classes = Counter(cls for s in corpus for cls, _ in s.survive)
    assert set(classes) == set(SURVIVE_CLASSES), classes
    assert sum(s.alerts for s in corpus) >= 1000
    assert {s.kind for s in corpus} == {"alertmanager", "grafana", "zabbix", "generic"}


def check_shape(sample: Sample) -> None:
    p = sample.payload
    if sample.kind == "alertmanager":
        assert p["version"] == "4"
        assert {"groupKey", "truncatedAlerts", "status", "receiver", "groupLabels",
                "commonLabels", "commonAnnotations", "externalURL", "alerts"} <= set(p)
        for alert in p["alerts"]:
            assert {"status", "labels", "annotations", "startsAt", "endsAt", "generatorURL",
                    "fingerprint"} <= set(alert)
            assert alert["status"] in ("firing", "resolved")
            assert {"alertname", "severity", "instance"} <= set(alert["labels"])
    elif sample.kind == "grafana":
        assert p["version"] == "1"
        assert {"orgId", "title", "state", "message", "groupKey", "status", "receiver",
                "groupLabels", "commonLabels", "commonAnnotations", "externalURL",
                "truncatedAlerts", "alerts"} <= set(p)
        for alert in p["alerts"]:
            assert {"status", "labels", "annotations", "startsAt", "endsAt", "generatorURL",
                    "fingerprint", "silenceURL", "dashboardURL", "panelURL", "values",
                    "valueString"} <= set(alert)
    elif sample.kind == "zabbix":
        assert {"event_id", "subject", "message", "severity", "status", "host"} <= set(p)
        assert set(p) <= {"event_id", "subject", "message", "severity", "status", "host",
                          "client", "tags"}
        assert p["status"].upper() in ("PROBLEM", "RESOLVED", "OK")
        assert all(isinstance(p[k], str) for k in ("event_id", "subject", "message", "host"))
    else:
        assert sample.kind == "generic"
        assert not {"alerts", "groupKey", "event_id"} & set(p)
        assert {"message", "output", "msg"} & set(p)
    assert sample.alerts == len(p.get("alerts", [None]))


def test_payload_shapes(corpus: list[Sample]) -> None:
    for sample in corpus:
        check_shape(sample)


def test_bare_names_are_planted_only_where_promised(corpus: list[Sample]) -> None:
    """Unknown host names follow a host marker or are a host-like key's value; unknown user
    names follow a user marker; names all come from inventory()."""
    for n, sample in enumerate(corpus):
        texts = strings(sample.payload)
        pairs = keyed(sample.payload)
        for kind, value in sample.planted:
            if kind == "name":
                assert value.lower() in KNOWN, (n, value)
            if kind not in ("hostname", "username") or value.lower() in KNOWN:
                continue
            if kind == "hostname" and any(HOST_KEY.search(k) and v == value for k, v in pairs):
                continue
            marker = HOST_MARKER if kind == "hostname" else USER_MARKER
            found = re.compile(marker + re.escape(value) + r"(?![0-9A-Za-z])", re.I)
            assert any(found.search(t) for t in texts), (n, sample.system, kind, value)


def test_inventory() -> None:
    names = inventory()
    assert 35 <= len(names) <= 45 and len(set(names)) == len(names)
    assert {"Lager Nord", "Muster GmbH"} <= set(names)
    assert sum(" " in name for name in names) >= 8


def test_grafana_fixture_is_the_documented_shape() -> None:
    sample = grafana_webhook()
    check_shape(sample)
    assert "_source" not in sample.payload
    assert set(leaks(sample.payload, sample)) == set(sample.planted)
    assert destroyed(sample.payload, sample) == []


def test_leaks_and_destroyed_match_whole_words_in_every_form() -> None:
    sample = Sample("x", "generic", {}, (("ipv6", "2001:db8::15"), ("mac", "00:1a:2b:3c:4d:5e"),
                                          ("hostname", "fs01"), ("ipv4", "10.1.2.3")),
                    (("metric", "97.3"),), 1)
    out = {"a": "2001:0db8:0000:0000:0000:0000:0000:0015 001A2B3C4D5E", "b": ["FS01.", "10.1.2.30"],
           "fs01": "key names do not count 97.30"}
    assert leaks(out, sample) == [("ipv6", "2001:db8::15"), ("mac", "00:1a:2b:3c:4d:5e"),
                                  ("hostname", "fs01")]
    assert destroyed(out, sample) == [("metric", "97.3")]
    assert leaks({"u": "http://x/?m=instance%3D10.1.2.3%3A9100"}, sample) == [("ipv4", "10.1.2.3")]
