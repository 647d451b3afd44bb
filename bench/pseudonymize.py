"""Alerts pseudonymized per second on one core over a generated Alertmanager corpus.

Each webhook payload carries 3 alerts with identifiers planted in labels,
annotations, free text and URLs (tests/alerts/corpus.py). The count of planted
identifiers left behind is reported next to the speed (it must be 0).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

PAYLOADS = 2000


def run(seconds: float = 5.0) -> Iterator[dict[str, Any]]:
    from custody.alerts.pseudonym import Pseudonymizer
    from tests.alerts.corpus import corpus

    data = corpus(PAYLOADS)
    engine = Pseudonymizer(b"k" * 32, known_names=["Muster GmbH", "Kunde Eins"])
    engine.alertmanager(data[0][0])  # warm
    alerts = sum(len(p["alerts"]) for p, _ in data)
    started = time.perf_counter()
    results = [engine.alertmanager(p) for p, _ in data]
    elapsed = time.perf_counter() - started
    left = 0
    for result, (_, planted) in zip(results, data, strict=True):
        text = json.dumps(result)
        left += sum(1 for value in planted if value in text)
    yield {"metric": "alerts_per_second", "value": round(alerts / elapsed), "unit": "alerts/s",
           "alerts": alerts, "identifiers_left": left}
