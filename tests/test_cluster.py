"""scripts/cluster as a user runs it: two `serve` nodes joined over mutual TLS, two
schedulers, PostgreSQL and OpenBao (the run's own, passed in), a real sshd as the device."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy
from simple_websocket import Client as WsClient

from custody.config import load_settings
from custody.db import transaction
from custody.services import build_services
from tests.alerts.test_delivery import group_payload
from tests.peers import DEVICE_PASSWORD, DEVICE_USER, OpenBao, PostgresCluster, SmtpSink, SshDevice

ROOT = Path(__file__).parent.parent
CUSTODY = str(Path(sys.executable).parent / "custody")
LEASE = 3.0
API_LIMIT = 60  # calls per person per minute: the test's own people stay under it


@dataclass
class Cluster:
    dir: Path
    prefix: str
    pki: str
    state: dict[str, Any]
    admin: dict[str, str]
    tech: dict[str, str]
    busy: dict[str, str]  # a technician who only uses up her API limit
    cli: Callable[..., str]

    def url(self, node: str) -> str:
        return str(self.state["nodes"][node]["url"])

    def call(self, node: str, method: str, path: str, headers: dict[str, str],
             **kw: Any) -> requests.Response:
        return requests.request(method, self.url(node) + path, headers=headers, timeout=60,
                                **kw)

    def kill(self, process: str) -> None:
        os.killpg(self.state["processes"][process], signal.SIGKILL)

    def log(self, process: str) -> str:
        return (self.dir / "logs" / f"{process}.log").read_text(errors="replace")


def eventually(check: Callable[[], Any], timeout: float, what: str | Callable[[], str]
               ) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, \
            f"not within {timeout:.0f} s: {what if isinstance(what, str) else what()}"
        time.sleep(0.3)
    return result


def people(config: Path) -> tuple[str, str, str]:
    """API tokens of the cluster's admin and of two technicians, made in this process with
    the cluster's own configuration (as `custody user create` and `token create` would)."""
    services = build_services(load_settings(config, environ={}), run_migrations=False)
    try:
        with transaction(services.db) as db:
            for name in ("tina", "busy"):
                services.accounts.create_user(db, "test", name, "technician",
                                              password=f"{name.title()}-Pass-12345")
            admin, tina, busy = (services.tokens.create(db, "test", name)
                                 for name in ("admin", "tina", "busy"))
    finally:
        services.engine.dispose()
    return admin, tina, busy


@pytest.fixture
def cluster(tmp_path: Path, postgres: PostgresCluster, openbao: OpenBao, smtp: SmtpSink
            ) -> Iterator[Cluster]:
    folder = tmp_path / "cluster"
    tag = os.urandom(3).hex()
    up = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "cluster"), "up", str(folder),
         "--database-url", postgres.new_database(), "--vault-addr", openbao.url,
         "--vault-token", openbao.token, "--vault-prefix", f"cluster-{tag}",
         "--pki-mount", f"pki-cluster-{tag}", "--smtp-port", str(smtp.port),
         "--lease-seconds", str(LEASE), "--api-rate-limit", f"{API_LIMIT} per minute"],
        capture_output=True, text=True, timeout=300)
    try:
        assert up.returncode == 0, up.stderr
        assert re.search(r"node a: http://127\.0\.0\.1:\d+", up.stdout), up.stdout
        state = json.loads((folder / "cluster.json").read_text())
        env = {k: v for k, v in os.environ.items() if not k.startswith("CUSTODY_")}
        env["CUSTODY_CONFIG"] = state["config"]

        def cli(*args: str, stdin: str | None = None) -> str:
            done = subprocess.run([CUSTODY, *args], cwd=folder, env=env, input=stdin,
                                  text=True, capture_output=True, timeout=120)
            assert done.returncode == 0, done.stderr
            return done.stdout.strip()

        admin, tech, busy = people(Path(state["config"]))
        yield Cluster(folder, f"cluster-{tag}", f"pki-cluster-{tag}", state,
                      {"Authorization": f"Bearer {admin}"}, {"Authorization": f"Bearer {tech}"},
                      {"Authorization": f"Bearer {busy}", "Connection": "close"}, cli)
    finally:
        subprocess.run([sys.executable, str(ROOT / "scripts" / "cluster"), "down", str(folder)],
                       capture_output=True, timeout=120)


