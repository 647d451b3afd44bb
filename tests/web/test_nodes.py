"""Two `custody serve` nodes on one PostgreSQL database, as behind a load balancer."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import requests

from tests.peers import PostgresCluster, free_port
from tests.served import running

CUSTODY = str(Path(sys.executable).parent / "custody")


def test_a_persons_api_limit_holds_across_nodes(tmp_path: Path,
                                                postgres: PostgresCluster) -> None:
    """Each node runs two workers with memory of their own; a person's calls are still
    counted together, through the database, whichever node and worker answers."""
    shared = {"CUSTODY_DATABASE__URL": postgres.new_database(),
              "CUSTODY_SECURITY__API_RATE_LIMIT": "6 per minute"}
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CUSTODY_")}

    def cli(*args: str, stdin: str | None = None) -> str:
        done = subprocess.run([CUSTODY, *args], cwd=tmp_path / "site", input=stdin, text=True,
                              capture_output=True, timeout=120, env=clean | shared)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    assert subprocess.run([CUSTODY, "init", "--dir", "site"], cwd=tmp_path, env=clean,
                          capture_output=True, timeout=120).returncode == 0
    cli("user", "create", "boss", "--role", "admin", "--password-stdin",
        stdin="Boss-Pass-12345\n")
    token = cli("token", "create", "boss")
    site, a, b = tmp_path / "site", free_port(), free_port()
    node_b = shared | {"CUSTODY_BROKER__SOCKET": "var/broker-b.sock"}  # per-node settings
    with running(["serve", "--port", str(a)], site, a, env=shared), \
            running(["serve", "--port", str(b)], site, b, env=node_b):
        statuses = []
        for n in range(9):
            port = (a, b)[n % 2]
            statuses.append(requests.get(f"http://127.0.0.1:{port}/api/v1/clients", timeout=30,
                                         headers={"Authorization": f"Bearer {token}",
                                                  "Connection": "close"}).status_code)
    assert statuses == [200] * 6 + [429] * 3
