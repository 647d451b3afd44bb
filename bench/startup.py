"""How fast the command line starts: `custody --help` and `custody alerts pseudonymize`.

Each is run as a fresh process several times; the value is the median wall time. The
baseline is a bare `python -c pass` in the same run (the interpreter's own start).
Targets: 300 ms for --help, 500 ms for pseudonymize (an installation with one client,
one small Alertmanager payload on stdin).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CUSTODY = Path(sys.executable).with_name("custody")
PAYLOAD = json.dumps({"version": "4", "status": "firing", "receiver": "custody",
                      "groupKey": "{}:{}", "commonLabels": {}, "commonAnnotations": {},
                      "groupLabels": {}, "externalURL": "http://127.0.0.1:9093", "alerts": [
                          {"status": "firing", "labels": {"alertname": "HostDown",
                                                          "instance": "10.20.30.40:9100"},
                           "annotations": {"summary": "host web01.acme.example is down"},
                           "startsAt": "2026-11-29T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
                           "generatorURL": "http://127.0.0.1:9090/graph",
                           "fingerprint": "abc"}]}).encode()


def _median_ms(argv: list[str], rounds: int, stdin: bytes = b"", env: dict[str, str] | None = None
               ) -> float:
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        subprocess.run(argv, input=stdin, capture_output=True, check=True, env=env)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def run(seconds: float = 5.0) -> Iterator[dict[str, Any]]:
    from custody.cli import initialize
    from custody.config import load_settings
    from custody.db import transaction
    from custody.services import build_services

    rounds = max(5, int(seconds * 2))
    baseline = _median_ms([sys.executable, "-c", "pass"], rounds)
    help_ms = _median_ms([str(CUSTODY), "--help"], rounds)
    yield {"metric": "help", "value": round(help_ms, 1), "unit": "ms",
           "baseline": round(baseline, 1), "ratio": round(help_ms / baseline, 2), "target": 300}

    with tempfile.TemporaryDirectory(prefix="custody-bench-") as tmp:
        initialize(Path(tmp), "admin")
        config = Path(tmp) / "custody.toml"
        svc = build_services(load_settings(config))
        with transaction(svc.db) as db:
            svc.clients.create_client(db, "bench", "Bench client")
        svc.engine.dispose()
        env = {**os.environ, "CUSTODY_CONFIG": str(config)}
        argv = [str(CUSTODY), "alerts", "pseudonymize", "--client", "Bench client"]
        value = _median_ms(argv, rounds, PAYLOAD, env)
        yield {"metric": "alerts_pseudonymize", "value": round(value, 1), "unit": "ms",
               "baseline": round(baseline, 1), "ratio": round(value / baseline, 2),
               "target": 500}
