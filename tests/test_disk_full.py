"""A full disk under the data folder: writes are refused with 507 and a message that says
why, nothing half-written, nothing dies, and custody goes on by itself once space is freed.

The disk is a small tmpfs the test mounts (root only, as in CI)."""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from custody.cli import initialize
from custody.config import load_settings
from custody.db import transaction
from custody.services import build_services
from tests.peers import free_port
from tests.served import running

CUSTODY = str(Path(sys.executable).parent / "custody")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.fail("the disk-full test mounts a tmpfs: run the suite as root (scripts/test)")
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m,mode=0700", "tmpfs", str(disk)],
                   check=True)
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def fill(disk: Path) -> Path:
    """Write a file until the disk has no byte left."""
    filler = disk / "filler"
    block = b"\0" * (1 << 20)
    with open(filler, "wb", buffering=0) as fh:
        for size in (1 << 20, 1 << 12, 1):
            with contextlib.suppress(OSError):
                while True:
                    fh.write(block[:size])
    probe = disk / "probe"
    with pytest.raises(OSError) as full, open(probe, "wb", buffering=0) as fh:
        fh.write(b"x" * 8192)
    assert full.value.errno == errno.ENOSPC
    probe.unlink(missing_ok=True)
    return filler


def test_a_full_disk_refuses_writes_clearly_and_custody_recovers_by_itself(
        small_disk: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUSTODY_")}
    site = small_disk / "site"

    def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([CUSTODY, *args], cwd=site, env=env, input=stdin, text=True,
                              capture_output=True, timeout=120)

    initialize(site, "boss")  # as `custody init` does
    services = build_services(load_settings(site / "custody.toml", environ={}))
    with transaction(services.db) as db:
        h = {"Authorization": f"Bearer {services.tokens.create(db, 'test', 'boss')}"}
    services.engine.dispose()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with running(["serve", "--port", str(port)], site, port) as served:
        assert requests.post(f"{base}/api/v1/clients", headers=h, json={"name": "Before"},
                             timeout=30).status_code == 201
        filler = fill(small_disk)
        refused = [requests.post(f"{base}/api/v1/clients", headers=h, timeout=30,
                                 json={"name": f"During {n}" + "x" * 180}) for n in range(5)]
        assert {r.status_code for r in refused} == {507}, [r.text for r in refused]
        assert "disk" in refused[0].json()["error"]["message"]
        assert refused[0].json()["error"]["code"] == "storage_full"
        # Reading goes on, and every process is still there.
        listed = requests.get(f"{base}/api/v1/clients", headers=h, timeout=30)
        assert listed.status_code == 200
        assert [c["name"] for c in listed.json()["items"]] == ["Before"]
        health = requests.get(f"{base}/healthz", timeout=30)
        assert health.status_code == 200, health.text[:300]
        assert served.proc.poll() is None
        one_line = cli("user", "create", "tina", "--role", "technician", "--password-stdin",
                       stdin="Tina-Pass-12345\n")
        assert one_line.returncode == 1
        assert one_line.stderr.strip().splitlines() == [
            "error: the disk that holds custody's data is full: free some space and run "
            "this again (nothing was changed)"]

        filler.unlink()  # space again: no restart
        after = requests.post(f"{base}/api/v1/clients", headers=h, json={"name": "After"},
                              timeout=30)
        assert after.status_code == 201, after.text
        names = [c["name"] for c in requests.get(f"{base}/api/v1/clients", headers=h,
                                                 timeout=30).json()["items"]]
        assert sorted(names) == ["After", "Before"]  # nothing of the refused writes
    verify = cli("audit", "verify")
    assert verify.returncode == 0, verify.stderr
