"""CSV import of engagement dates: dry run shows the plan change; a bad file imports nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from custody.clients.models import Engagement
from tests.lab import Lab
from tests.peers import SshDevice
from tests.purge.helpers import schedule

CUSTODY = str(Path(sys.executable).parent / "custody")


def cli(lab: Lab, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUSTODY_")}
    return subprocess.run([CUSTODY, "--config", str(lab.services.settings.base_dir / "custody.toml"),
                           *args], capture_output=True, text=True, timeout=60, env=env)


def engagements(lab: Lab) -> list[tuple[str, object, object]]:
    with lab.services.db() as db:
        return [(e.title, e.paid_at, e.warranty_until)
                for e in db.scalars(select(Engagement).order_by(Engagement.id))]


def test_import_with_dry_run(lab: Lab, sshd: SshDevice, tmp_path: Path) -> None:
    a = lab.enrol(sshd.port, name="edge-a", pin=False)
    b = lab.enrol(sshd.port, name="edge-b", pin=False)
    csv = tmp_path / "dates.csv"
    csv.write_text("client,device,engagement,paid_at,warranty_until\n"
                   "Acme,edge-a,Refresh 2026,2026-09-01,2026-10-01\n"
                   "Acme,edge-b,Refresh 2026,2026-09-01,2026-10-01\n"
                   "Acme,edge-b,Support,,\n")
    dry = cli(lab, "import", "devices", str(csv), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would import 3 rows (2 new engagements)" in dry.stdout
    assert f"device:{a} edge-a: no_engagement -> due" in dry.stdout
    assert f"device:{b} edge-b: no_engagement -> waiting_for_payment" in dry.stdout
    assert engagements(lab) == []  # a dry run keeps nothing
    real = cli(lab, "import", "devices", str(csv))
    assert real.returncode == 0 and "imported 3 rows" in real.stdout
    plan = schedule(lab)
    assert plan[f"device:{a}"]["state"] == "due"
    assert plan[f"device:{b}"]["state"] == "waiting_for_payment"
    plan_out = cli(lab, "purge", "plan")
    assert plan_out.returncode == 0 and "edge-a" in plan_out.stdout and "due" in plan_out.stdout
    assert "Acme" in plan_out.stdout  # the client column
    import json

    planned = {i["name"]: i for i in json.loads(cli(lab, "purge", "plan", "--json").stdout)}
    assert planned["edge-a"]["client"] == "Acme" and planned["edge-a"]["client_id"] == lab.client_id


def test_bad_rows_are_reported_by_line_and_nothing_is_imported(lab: Lab, sshd: SshDevice,
                                                                tmp_path: Path) -> None:
    lab.enrol(sshd.port, name="edge-a", pin=False)
    csv = tmp_path / "bad.csv"
    csv.write_text("client,device,engagement,paid_at,warranty_until\n"
                   "Acme,edge-a,Good,2026-09-01,2026-12-01\n"
                   "Acme,edge-a,Swapped,2026-10-01,2026-09-01\n"
                   "Acme,edge-a,Bad date,01/09/2026,\n"
                   "Acme,,Empty device,2026-09-01,\n"
                   "Acme,edge-a\n")
    result = cli(lab, "import", "devices", str(csv))
    assert result.returncode == 1
    err = result.stderr
    assert "nothing was imported" in err
    assert "line 3: warranty_until (2026-09-01) is before paid_at (2026-10-01)" in err
    assert "line 4: paid_at '01/09/2026' is not an ISO date" in err
    assert "line 5: device is empty" in err
    assert "line 6: expected 5 fields, found 2" in err
    unknown = tmp_path / "unknown.csv"
    unknown.write_text("client,device,engagement,paid_at,warranty_until\n"
                       "Acme,edge-a,Good,2026-09-01,\nNobody,x,y,,\nAcme,ghost,z,,\n")
    result = cli(lab, "import", "devices", str(unknown))
    assert result.returncode == 1
    assert "line 3: client 'Nobody' not found" in result.stderr
    assert "line 4: client 'Acme' has no device 'ghost'" in result.stderr
    header = tmp_path / "header.csv"
    header.write_text("name,device\nx,y\n")
    assert "line 1: the header must be exactly" in cli(lab, "import", "devices", str(header)).stderr
    assert engagements(lab) == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # nothing differs by database
def test_purge_run_asks_on_a_terminal_and_without_one_needs_yes(
        lab: Lab, sshd: SshDevice) -> None:
    """Nothing is destroyed by a `purge run` nobody confirmed: without a terminal it
    refuses unless --yes is given; on a terminal it lists what is due and asks, and "no"
    (the default) keeps everything."""
    import pty

    from custody.devices.models import Device
    from tests.purge.helpers import engagement

    device = lab.enrol(sshd.port, name="edge-a", pin=False)
    engagement(lab, [device], "2026-09-01", "2026-10-01")

    def kept() -> bool:
        with lab.services.db() as db:
            row = db.get(Device, device)
            return row is not None and row.purged_at is None

    refused = cli(lab, "purge", "run")
    assert refused.returncode == 1
    assert "refusing to destroy 1 target(s) without a confirmation" in refused.stderr
    assert "pass --yes" in refused.stderr and kept()
    assert cli(lab, "purge", "run", "--dry-run").returncode == 0 and kept()  # never asks

    env = {k: v for k, v in os.environ.items() if not k.startswith("CUSTODY_")}
    for answer, destroyed in ((b"\n", False), (b"y\n", True)):
        controller, terminal = pty.openpty()
        proc = subprocess.Popen([CUSTODY, "--config", str(lab.services.settings.base_dir
                                                          / "custody.toml"), "purge", "run"],
                                stdin=terminal, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env)
        os.close(terminal)
        os.write(controller, answer)
        out, err = proc.communicate(timeout=60)
        os.close(controller)
        assert f"device:{device}" in out.decode()  # what is due was shown before the question
        assert "Destroy the access data of these 1 target(s) now?" in out.decode()
        assert proc.returncode == (0 if destroyed else 1), err
        assert kept() is not destroyed
