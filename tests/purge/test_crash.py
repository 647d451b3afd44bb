"""Crash safety: a purge killed with SIGKILL at any step is finished by the next run."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from custody.clients.models import Client
from custody.devices.models import Device
from custody.purge.models import PurgeReceipt
from tests.lab import Lab
from tests.peers import SshDevice
from tests.purge.helpers import engagement

HELPER = Path(__file__).with_name("crash_purge.py")


def crash(lab: Lab, step: str) -> None:
    config = lab.services.settings.base_dir / "custody.toml"
    result = subprocess.run([sys.executable, str(HELPER), str(config), step], timeout=120,
                            capture_output=True, text=True)
    assert result.returncode == -signal.SIGKILL, result.stderr


@pytest.mark.parametrize("step", ["device:receipt", "device:secrets", "device:before-commit"])
def test_device_purge_resumes(lab: Lab, sshd: SshDevice, step: str) -> None:
    devices = [lab.enrol(sshd.port, name=f"edge-{n}") for n in range(3)]
    engagement(lab, devices, paid="2026-09-01", warranty="2026-10-01")
    crash(lab, step)  # dies on the first device, mid-batch
    result = lab.services.purge.run("test")
    with lab.services.db() as db:
        receipts = db.scalars(select(PurgeReceipt).order_by(PurgeReceipt.target_id)).all()
        assert [(r.target_id, r.state) for r in receipts] == [(d, "done") for d in devices]
        first = receipts[0]
        # The interrupted purge's receipt still names the secret and version it destroyed.
        assert first.secrets == [{"path": f"client-{lab.client_id}/devices/{devices[0]}",
                                  "versions": [1]}]
        assert first.counts["secret_versions"] == 1
        assert all(db.get(Device, d).access_state == "purged" for d in devices)  # type: ignore[union-attr]
    assert lab.services.secrets.list_paths(f"client-{lab.client_id}/devices") == []
    assert len(result.receipts) == 3
    assert lab.services.purge.run("test").receipts == []


@pytest.mark.parametrize("step", ["client:receipt", "client:rows", "client:secrets"])
def test_client_purge_resumes(lab: Lab, sshd: SshDevice, step: str) -> None:
    device = lab.enrol(sshd.port)
    engagement(lab, [device], paid="2026-09-01", warranty=None)
    lab.client.post(f"/api/v1/clients/{lab.client_id}/close", headers=lab.admin)
    crash(lab, step)
    lab.services.purge.run("test")
    with lab.services.db() as db:
        [receipt] = db.scalars(select(PurgeReceipt)).all()
        assert receipt.state == "done" and receipt.kind == "client"
        assert receipt.counts["devices"] == 1 and receipt.counts["clients"] == 1
        assert db.get(Client, lab.client_id) is None
    assert lab.services.secrets.list_paths(f"client-{lab.client_id}") == []