def enrol(c: Cluster, node: str, client_id: int, device: SshDevice, name: str,
          egress: str) -> int:
    resp = c.call(node, "POST", "/api/v1/devices", c.admin, json={
        "client_id": client_id, "name": name, "host": "127.0.0.1", "port": device.port,
        "device_type": "linux", "egress_ip": egress,
        "credentials": {"username": DEVICE_USER, "password": DEVICE_PASSWORD}})
    assert resp.status_code == 201, resp.text
    device_id = int(resp.json()["id"])
    scan = c.call(node, "POST", f"/api/v1/devices/{device_id}/host-key/scan", c.admin)
    assert scan.status_code == 200, scan.text
    pin = c.call(node, "POST", f"/api/v1/devices/{device_id}/host-key", c.admin,
                 json={"fingerprint": scan.json()["pending_fingerprint"]})
    assert pin.status_code == 200, pin.text
    return device_id


def open_session(c: Cluster, node: str, device_id: int) -> dict[str, Any]:
    resp = c.call(node, "POST", f"/api/v1/devices/{device_id}/sessions", c.tech,
                  json={"reason": "TICKET-42 cluster", "ttl_seconds": 900})
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


def run(c: Cluster, node: str, session_id: int, command: str) -> requests.Response:
    return c.call(node, "POST", f"/api/v1/sessions/{session_id}/commands", c.tech,
                  json={"command": command})


