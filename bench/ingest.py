"""Alerts accepted per second over HTTP: Alertmanager webhooks posted to `custody serve`
(gunicorn, 2 workers), each acknowledged only after it is pseudonymized, stored and its
e-mail queued in the outbox, with the p99 latency of a post.

Batches carry 10 alerts, as an Alertmanager group of a busy rule does; every batch brings
new identifiers (devices, addresses, people), so nothing is deduplicated away and the
pseudonymizer's caches do not help; batches of one group's device fold into its waiting
e-mail. The client has an inventory of 1,000 devices, whose names and addresses the
pseudonymizer knows as the client's (a provider's client, not an empty one). The
baseline, in the same run and under the same gunicorn settings, is a bare Flask endpoint
that parses the same JSON and answers 202.

The same load also runs on a second installation with 100,000 alerts already stored (a
month of a busy client's, each group's e-mail sent): its rate and p99 against the empty
one's, and the size its SQLite write-ahead log reached.

The three servers run side by side and are loaded in turns (SLICES each), so that a
slower spell of a shared machine falls on all of them alike rather than on one.
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

from bench.load import LoadResult, check_load, combined, free_port, hammer, server

ALERTS_PER_BATCH = 10
MOST_BATCHES_PER_SECOND = 400  # more than custody takes: bodies never run out
STORED = 100_000
DEVICES = 1_000
SLICES = 5  # turns each server is loaded in, one after the other


def _prepare(directory: Path) -> tuple[str, int]:
    """An installation with a client, its devices, its verified contact and an alert
    source."""
    from sqlalchemy import insert

    from custody.accounts.service import Principal
    from custody.cli import initialize
    from custody.config import load_settings
    from custody.db import transaction
    from custody.devices.models import Device
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
        sites = ("zentrale", "lager", "werk", "filiale")
        db.execute(insert(Device), [{
            "client_id": client.id, "name": f"{sites[i % 4]}-sw{i:04d}",
            "host": f"10.{i // 256 % 256}.{i % 256}.1" if i % 3 else f"fw{i}.{sites[i % 4]}.bench.example",
            "port": 22, "device_type": "cisco_ios", "created_at": services.clock()}
            for i in range(DEVICES)])
    services.engine.dispose()
    return token, client.id


def _bodies(count: int) -> list[bytes]:
    import random

    from tests.alerts.corpus import payload

    rng = random.Random(3)
    return [json.dumps(payload(rng, ALERTS_PER_BATCH)[0]).encode() for _ in range(count)]


def _prefill(directory: Path, count: int) -> None:
    """``count`` alerts stored as ingest stores them, ten to a group, one e-mail sent per
    group, received over the last month."""
    from datetime import timedelta

    from sqlalchemy import delete, func, select

    from custody.alerts.ingest import NOTIFICATIONS, OUTBOX
    from custody.alerts.models import AlertSource, Notification, OutboxMessage
    from custody.clients.models import Contact
    from custody.config import load_settings
    from custody.db import transaction
    from custody.services import build_services

    services = build_services(load_settings(directory / "custody.toml", environ={}))
    now = services.clock()
    with transaction(services.db) as db:
        source = db.scalars(select(AlertSource)).one()
        contact_id = db.scalars(select(Contact.id)).one()
        db.execute(delete(OutboxMessage))  # the empty run's e-mails, waiting: sent long ago
        first = (db.scalar(select(func.max(Notification.id))) or 0) + 1
        for start in range(0, count, 5000):
            ids = range(first + start, first + min(start + 5000, count))
            when = [now - timedelta(seconds=25 * (first + count - i)) for i in ids]
            db.execute(NOTIFICATIONS.insert(), [{
                "id": i, "source_id": source.id, "client_id": source.client_id,
                "dedup_key": f"{i:064x}", "group_id": f"group-{i // 10:016x}",
                "status": "firing", "alertname": "PacketLoss", "received_at": at,
                "payload": {"status": "firing", "labels": {
                    "alertname": "PacketLoss", "device": f"host-{i % 997:08x}",
                    "instance": f"ip-{i % 991:08x}:9116", "severity": "warning",
                    "ifName": "Gi0/1"}, "annotations": {
                    "summary": f"PacketLoss on host-{i % 997:08x} (ip-{i % 991:08x})"},
                    "fingerprint": f"{i:016x}", "startsAt": "2026-11-23T10:00:00Z"}}
                for i, at in zip(ids, when, strict=True)])
            db.execute(OUTBOX.insert(), [{
                "notification_id": i, "contact_id": contact_id, "subject": "[firing] PacketLoss",
                "body": "- firing: PacketLoss", "state": "sent", "attempts": 1,
                "next_attempt_at": at, "sent_at": at, "created_at": at}
                for i, at in zip(ids, when, strict=True) if i % 10 == 0])
    services.engine.dispose()


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


def _wal_bytes(directory: Path) -> int:
    wal = directory / "var" / "custody.db-wal"
    return wal.stat().st_size if wal.exists() else 0


def run(seconds: float = 5.0) -> Iterator[dict[str, Any]]:
    bin_dir = Path(sys.executable).parent
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("CUSTODY_")}
    per_run = int(MOST_BATCHES_PER_SECOND * (seconds + 1))
    bodies = _bodies(2 * per_run)
    json_headers = {"Content-Type": "application/json"}
    with tempfile.TemporaryDirectory(prefix="custody-bench-") as tmp:
        empty_dir, full_dir = Path(tmp) / "empty", Path(tmp) / "full"
        empty_dir.mkdir()
        full_dir.mkdir()
        tokens = {folder: _prepare(folder)[0] for folder in (empty_dir, full_dir)}
        _prefill(full_dir, STORED)
        gunicorn = [str(bin_dir / "gunicorn"), "--workers", "2", "--worker-class", "gthread",
                    "--threads", "4", "--log-level", "warning"]
        hello_port = free_port()
        hello = [*gunicorn, "--bind", f"127.0.0.1:{hello_port}", "bench.hello:app"]
        hello_env = base_env | {"PYTHONPATH": str(Path(__file__).resolve().parents[1])}
        ports = {folder: free_port() for folder in tokens}

        def custody(folder: Path) -> Any:
            env = base_env | {"CUSTODY_CONFIG": str(folder / "custody.toml"),
                              "CUSTODY_ALERTS__HOURLY_CAP": "100000000",
                              "CUSTODY_LOGGING__LEVEL": "WARNING"}
            return server([str(bin_dir / "custody"), "serve", "--port", str(ports[folder])],
                          env, ports[folder], ready="/healthz")

        def bare(duration: float) -> LoadResult:
            return hammer("127.0.0.1", hello_port, "/ingest", json_headers, duration,
                          bodies=itertools.cycle(bodies))

        posted = {empty_dir: iter(bodies[:per_run]), full_dir: iter(bodies[per_run:])}

        def ingest(folder: Path, duration: float) -> LoadResult:
            # warm-up and measurement each post new batches
            return hammer("127.0.0.1", ports[folder], "/ingest/alertmanager/prom",
                          json_headers | {"Authorization": f"Bearer {tokens[folder]}"},
                          duration, bodies=posted[folder])

        with server(hello, hello_env, hello_port), custody(empty_dir), custody(full_dir):
            bare(1.0)
            ingest(empty_dir, 1.0)
            ingest(full_dir, 1.0)
            turns, wal = [], 0
            for _ in range(SLICES):
                turns.append((bare(seconds / SLICES), ingest(empty_dir, seconds / SLICES),
                              ingest(full_dir, seconds / SLICES)))
                # the log as each turn leaves it (once the servers stop, it is folded away)
                wal = max(wal, _wal_bytes(full_dir))
        baseline = combined([turn[0] for turn in turns])
        measured = [combined([turn[1] for turn in turns]), combined([turn[2] for turn in turns])]
        stored = _stored(empty_dir)
    empty, full = measured
    check_load(baseline, "baseline")
    check_load(empty, "custody")
    check_load(full, "custody with alerts stored")
    yield {"metric": "alerts_per_second", "value": round(empty.rate * ALERTS_PER_BATCH, 1),
           "unit": "alerts/s", "baseline": round(baseline.rate * ALERTS_PER_BATCH, 1),
           "ratio": round(empty.rate / baseline.rate, 3),
           "batches": empty.requests, "errors": empty.errors,
           "alerts_per_batch": ALERTS_PER_BATCH, "concurrency": 8, "stored": stored}
    yield {"metric": "latency_p99", "value": round(empty.percentile(99), 2), "unit": "ms",
           "baseline": round(baseline.percentile(99), 2),
           "p50": round(empty.percentile(50), 2)}
    # The baseline of these two: the same load on the empty database, in this run.
    yield {"metric": "alerts_per_second_100k_stored",
           "value": round(full.rate * ALERTS_PER_BATCH, 1), "unit": "alerts/s",
           "baseline": round(empty.rate * ALERTS_PER_BATCH, 1),
           "ratio": round(full.rate / empty.rate, 3), "batches": full.requests,
           "errors": full.errors, "stored_before": STORED,
           "wal_megabytes_after": round(wal / 2**20, 1)}
    yield {"metric": "latency_p99_100k_stored", "value": round(full.percentile(99), 2),
           "unit": "ms", "baseline": round(empty.percentile(99), 2),
           "p50": round(full.percentile(50), 2)}
