"""A running `custody serve` for alert sources that post over real HTTP."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from custody.cli import initialize
from custody.config import load_settings
from custody.db import transaction
from custody.services import Services, build_services
from tests.peers import SmtpSink, free_port, wait_for_port


@dataclass
class Served:
    base: str
    site: Path
    services: Services
    admin: dict[str, str]


@pytest.fixture
def served(tmp_path: Path, smtp: SmtpSink) -> Iterator[Served]:
    site = tmp_path / "site"
    port = free_port()
    initialize(site, "boss", port)
    config = site / "custody.toml"
    config.write_text(config.read_text().replace("port = 25", f"port = {smtp.port}"))
    svc = build_services(load_settings(config, environ={}))
    with transaction(svc.db) as db:
        token = svc.accounts.create_token(db, "test", "boss")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUSTODY_")}
    log = open(site / "serve.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen([str(Path(sys.executable).parent / "custody"), "serve"], cwd=site,
                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for_port("127.0.0.1", port, timeout=30)
        yield Served(f"http://127.0.0.1:{port}", site, svc, {"Authorization": f"Bearer {token}"})
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()
        svc.engine.dispose()