def test_a_cluster_serves_sessions_from_any_node_and_survives_losing_one(
        cluster: Cluster, sshd: SshDevice, openbao: OpenBao, smtp: SmtpSink,
        postgres: PostgresCluster) -> None:
    c = cluster
    client_id = c.call("a", "POST", "/api/v1/clients", c.admin, json={"name": "Acme"}).json()["id"]
    for profile in ({"name": "any node", "source_ip": "127.0.0.2"},
                    {"name": "node b only", "source_ip": "127.0.0.3", "node": "b"}):
        resp = c.call("a", "POST", "/api/v1/egress-profiles", c.admin, json=profile)
        assert resp.status_code == 201, resp.text
    b_only = SshDevice(allowed_source="127.0.0.3")
    try:
        edge = enrol(c, "a", client_id, sshd, "edge-1", "127.0.0.2")
        core = enrol(c, "b", client_id, b_only, "core-1", "127.0.0.3")

        # A session opened through A is held by A; commands work through either node.
        held_by_a = open_session(c, "a", edge)
        assert held_by_a["node"] == "a" and held_by_a["state"] == "open"
        sid = held_by_a["id"]
        for n, node in enumerate("abab"):
            resp = run(c, node, sid, f"echo turn-{n}-$((6*7)) $SSH_CLIENT")
            assert resp.status_code == 200, resp.text
            assert resp.json()["output"].split()[:2] == [f"turn-{n}-42", "127.0.0.2"]

        # The terminal through B is relayed to A's broker over the node channel.
        ws = WsClient.connect(c.url("b").replace("http", "ws")
                              + f"/tech/sessions/{sid}/terminal/ws", headers=c.tech)
        try:
            ws.send("echo relayed-$((40+2))\r")
            seen = ""
            while "relayed-42" not in seen:
                raw = ws.receive(timeout=15)
                assert raw is not None, seen
                seen += json.loads(raw).get("read", "")
            # ...and so is the browser's size, to the device's pty.
            ws.send(json.dumps({"resize": [77, 19]}))
            ws.send(json.dumps({"keys": "stty size | tr ' ' x\r"}))
            while "19x77" not in seen:
                raw = ws.receive(timeout=15)
                assert raw is not None, seen
                seen += json.loads(raw).get("read", "")
        finally:
            ws.close()

        # A device whose egress address belongs to node B is opened there, whoever asks.
        held_by_b = open_session(c, "a", core)
        assert held_by_b["node"] == "b" and held_by_b["source_ip"] == "127.0.0.3"
        out = run(c, "a", held_by_b["id"], "echo $SSH_CLIENT")
        assert out.status_code == 200 and out.json()["output"].startswith("127.0.0.3 ")

        # Alerts through both nodes, one group posted to both (as an HA Alertmanager pair
        # does): every group is mailed once.
        source = c.call("b", "POST", "/api/v1/alert-sources", c.admin,
                        json={"name": "prom", "kind": "alertmanager", "client_id": client_id})
        assert source.status_code == 201, source.text
        address = f"noc-{os.urandom(3).hex()}@acme.example"
        contact = c.call("a", "POST", f"/api/v1/clients/{client_id}/contacts", c.admin,
                         json={"kind": "email", "value": address, "purposes": ["alerts"]})
        engine = sqlalchemy.create_engine(c.state["database_url"].replace(
            "postgresql://", "postgresql+psycopg://"))
        with engine.begin() as conn:  # as if the contact had followed its link
            conn.execute(sqlalchemy.text("UPDATE contacts SET verified_at = now() WHERE id = :i"),
                         {"i": contact.json()["id"]})
        engine.dispose()
        ingest = {"Authorization": f"Bearer {source.json()['token']}"}
        for node, group, queued in (("a", "sw-1", 1), ("b", "sw-2", 1), ("a", "sw-3", 1),
                                    ("b", "sw-3", 0)):
            resp = c.call(node, "POST", "/ingest/alertmanager/prom", ingest,
                          json=group_payload(group, "firing", "2026-11-30T06:00:00Z", "Acme"))
            assert resp.status_code == 202 and resp.json()["queued"] == queued, resp.text

        def mailed() -> list[str]:  # one e-mail per alert group, its key in a header
            return sorted(str(m["X-Custody-Message"]) for m in smtp.messages
                          if address in str(m["To"]) and m["X-Custody-Message"])

        eventually(lambda: len(mailed()) >= 3, 60, "three alert e-mails")
        time.sleep(1)
        assert len(mailed()) == len(set(mailed())) == 3

        # The device's credential and every CA key are in OpenBao, nowhere on disk.
        tenants = json.loads(openbao.bao("kv", "list", "-format=json", f"secret/{c.prefix}"))
        assert {f"client-{client_id}/", "provider/"} <= set(tenants)  # device; node CA key
        assert json.loads(openbao.bao("list", "-format=json", f"{c.pki}/issuers"))  # the root
        on_disk = [p for p in c.dir.rglob("*") if p.is_file()
                   and not p.is_relative_to(c.dir / "logs")]
        assert not [p for p in on_disk if DEVICE_PASSWORD.encode() in p.read_bytes()]
        keys = [p.relative_to(c.dir).as_posix() for p in on_disk
                if b"PRIVATE KEY" in p.read_bytes()]
        assert sorted(keys) == ["var/node-a/node.key", "var/node-b/node.key"]

        # A person's API limit is one count for the whole cluster, whichever node answers.
        statuses = [c.call("ab"[n % 2], "GET", "/api/v1/devices", c.busy).status_code
                    for n in range(API_LIMIT + 3)]
        assert statuses == [200] * API_LIMIT + [429] * 3

        # Node A dies: its session ends as failed, with the reason, seen through B.
        c.kill("node-a")
        answers: list[str] = []

        def refused_after_a() -> dict[str, Any] | None:
            resp = run(c, "b", sid, "echo after")
            answers.append(f"{resp.status_code} {resp.text}")
            return dict(resp.json()) if resp.status_code == 409 else None

        refused = eventually(refused_after_a, LEASE * 3 + 10, lambda: f"A's session to fail: {answers[-3:]}")
        assert "node a" in refused["error"]["message"]
        assert "stopped answering" in refused["error"]["message"]
        shown = c.call("b", "GET", f"/api/v1/sessions/{sid}", c.tech).json()
        assert shown["state"] == "failed" and "node a" in shown["close_reason"]
        again = open_session(c, "b", edge)
        assert again["node"] == "b"
        assert run(c, "b", again["id"], "echo back").json()["output"] == "back"

        # The active scheduler dies: the standby takes over, and alerts still go out.
        active = eventually(lambda: [p for p in ("scheduler-1", "scheduler-2")
                                     if "scheduler active" in c.log(p)], 30, "an active scheduler")
        assert len(active) == 1
        c.kill(active[0])
        standby = "scheduler-2" if active[0] == "scheduler-1" else "scheduler-1"
        eventually(lambda: "scheduler active" in c.log(standby), 60, "the standby to take over")
        resp = c.call("b", "POST", "/ingest/alertmanager/prom", ingest,
                      json=group_payload("sw-4", "firing", "2026-11-30T06:05:00Z", "Acme"))
        assert resp.status_code == 202 and resp.json()["queued"] == 1, resp.text
        eventually(lambda: len(mailed()) == 4, 60, "the alert after the takeover")

        # PostgreSQL restarts, cutting every connection: the scheduler connects again,
        # takes the lead again, and the mail still goes out.
        postgres.restart()
        resp = c.call("b", "POST", "/ingest/alertmanager/prom", ingest,
                      json=group_payload("sw-5", "firing", "2026-11-30T06:10:00Z", "Acme"))
        assert resp.status_code == 202 and resp.json()["queued"] == 1, resp.text
        eventually(lambda: "scheduler lost the database" in c.log(standby), 30,
                   "the scheduler to notice the restart")
        eventually(lambda: c.log(standby).count("scheduler active") == 2, 60,
                   "the scheduler to lead again")
        eventually(lambda: len(mailed()) == 5, 60, "the alert after the restart")
    finally:
        b_only.cleanup()
