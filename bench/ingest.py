"""Alerts accepted per second over HTTP: Alertmanager webhooks posted to `custody serve`
(gunicorn, 2 workers), each acknowledged only after it is pseudonymized, stored and its
e-mail queued in the outbox, with the p99 latency of a post.

Batches carry 10 alerts, as an Alertmanager group of a busy rule does; every batch is a
different group with new identifiers, so nothing is deduplicated away. The baseline, in
the same run and under the same gunicorn settings, is a bare Flask endpoint that parses
the same JSON and answers 202.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.load import check_load, free_port, hammer, server

ALERTS_PER_BATCH = 10
BATCHES = 4000


def _prepare(directory: Path) -> tuple[str, int]:
    """An installation with a client, its verified contact and an alert source."""
    from custody.accounts.service import Principal
    from custody.cli import initialize
    from custody.config import load_settings
    from custody.db import transaction
    from custody.services import build_services

    initialize(directory, "admin")
    services = build_services(load_settings(directory / "custody.toml", environ={}))
    admin = Principal(1, "admin", "admin", None)
    with transaction(services.db) as db:
        client = services.clients.create_client(db, "bench", "Bench Client")
        contact = services.clients.add_contact(db, admin, client.id, "email",
                                               "noc@bench.example", ["alerts"])
        contact.verified_at = services.clock()
        _, token = services.alerts.sources.create_source(db, admin, "prom", "alertmanager", client.id)
    services.engine.dispose()
    return token, client.id


def _bodies() -> list[bytes]:
    import random

    from tests.alerts.corpus import payload

    rng = random.Random(3)
    return [json.dumps(payload(rng, ALERTS_PER_BATCH)[0]).encode() for _ in range(BATCHES)]


def _stored(directory: Path) -> int:
    from sqlalchemy import func, select

    from custody.alerts.models import Notification
    from custody.config import load_settings
    from custody.services import build_services

    services = build_services(load_settings(directory / "custody.toml", environ={}))
    with services.db() as db:
        count = db.scalar(select(func.count()).select_from(Notification)) or 0
    services.engine.dispose()
    return int(count)


def run(seconds: float = 5.0) -> Iterator[dict[str, Any]]:
    bin_dir = Path(sys.executable).parent
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("CUSTODY_")}
    bodies = _bodies()
    json_headers = {"Content-Type": "application/json"}
    with tempfile.TemporaryDirectory(prefix="custody-bench-") as tmp:
        token, _ = _prepare(Path(tmp))
        hello_port, port = free_port(), free_port()
        gunicorn = [str(bin_dir / "gunicorn"), "--workers", "2", "--worker-class", "gthread",
                    "--threads", "4", "--log-level", "warning"]
        with server([*gunicorn, "--bind", f"127.0.0.1:{hello_port}", "bench.hello:app"],
                    base_env | {"PYTHONPATH": str(Path(__file__).resolve().parents[1])},
                    hello_port):
            hammer("127.0.0.1", hello_port, "/ingest", json_headers, 1.0,
                   bodies=itertools.cycle(bodies))
            baseline = hammer("127.0.0.1", hello_port, "/ingest", json_headers, seconds,
                              bodies=itertools.cycle(bodies))
        env = base_env | {"CUSTODY_CONFIG": str(Path(tmp) / "custody.toml"),
                          "CUSTODY_ALERTS__HOURLY_CAP": "100000000",
                          "CUSTODY_LOGGING__LEVEL": "WARNING"}
        with server([str(bin_dir / "custody"), "serve", "--port", str(port)], env, port):
            headers = json_headers | {"Authorization": f"Bearer {token}"}
            posted = iter(bodies)  # warm-up and measurement each post new batches
            hammer("127.0.0.1", port, "/ingest/alertmanager/prom", headers, 1.0, bodies=posted)
            measured = hammer("127.0.0.1", port, "/ingest/alertmanager/prom", headers, seconds,
                              bodies=posted)
        stored = _stored(Path(tmp))
    check_load(baseline, "baseline")
    check_load(measured, "custody")
    alerts = measured.rate * ALERTS_PER_BATCH
    yield {"metric": "alerts_per_second", "value": round(alerts, 1), "unit": "alerts/s",
           "baseline": round(baseline.rate * ALERTS_PER_BATCH, 1),
           "ratio": round(measured.rate / baseline.rate, 3),
           "batches": measured.requests, "errors": measured.errors,
           "alerts_per_batch": ALERTS_PER_BATCH, "stored": stored}
    yield {"metric": "latency_p99", "value": round(measured.percentile(99), 2), "unit": "ms",
           "baseline": round(baseline.percentile(99), 2),
           "p50": round(measured.percentile(50), 2)}
