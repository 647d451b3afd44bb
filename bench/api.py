"""API throughput: authenticated GET /api/v1/clients under gunicorn (2 workers) vs bare Flask.

Both servers run with the same gunicorn settings (2 gthread workers, 4 threads each)
and are loaded by the same client in the same run; ``ratio`` is custody / baseline.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.load import check_load, free_port, hammer, server

CLIENTS = 25


def _prepare(directory: Path) -> str:
    """An installation with some clients and an admin token; returns the token."""
    from custody.accounts.service import Principal
    from custody.cli import initialize
    from custody.config import load_settings
    from custody.db import transaction
    from custody.services import build_services

    initialize(directory, "admin")
    services = build_services(load_settings(directory / "custody.toml", environ={}))
    who = Principal(0, "bench", "admin", None)
    with transaction(services.db) as db:
        for i in range(CLIENTS):
            services.clients.create_client(db, who.actor, f"Client {i:03d}")
        token = services.tokens.create(db, "bench", "admin")
    services.engine.dispose()
    return token


def _row(metric: str, value: float, unit: str, baseline: float | None = None) -> dict[str, Any]:
    row: dict[str, Any] = {"metric": metric, "value": round(value, 2), "unit": unit}
    if baseline is not None:
        row |= {"baseline": round(baseline, 2), "ratio": round(value / baseline, 3)}
    return row


def run(seconds: float = 5.0) -> Iterator[dict[str, Any]]:
    bin_dir = Path(sys.executable).parent
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("CUSTODY_")}
    with tempfile.TemporaryDirectory(prefix="custody-bench-") as tmp:
        token = _prepare(Path(tmp))
        hello_port, api_port = free_port(), free_port()
        gunicorn = [str(bin_dir / "gunicorn"), "--workers", "2", "--worker-class", "gthread",
                    "--threads", "4", "--log-level", "warning"]
        with server([*gunicorn, "--bind", f"127.0.0.1:{hello_port}", "bench.hello:app"],
                      base_env | {"PYTHONPATH": str(Path(__file__).resolve().parents[1])},
                      hello_port):
            hammer("127.0.0.1", hello_port, "/hello", {}, 1.0)  # warm-up
            baseline = hammer("127.0.0.1", hello_port, "/hello", {}, seconds)
        env = base_env | {"CUSTODY_CONFIG": str(Path(tmp) / "custody.toml"),
                          "CUSTODY_SECURITY__API_RATE_LIMIT": "100000000 per minute",
                          "CUSTODY_LOGGING__LEVEL": "WARNING"}
        with server([str(bin_dir / "custody"), "serve", "--port", str(api_port)], env, api_port,
                    ready="/healthz"):
            headers = {"Authorization": f"Bearer {token}"}
            hammer("127.0.0.1", api_port, "/api/v1/clients", headers, 1.0)
            measured = hammer("127.0.0.1", api_port, "/api/v1/clients", headers, seconds)
    check_load(baseline, "baseline")
    check_load(measured, "custody")
    yield _row("requests_per_second", measured.rate, "req/s", baseline.rate)
    yield _row("latency_p50", measured.percentile(50), "ms", baseline.percentile(50))
    yield _row("latency_p99", measured.percentile(99), "ms", baseline.percentile(99))
