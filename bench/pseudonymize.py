"""Alert pseudonymization over a real-world corpus: recall, over-redaction and speed.

The corpus (tests/alerts/realworld.py) holds alerts in the styles real systems post:
Prometheus node/blackbox/SNMP exporter rules through Alertmanager, Grafana, Zabbix,
LibreNMS, Nagios/Icinga, PRTG, Windows events and vendor syslog lines. Every
identifier planted in it and every value that must stay readable is recorded.

Reported, for the tuning slice and for a held-out slice (a seed nobody tuned
against): recall per identifier kind (removed / planted; the target is 1.0) and
over-redaction (readable values destroyed / total; at most 2%). Speed is alerts per
second on one core, each payload parsed, pseudonymized and serialized, beside the
same corpus merely parsed and serialized (json.loads + json.dumps) in the same run.
The best of five rounds counts (the machine is shared: slower rounds measure its
neighbours). "warm" keeps one engine per client, as ingest does, over alerts it has
never seen; "repeat" sends the same corpus through that engine again (alerts that fire
again, as monitoring streams mostly are); "cold" builds a new engine for every payload
(no cache at all). With the ``bench`` extra, Microsoft
Presidio (regex recognizers only) runs on a sample of the same corpus.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

ROUNDS = 5
SAMPLES = 600


def run(seconds: float = 5.0) -> Iterator[dict[str, Any]]:
    from tests.alerts.realworld import HELDOUT_SEED, TUNING_SEED, generate

    tuning, heldout = generate(SAMPLES, TUNING_SEED), generate(SAMPLES, HELDOUT_SEED)
    yield from _speed(tuning)
    for name, corpus in (("tuning", tuning), ("heldout", heldout)):
        yield from _quality(name, corpus)
    yield from _presidio(tuning)


def _engine() -> Any:
    from custody.alerts.pseudonym import Pseudonymizer
    from tests.alerts.realworld import inventory

    return Pseudonymizer(os.urandom(32), known_names=inventory())


def _apply(engine: Any, kind: str, payload: Any) -> Any:
    from custody.alerts.formats import pseudonymize

    return pseudonymize(engine, payload, kind)[1]


def _speed(corpus: list[Any]) -> Iterator[dict[str, Any]]:
    raw = [(s.kind, json.dumps(s.payload)) for s in corpus]
    alerts = sum(s.alerts for s in corpus)
    baseline, warm, repeat, cold = [], [], [], []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        for _, text in raw:
            json.dumps(json.loads(text))
        baseline.append(alerts / (time.perf_counter() - started))
        engine = _engine()
        started = time.perf_counter()
        for kind, text in raw:
            json.dumps(_apply(engine, kind, json.loads(text)))
        warm.append(alerts / (time.perf_counter() - started))
        started = time.perf_counter()
        for kind, text in raw:
            json.dumps(_apply(engine, kind, json.loads(text)))
        repeat.append(alerts / (time.perf_counter() - started))
        started = time.perf_counter()
        for kind, text in raw:
            json.dumps(_apply(_engine(), kind, json.loads(text)))
        cold.append(alerts / (time.perf_counter() - started))
    base = max(baseline)
    note = "throughput ratio = ours / json.loads+json.dumps alone; higher is better"
    for label, speeds in (("warm", warm), ("repeat", repeat), ("cold", cold)):
        yield {"metric": f"alerts_per_second_{label}", "value": round(max(speeds)),
               "unit": "alerts/s/core", "median": round(statistics.median(speeds)),
               "alerts": alerts, "baseline": round(base),
               "ratio": round(max(speeds) / base, 4), "note": note}


def _quality(name: str, corpus: list[Any]) -> Iterator[dict[str, Any]]:
    from tests.alerts.realworld import destroyed, leaks

    engine = _engine()
    planted: Counter[str] = Counter()
    left: Counter[str] = Counter()
    survive: Counter[str] = Counter()
    lost: Counter[str] = Counter()
    examples: dict[str, str] = {}
    for sample in corpus:
        out = _apply(engine, sample.kind, sample.payload)
        planted.update(k for k, _ in set(sample.planted))
        survive.update(c for c, _ in set(sample.survive))
        for kind, value in leaks(out, sample):
            left[kind] += 1
            examples.setdefault(kind, f"{sample.system}: {value}")
        for cls, value in destroyed(out, sample):
            lost[cls] += 1
            examples.setdefault("lost " + cls, f"{sample.system}: {value}")
    for kind in sorted(planted):
        row = {"metric": f"recall_{kind}", "slice": name,
               "value": round(1 - left[kind] / planted[kind], 4), "unit": "removed/planted",
               "planted": planted[kind], "left": left[kind], "target": 1.0}
        if left[kind]:
            row["example"] = examples[kind]
        yield row
    total, gone = sum(survive.values()), sum(lost.values())
    yield {"metric": "over_redaction", "slice": name, "value": round(gone / total, 4),
           "unit": "destroyed/total", "destroyed": gone, "total": total, "target": 0.02,
           "by_class": {c: f"{lost[c]}/{survive[c]}" for c in sorted(survive)},
           "examples": {k: v for k, v in examples.items() if k.startswith("lost ")}}


def _presidio(corpus: list[Any]) -> Iterator[dict[str, Any]]:
    try:
        from bench.presidio_engine import PresidioEngine
    except ImportError:
        yield {"metric": "presidio", "skipped": "install the bench extra: pip install -e .[bench]"}
        return
    from tests.alerts.realworld import leaks

    engine = PresidioEngine()
    sample = corpus[:100]  # it is slow: a sample keeps the run short
    alerts = sum(s.alerts for s in sample)
    started = time.perf_counter()
    results = [engine.alertmanager(s.payload) for s in sample]
    speed = alerts / (time.perf_counter() - started)
    planted = sum(len(set(s.planted)) for s in sample)
    left = sum(len(leaks(out, s)) for out, s in zip(results, sample, strict=True))
    yield {"metric": "presidio_alerts_per_second", "value": round(speed, 1),
           "unit": "alerts/s/core", "alerts": alerts, "recall": round(1 - left / planted, 4),
           "note": "Presidio's regex recognizers on the same corpus's first 100 payloads"}
