"""Server time of a list page as devices grow: the technician's devices page (its first
page, a later page through its cursor, and a search) and GET /api/v1/devices, with 1,000
and with 10,000 devices stored, in the web app itself (no HTTP, no browser).

The baseline of each 10,000-device row is the same page with 1,000 devices, in this run:
a ratio near 1 means a page costs the same however many devices there are.
"""

from __future__ import annotations

import re
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SIZES = (1_000, 10_000)
CLIENTS = 20


def _install(directory: Path, devices: int) -> tuple[Any, str]:
    """An installation with ``devices`` devices over 20 clients; an admin's API token."""
    from custody.accounts.passwords import Passwords
    from custody.cli import initialize
    from custody.clients.models import Client
    from custody.config import load_settings
    from custody.db import transaction
    from custody.devices.models import Device
    from custody.services import build_services
    from custody.web import create_app

    initialize(directory, "admin")
    services = build_services(load_settings(directory / "custody.toml", environ={}),
                              passwords=Passwords.cheap())
    now = datetime.now(UTC)
    with transaction(services.db) as db:
        services.accounts.create_user(db, "bench", "tina", "technician",
                                      password="Bench-Pass-12345")
        token = services.tokens.create(db, "bench", "admin")
        db.add_all(Client(name=f"client {n:02d}", status="active", created_at=now)
                   for n in range(CLIENTS))
        db.flush()
        db.execute(Device.__table__.insert(), [  # type: ignore[attr-defined]
            {"client_id": n % CLIENTS + 1, "name": f"sw-{n:06d}", "host": f"10.{n // 65536}."
             f"{n // 256 % 256}.{n % 256}", "port": 22, "device_type": "cisco_ios",
             "access_state": "active", "created_at": now} for n in range(devices)])
    return create_app(services=services), token


def _median_ms(call: Callable[[], Any], repeat: int) -> float:
    call()  # warm: templates compiled, statements cached
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def _measure(devices: int, repeat: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="custody-bench-") as tmp:
        app, token = _install(Path(tmp), devices)
        web = app.test_client()
        page = web.get("/login").get_data(as_text=True)
        csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
        web.post("/login", data={"username": "tina", "password": "Bench-Pass-12345",
                                 "csrf_token": csrf.group(1) if csrf else ""})
        first = web.get("/tech/devices").get_data(as_text=True)
        later = re.search(r'href="([^"]+)" rel="next"', first)
        if later is None:
            raise RuntimeError("the devices page has no next page")
        deep = later.group(1).replace("&amp;", "&")
        api = {"Authorization": f"Bearer {token}"}
        results = {
            "devices_page": _median_ms(lambda: web.get("/tech/devices"), repeat),
            "devices_next_page": _median_ms(lambda: web.get(deep), repeat),
            "devices_search": _median_ms(lambda: web.get("/tech/devices?q=sw-0007"), repeat),
            "api_devices": _median_ms(lambda: web.get("/api/v1/devices?limit=100",
                                                      headers=api), repeat),
        }
        app.extensions["custody"].engine.dispose()
        return results


def run(seconds: float = 5.0) -> Iterator[dict[str, Any]]:
    repeat = max(5, int(seconds * 4))
    small, large = (_measure(size, repeat) for size in SIZES)
    for metric in small:
        yield {"metric": f"{metric}_ms_at_{SIZES[1]}", "value": round(large[metric], 2),
               "unit": "ms", "baseline": round(small[metric], 2),
               "ratio": round(large[metric] / small[metric], 3),
               "baseline_is": f"the same at {SIZES[0]} devices"}
