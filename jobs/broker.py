"""The broker process: live device connections served to web workers, plus the jobs that
must run where those connections live (session expiry)."""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import os
import secrets
import signal
import ssl
import threading
import time
from typing import TYPE_CHECKING

from custody.config import Settings
from custody.db import transaction
from custody.errors import ConfigError

if TYPE_CHECKING:
    from custody.devices.broker_net import BrokerServer
    from custody.services import Services

log = logging.getLogger("custody.broker")


def run_broker(settings: Settings) -> None:
    """Serve until SIGTERM; also runs the scheduled jobs (session expiry, purges)."""
    from custody.devices.broker import LocalBroker
    from custody.devices.broker_net import BrokerServer
    from custody.jobs.scheduler import run_scheduler, session_scheduler
    from custody.jobs.sessions import Lease
    from custody.logs import configure_logging
    from custody.services import build_services

    # Signals only set a flag: stopping the socket server from inside its own thread's
    # signal handler would wait for itself forever.
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    configure_logging(settings.logging.level, settings.logging.format)
    services = build_services(settings, run_migrations=False)
    if not isinstance(services.broker, LocalBroker):
        raise ConfigError("the broker process holds the device connections itself")
    server = BrokerServer(services.broker, settings.path(settings.broker.socket)).start()
    address = listen_for_nodes(services, server)
    instance = secrets.token_hex(8)
    with transaction(services.db) as db:
        failed = services.nodes.start(db, settings.node_name, address, instance)
    if failed:
        log.warning("sessions %s ended: this node's previous run held them", failed)
    scheduler = session_scheduler(services, Lease(instance, time.monotonic()))
    scheduler.start()
    if settings.node.scheduler:  # the purge jobs too (leader-elected on PostgreSQL)
        threading.Thread(target=run_scheduler, args=(services, stopping), daemon=True,
                         name="scheduler").start()
    log.info("broker of node %s listening on %s%s", settings.node_name, server.path,
             f" and on {address} for other nodes" if address else "")
    stopping.wait()
    scheduler.shutdown(wait=False)
    server.stop()  # closes every live device connection


def listen_for_nodes(services: Services, server: BrokerServer) -> str | None:
    """Open the node channel (node.listen); return the address other nodes dial."""
    from custody.cluster.channel import SerializedTls, peer_identity, server_context
    from custody.cluster.identity import require_identity

    node = services.settings.node
    if not node.listen:
        return None
    accepted: dict[tuple[str, str], float] = {}

    def accept(tls: ssl.SSLSocket) -> bool:
        # The CA vouched for the certificate; is it still the one of a current node?
        peer = peer_identity(tls)
        if accepted.get(peer, 0.0) > time.monotonic():
            return True
        with transaction(services.db) as db:
            ok = services.nodes.accepts(db, *peer)
        if ok:
            accepted[peer] = time.monotonic() + 10
        else:
            log.warning("node channel: refused a peer presenting node %r (serial %s), which "
                        "is not a current node", *peer)
        return ok

    host, port = server.listen_tls(node.listen, server_context(require_identity(services.settings)),
                                   accept, SerializedTls)
    if node.advertise:
        return node.advertise
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def start_broker_process(settings: Settings) -> multiprocessing.process.BaseProcess:
    """Fork the broker before gunicorn starts its workers; it stops when this process exits."""
    process = multiprocessing.get_context("fork").Process(
        target=run_broker, args=(settings,), name="custody-broker")
    process.start()
    # gunicorn's workers are forked from this process too, and multiprocessing's exit hook
    # would make each of them try to join the broker, which is not their child. So the
    # broker is left out of multiprocessing's bookkeeping and stopped by its parent only.
    multiprocessing.process._children.discard(process)  # type: ignore[attr-defined]
    atexit.register(stop_in_owner, process.pid, os.getpid())
    return process


def stop_in_owner(pid: int | None, owner: int) -> None:
    """SIGTERM the child and wait for it, in the process that started it (not in forks)."""
    if pid is None or os.getpid() != owner:
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return
        if done:
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
