"""One active scheduler across nodes: two `custody scheduler` processes on one PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from custody.config import Settings
from tests.peers import PostgresCluster

CUSTODY = str(Path(sys.executable).parent / "custody")


def start(config: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUSTODY_")}
    env["CUSTODY_CONFIG"] = str(config)
    with open(log, "wb") as fh:
        return subprocess.Popen([CUSTODY, "scheduler"], env=env, stdout=fh,
                                stderr=subprocess.STDOUT, start_new_session=True)


def wait_for(path: Path, text: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in path.read_text(errors="replace"):
            return
        time.sleep(0.2)
    raise AssertionError(f"{text!r} not in {path.name}: {path.read_text()!r}")


@pytest.fixture
def database_url(postgres: PostgresCluster) -> str:
    """Only PostgreSQL: the leader lock is its advisory lock (SQLite installs are one node)."""
    return postgres.new_database()


def test_only_one_scheduler_is_active(settings: Settings, tmp_path: Path) -> None:
    from custody.services import build_services

    build_services(settings).engine.dispose()  # migrate once, before both start
    config = settings.base_dir / "custody.toml"
    a_log, b_log = tmp_path / "a.log", tmp_path / "b.log"
    a = start(config, a_log)
    wait_for(a_log, "scheduler active")
    b = start(config, b_log)
    try:
        wait_for(b_log, "scheduler standing by")
        time.sleep(3)
        assert "scheduler active" not in b_log.read_text()
        os.killpg(a.pid, signal.SIGKILL)  # the active node dies without cleaning up
        a.wait(timeout=10)
        wait_for(b_log, "scheduler active")  # the standby took over
    finally:
        for proc in (a, b):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=15)
