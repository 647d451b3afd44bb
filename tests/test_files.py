"""Files at rest are for custody's own user: 0600 files, 0700 folders, whatever the umask
custody starts with and whatever modes an older install left behind."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from tests.peers import free_port
from tests.served import running

CUSTODY = str(Path(sys.executable).parent / "custody")


def open_to_others(root: Path) -> list[str]:
    return [f"{p.relative_to(root)} {stat.S_IMODE(p.lstat().st_mode):04o}"
            for p in [root, *root.rglob("*")] if p.lstat().st_mode & 0o077]


def test_every_file_custody_writes_is_private_and_an_old_install_is_tightened(
        tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUSTODY_")}
    site = tmp_path / "site"
    done = subprocess.run([CUSTODY, "init", "--dir", str(site)], env=env, capture_output=True,
                          text=True, timeout=120, preexec_fn=lambda: os.umask(0o022))
    assert done.returncode == 0, done.stderr
    assert open_to_others(site) == []  # config, database, keys, secret store

    # An install made before, or by hand: the data folder and its files open to all.
    for path in (site, site / "var"):
        path.chmod(0o755)
    for path in (site / "var").glob("*"):
        path.chmod(0o644)
    loosened = open_to_others(site)
    assert any(line.startswith("var/custody.db ") for line in loosened)
    port = free_port()
    with running(["serve", "--port", str(port)], site, port) as served:
        pass
    told = served.stdout
    for name in ("custody.db", "kek.key", "session.key", "secrets.db"):
        assert f"var/{name}: mode 0644 -> 0600" in told, told
    assert "var: mode 0755 -> 0700" in told
    # What serve wrote meanwhile (WAL files, sockets, metrics) is private too; the
    # config's folder is the user's own business and stays as it was (and serve.log is
    # this test's own).
    assert [line for line in open_to_others(site)
            if not line.startswith("serve.log ")] == [". 0755"]
