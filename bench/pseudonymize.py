"""Alerts pseudonymized per second on one core over a generated Alertmanager corpus.

Each webhook payload carries 3 alerts with identifiers planted in labels,
annotations, free text and URLs (tests/alerts/corpus.py). A fresh engine goes over
the corpus five times; the best round is the speed (the machine is shared, so the
slower rounds measure its neighbours), the median is reported beside it. The count
of planted identifiers left behind is reported too (it must be 0).

With the optional ``bench`` extra installed, the same corpus also goes through
Microsoft Presidio's analyzer and anonymizer (its regex recognizers only, no
language model), and its speed and leftovers are reported beside ours.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Iterator
from typing import Any

PAYLOADS = 2000
ROUNDS = 5


def run(seconds: float = 5.0) -> Iterator[dict[str, Any]]:
    from custody.alerts.pseudonym import Pseudonymizer
    from tests.alerts.corpus import corpus

    data = corpus(PAYLOADS)
    alerts = sum(len(p["alerts"]) for p, _ in data)
    speeds, results = [], []
    for _ in range(ROUNDS):
        engine = Pseudonymizer(b"k" * 32, known_names=["Muster GmbH", "Kunde Eins"])
        started = time.perf_counter()
        results = [engine.alertmanager(p) for p, _ in data]
        speeds.append(alerts / (time.perf_counter() - started))
    ours = max(speeds)
    yield {"metric": "alerts_per_second", "value": round(ours), "unit": "alerts/s",
           "median": round(statistics.median(speeds)), "alerts": alerts,
           "identifiers_left": _left(results, data)}
    yield from _presidio(data, ours)


def _left(results: list[Any], data: list[tuple[dict[str, Any], list[str]]]) -> int:
    left = 0
    for result, (_, planted) in zip(results, data, strict=True):
        text = json.dumps(result).lower()
        left += sum(1 for value in planted if value.lower() in text)
    return left


def _presidio(data: list[tuple[dict[str, Any], list[str]]], ours: float
              ) -> Iterator[dict[str, Any]]:
    try:
        from bench.presidio_engine import PresidioEngine
    except ImportError:
        yield {"metric": "presidio", "skipped": "install the bench extra: pip install -e .[bench]"}
        return
    engine = PresidioEngine()
    sample = data[:100]  # it is slow: a sample keeps the run short
    alerts = sum(len(p["alerts"]) for p, _ in sample)
    started = time.perf_counter()
    results = [engine.alertmanager(p) for p, _ in sample]
    speed = alerts / (time.perf_counter() - started)
    yield {"metric": "presidio_alerts_per_second", "value": round(speed, 1), "unit": "alerts/s",
           "alerts": alerts, "identifiers_left": _left(results, sample),
           "ratio": round(ours / speed, 1), "note": "ratio = ours / presidio"}
