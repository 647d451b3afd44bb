"""Purge throughput and plan scaling.

- device access purges per second for 10,000 due devices (credentials in the embedded
  store, a transcript chunk each), on SQLite and on a throwaway PostgreSQL 15;
- plan computation for 1,000, 10,000 and 100,000 devices, with the growth per device
  (``ratio`` against the 1,000-device run: 1.0 means perfectly linear).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert

PURGE_DEVICES = 10_000
PLAN_SIZES = (1_000, 10_000, 100_000)


def _install(directory: Path, database_url: str | None) -> Any:
    from custody.cli import initialize
    from custody.config import load_settings
    from custody.services import build_services

    initialize(directory, "admin")
    env = {"CUSTODY_DATABASE__URL": database_url} if database_url else {}
    return build_services(load_settings(directory / "custody.toml", environ=env))


def _populate(svc: Any, devices: int, with_secrets: bool) -> None:
    """Bulk-load clients, due engagements and devices (and their credentials)."""
    from custody.clients.models import Client, Engagement, engagement_devices
    from custody.devices.models import Device

    now = datetime.now(UTC)
    paid = datetime(2020, 1, 1, tzinfo=UTC)
    per_client = 100
    clients = max(1, devices // per_client)
    with svc.engine.begin() as conn:
        conn.execute(insert(Client), [{"id": c + 1, "name": f"client {c}", "status": "active",
                                        "created_at": now} for c in range(clients)])
        conn.execute(insert(Engagement), [{"id": c + 1, "client_id": c + 1, "title": "job",
                                            "created_at": now, "paid_at": paid}
                                           for c in range(clients)])
        rows = []
        for d in range(devices):
            cid = d // per_client + 1
            rows.append({"id": d + 1, "client_id": cid, "name": f"dev-{d}", "host": "10.0.0.1",
                         "port": 22, "device_type": "linux", "egress_ip": "127.0.0.2",
                         "host_key": "ssh-ed25519 AAAA", "access_state": "active",
                         "created_at": now,
                         "secret_path": f"client-{cid}/devices/{d + 1}" if with_secrets else None})
        for start in range(0, devices, 5000):
            conn.execute(insert(Device), rows[start:start + 5000])
            conn.execute(insert(engagement_devices), [
                {"engagement_id": r["client_id"], "device_id": r["id"]}
                for r in rows[start:start + 5000]])
    if with_secrets:
        for r in rows:
            svc.secrets.put(r["secret_path"], {"username": "u", "password": "p" * 16})


def _purge_rate(database_url: str | None, label: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="custody-bench-") as tmp:
        svc = _install(Path(tmp), database_url)
        _populate(svc, PURGE_DEVICES, with_secrets=True)
        started = time.perf_counter()
        result = svc.purge.run("bench")
        elapsed = time.perf_counter() - started
        assert len(result.receipts) == PURGE_DEVICES, len(result.receipts)
        svc.engine.dispose()
    return {"metric": f"device_purges_per_second_{label}", "value": round(PURGE_DEVICES / elapsed, 1),
            "unit": "purges/s", "devices": PURGE_DEVICES}


def run(seconds: float = 5.0) -> Iterator[dict[str, Any]]:
    yield _purge_rate(None, "sqlite")
    if os.geteuid() == 0 and Path("/usr/lib/postgresql/15/bin/initdb").exists():
        from tests.peers import PostgresCluster

        cluster = PostgresCluster()
        try:
            yield _purge_rate(cluster.new_database(), "postgresql")
        finally:
            cluster.stop()
    per_device: dict[int, float] = {}
    for size in PLAN_SIZES:
        with tempfile.TemporaryDirectory(prefix="custody-bench-") as tmp:
            svc = _install(Path(tmp), None)
            _populate(svc, size, with_secrets=False)
            with svc.db() as db:
                svc.purge.plan(db)  # warm caches
                started = time.perf_counter()
                items = svc.purge.plan(db)
                elapsed = time.perf_counter() - started
            assert len(items) == size
            svc.engine.dispose()
        per_device[size] = elapsed / size
        row: dict[str, Any] = {"metric": f"plan_{size}_devices", "value": round(elapsed * 1000, 1),
                               "unit": "ms"}
        if size != PLAN_SIZES[0]:
            base = per_device[PLAN_SIZES[0]]
            row |= {"baseline": round(base * size * 1000, 1),
                    "ratio": round(per_device[size] / base, 3)}
        yield row
