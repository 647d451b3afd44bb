"""The broker process: live device connections served to web workers, plus the jobs that
must run where those connections live (session expiry)."""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import os
import signal
import threading
import time

from custody.config import Settings
from custody.errors import ConfigError

log = logging.getLogger("custody.broker")


def run_broker(settings: Settings) -> None:
    """Serve until SIGTERM; also runs the scheduled jobs (session expiry, purges)."""
    from custody.devices.broker import LocalBroker
    from custody.devices.broker_net import BrokerServer
    from custody.jobs.scheduler import run_scheduler, session_scheduler
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
    scheduler = session_scheduler(services)
    scheduler.start()
    # The purge jobs too (leader-elected on PostgreSQL, so extra nodes stand by).
    threading.Thread(target=run_scheduler, args=(services, stopping), daemon=True,
                     name="scheduler").start()
    log.info("broker listening on %s", server.path)
    stopping.wait()
    scheduler.shutdown(wait=False)
    server.stop()  # closes every live device connection


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
