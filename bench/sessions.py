"""Sessions through the broker vs plain netmiko, and 50 concurrent sessions.

Needs root (it starts an OpenSSH sshd on loopback with its own user, as the tests do).
- open + one command + close: the broker path (SessionService: request, open, run,
  close, with audit and encrypted transcript) against bare netmiko ConnectHandler
  with the same bound socket and pinned host key; ratio = broker / netmiko.
- a command through the node that does not hold the session (forwarded to the holder's
  broker over the node channel's mutual TLS) against the same command through the
  holder itself (its broker's Unix socket): both as a web worker runs them, with the
  holder's lease checked; overhead_ms = forwarded - direct (target: at most 10 ms).
- 50 concurrent sessions: resident memory per open session and commands per second.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CONCURRENT = 50


def _rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def forwarded(svc: Any, admin: Any, device_id: int, tmp: Path, rounds: int) -> dict[str, Any]:
    """One session held by node a; commands through a (direct) and through b (forwarded)."""
    from custody.cluster.channel import NodeChannel, SerializedTls, peer_identity, server_context
    from custody.cluster.identity import join
    from custody.cluster.routing import RoutingBroker
    from custody.db import transaction
    from custody.devices.broker_net import BrokerServer, RemoteBroker
    from custody.devices.sessions import SessionService

    identities = {}
    for name in ("a", "b"):
        with transaction(svc.db) as db:
            token = svc.nodes.add(db, "bench", name)
        settings = svc.settings.model_copy(update={"node": svc.settings.node.model_copy(
            update={"dir": tmp / f"node-{name}", "name": name})})
        identities[name] = join(settings, svc.db, svc.nodes, token)
    server = BrokerServer(svc.broker, tmp / "broker-a.sock").start()

    def accept(tls: Any) -> bool:
        with transaction(svc.db) as db:
            return bool(svc.nodes.accepts(db, *peer_identity(tls)))

    host, port = server.listen_tls("127.0.0.1:0", server_context(identities["a"]), accept,
                                   SerializedTls)
    with transaction(svc.db) as db:
        svc.nodes.start(db, "a", f"{host}:{port}", "bench")

    channels: list[NodeChannel] = []

    def web_worker(node: str) -> Any:
        serial = identities["a"].serial()
        channel = NodeChannel(identities[node], lambda _: (f"{host}:{port}", serial))
        channels.append(channel)
        broker = RoutingBroker(RemoteBroker(tmp / f"broker-{node}.sock"), node, svc.db, channel)
        return SessionService(broker, svc.transcripts, svc.audit, svc.clock,
                              svc.settings.broker, svc.mailer, svc.sessions.approvals)

    direct, through_b = web_worker("a"), web_worker("b")
    with transaction(svc.db) as db:
        session_id = svc.sessions.request(db, admin, device_id, "bench forwarding", 600).id
    with transaction(svc.db) as db:
        assert svc.sessions.open(db, session_id).node == "a"
    times: dict[str, list[float]] = {"direct": [], "forwarded": []}
    try:
        for n in range(rounds + 1):  # the first of each is a warm-up
            for label, sessions in (("direct", direct), ("forwarded", through_b)):
                t0 = time.perf_counter()
                with transaction(svc.db) as db:
                    sessions.run(db, admin, session_id, "echo ok")
                if n:
                    times[label].append(time.perf_counter() - t0)
            with transaction(svc.db) as db:
                svc.nodes.heartbeat(db, "a", "bench")
    finally:
        with transaction(svc.db) as db:
            svc.sessions.close(db, admin, session_id)
        for channel in channels:
            channel.close()
        server.stop()
    d, f = statistics.median(times["direct"]), statistics.median(times["forwarded"])
    return {"metric": "command_forwarded", "value": round(f * 1000, 2), "unit": "ms",
            "baseline": round(d * 1000, 2), "ratio": round(f / d, 3),
            "overhead_ms": round((f - d) * 1000, 2), "target_overhead_ms": 10}


def run(seconds: float = 5.0) -> Iterator[dict[str, Any]]:
    from netmiko import ConnectHandler

    from custody.accounts.service import Principal
    from custody.cli import initialize
    from custody.config import load_settings
    from custody.db import transaction
    from custody.devices.service import DeviceCredentials, DeviceSpec
    from custody.devices.ssh import bound_socket, scan_host_key
    from custody.sensitive import Secret
    from custody.services import build_services
    from tests.peers import DEVICE_PASSWORD, DEVICE_USER, SshDevice

    rounds = max(5, int(seconds * 2))
    device = SshDevice(max_startups=CONCURRENT * 2)
    try:
        with tempfile.TemporaryDirectory(prefix="custody-bench-") as tmp:
            initialize(Path(tmp), "admin")
            env = {"CUSTODY_BROKER__MAX_SESSIONS_PER_DEVICE": str(CONCURRENT * 2),
                   "CUSTODY_NODE__NAME": "a"}
            svc = build_services(load_settings(Path(tmp) / "custody.toml", environ=env))
            admin = Principal(1, "admin", "admin", None)
            key = scan_host_key("127.0.0.1", device.port, "127.0.0.2")
            with transaction(svc.db) as db:
                client = svc.clients.create_client(db, "bench", "Bench client")
                svc.devices.create_egress_profile(db, admin, "node", "127.0.0.2")
                dev = svc.devices.create_device(db, admin, DeviceSpec(
                    client.id, "srv", "127.0.0.1", device.port, "linux", "127.0.0.2", ()),
                    DeviceCredentials(DEVICE_USER, Secret(DEVICE_PASSWORD)))
                dev.host_key = key
                device_id = dev.id

            def through_broker() -> None:
                with transaction(svc.db) as db:
                    s = svc.sessions.request(db, admin, device_id, "bench run", 600)
                with transaction(svc.db) as db:
                    svc.sessions.open(db, s.id)
                with transaction(svc.db) as db:
                    svc.sessions.run(db, admin, s.id, "uname -a")
                with transaction(svc.db) as db:
                    svc.sessions.close(db, admin, s.id)

            known = Path(tmp) / "known_hosts"
            known.write_text(f"[127.0.0.1]:{device.port} {key}\n")

            def plain_netmiko() -> None:
                with ConnectHandler(device_type="linux", host="127.0.0.1", port=device.port,
                                    username=DEVICE_USER, password=DEVICE_PASSWORD,
                                    sock=bound_socket("127.0.0.1", device.port, "127.0.0.2", 10),
                                    ssh_strict=True, system_host_keys=False, alt_host_keys=True,
                                    alt_key_file=str(known), use_keys=False,
                                    allow_agent=False) as conn:
                    conn.send_command("uname -a")

            through_broker()
            plain_netmiko()  # warm-up both paths
            broker_times, plain_times = [], []
            for _ in range(rounds):  # alternate, so drift on a shared machine hits both
                t0 = time.perf_counter()
                through_broker()
                broker_times.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                plain_netmiko()
                plain_times.append(time.perf_counter() - t0)
            b, p = statistics.median(broker_times), statistics.median(plain_times)
            yield {"metric": "open_command_close", "value": round(b * 1000, 1), "unit": "ms",
                   "baseline": round(p * 1000, 1), "ratio": round(b / p, 3)}

            yield forwarded(svc, admin, device_id, Path(tmp), rounds * 4)

            before = _rss_bytes()
            ids: list[int] = []
            lock = threading.Lock()

            def open_one() -> None:
                with transaction(svc.db) as db:
                    s = svc.sessions.request(db, admin, device_id, "bench concurrency", 600)
                with transaction(svc.db) as db:
                    svc.sessions.open(db, s.id)
                with lock:
                    ids.append(s.id)

            threads = [threading.Thread(target=open_one) for _ in range(CONCURRENT)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            after = _rss_bytes()
            yield {"metric": "memory_per_idle_session", "value": round(
                (after - before) / max(1, len(ids)) / 1e6, 2), "unit": "MB",
                "sessions": len(ids)}

            done = 0
            stop = time.monotonic() + seconds

            def commands(session_id: int) -> None:
                nonlocal done
                while time.monotonic() < stop:
                    with transaction(svc.db) as db:
                        svc.sessions.run(db, admin, session_id, "echo ok")
                    with lock:
                        done += 1

            started = time.monotonic()
            threads = [threading.Thread(target=commands, args=(sid,)) for sid in ids]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            yield {"metric": "commands_per_second", "value": round(
                done / (time.monotonic() - started), 1), "unit": "cmd/s", "sessions": len(ids)}
            for sid in ids:
                with transaction(svc.db) as db:
                    svc.sessions.close(db, admin, sid)
            svc.engine.dispose()
    finally:
        device.cleanup()
