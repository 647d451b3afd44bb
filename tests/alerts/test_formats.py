"""Payload formats: the declared kind decides the parser, and bad payloads get a message
that names the problem (never a 500, never a traceback)."""

from __future__ import annotations

import os
from typing import Any

import pytest

from custody.alerts.formats import alerts_of, parse_json, pseudonymize, status_of
from custody.alerts.pseudonym import Pseudonymizer
from custody.errors import InvalidInput
from tests.alerts.realworld import destroyed, grafana_webhook, leaks


def webhook(**alert: Any) -> dict[str, Any]:
    return {"version": "4", "status": "firing", "alerts": [
        {"labels": {"alertname": "X"}, "annotations": {}} | alert]}


@pytest.mark.parametrize(("kind", "payload", "message"), [
    ("alertmanager", [1, 2], "alertmanager: the payload must be a JSON object"),
    ("alertmanager", {"version": "3", "alerts": []}, "Alertmanager webhook version 4 expected"),
    ("alertmanager", {"version": "4"}, "alerts: a list of alerts is required"),
    ("alertmanager", webhook(annotations=["a", "b"]),
     r"alerts\[0\].annotations: an object of strings is expected, got list"),
    ("alertmanager", webhook(labels="alertname=X"),
     r"alerts\[0\].labels: an object of strings is expected, got str"),
    ("alertmanager", webhook(labels={"alertname": {"nested": 1}}),
     r"alerts\[0\].labels.alertname: a string is expected, got dict"),
    ("alertmanager", webhook(fingerprint=12), r"alerts\[0\].fingerprint: a string is expected"),
    ("alertmanager", {"version": "4", "alerts": [{"labels": {f"l{i}": "x" for i in range(300)}}]},
     "more than 200 labels"),
    ("grafana", webhook(), "Grafana webhook version 1 expected, got '4'"),
    ("zabbix", {"subject": "Problem: disk full", "host": "fs01"},
     r"zabbix: event_id is required \(the media type posts \{EVENT.ID\}\)"),
    ("zabbix", {"event_id": "1", "subject": ["a"]}, "zabbix: subject must be a string"),
    ("generic", "just a string", "generic: the payload must be a JSON object"),
])
def test_bad_payloads_name_the_problem(kind: str, payload: Any, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        alerts_of(kind, payload)
    with pytest.raises(InvalidInput, match=message):
        pseudonymize(Pseudonymizer(b"k" * 32), payload, kind)


@pytest.mark.parametrize("depth", [40, 100_000])
def test_deep_nesting_is_refused_with_a_message(depth: int) -> None:
    raw = ("[" * depth + "]" * depth).encode()
    with pytest.raises(InvalidInput, match="nested more than 32 levels deep"):
        parse_json(raw)
    assert parse_json(("[" * 30 + "]" * 30).encode())  # the limit is not the parser's


def test_unpaired_surrogates_are_refused() -> None:
    with pytest.raises(InvalidInput, match="not valid Unicode"):
        parse_json(b'{"alerts": [{"labels": {"x": "\\ud800"}}]}')


@pytest.mark.parametrize("raw", [
    b'{"a": "\\u0000"}', b'{"\\u0000": 1}', b'{"a": ["\\uDBFF"]}', b'{"a": "\\\\u0000"}',
    b'{"a": "\\uD83D\\uDE00 ok"}', b'{"a": "caf\xc3\xa9"}',
    *[(open_ + inner + close).encode() for n in (31, 32, 33)
      for open_, inner, close in (("[" * n, "", "]" * n), ("[" * n, "1", "]" * n),
                                  ('{"a":' * n, '"x"', "}" * n), ('{"a":' * n, "{}", "}" * n))],
])
def test_the_quick_look_at_a_body_agrees_with_the_full_walk(raw: bytes) -> None:
    """parse_json looks at strings only when the text holds an escape that can make a bad
    one, and at containers only for the nesting: the verdict must be the full walk's."""
    import json

    from custody.alerts.formats import check_structure

    def verdict(check: Any) -> str:
        try:
            check()
        except InvalidInput as exc:
            return str(exc)
        return "accepted"

    full = verdict(lambda: check_structure(json.loads(raw.decode())))
    assert verdict(lambda: parse_json(raw)) == full


@pytest.mark.parametrize(("status", "expected"), [
    ("PROBLEM", "firing"), ("RESOLVED", "resolved"), ("resolved", "resolved"), ("OK", "resolved"),
    ("Ok", "resolved"), ("ok ", "resolved"), ("firing", "firing"), ("", "firing")])
def test_zabbix_recoveries_in_any_case_are_resolved(status: str, expected: str) -> None:
    event = {"event_id": "9", "status": status}
    assert status_of(event, event) == expected


def test_grafana_webhook_keeps_its_shape_and_loses_its_identifiers() -> None:
    """The payload is Grafana's own documented webhook example (no Grafana server can run
    here), with private identifiers put in: tests/alerts/realworld.py says where from."""
    sample = grafana_webhook()
    payload = sample.payload
    kind, out = pseudonymize(Pseudonymizer(os.urandom(32), ["Lager Nord", "Anna Schmidt"]),
                             payload)
    assert kind == "grafana"
    assert leaks(out, sample) == [] and destroyed(out, sample) == []
    assert out["version"] == "1" and out["status"] == payload["status"]
    first, source = out["alerts"][0], payload["alerts"][0]
    assert first["labels"]["alertname"] == source["labels"]["alertname"]
    for field in ("silenceURL", "dashboardURL", "panelURL", "generatorURL"):
        if source.get(field):  # a link keeps its scheme and a pseudonymized host, nothing more
            assert first[field].startswith(("http://host-", "https://host-", "http://ip-",
                                            "https://ip-")) and first[field].endswith("/")
