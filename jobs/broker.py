"""The broker process: live device connections served to web workers, plus the jobs that
must run where those connections live (session expiry)."""

from __future__ import annotations

import logging
import multiprocessing
import signal
import threading

from custody.config import Settings

log = logging.getLogger("custody.broker")


def run_broker(settings: Settings) -> None:
    """Serve until SIGTERM; also runs the scheduled jobs (session expiry, purges)."""
    from custody.devices.broker import LocalBroker
    from custody.devices.broker_net import BrokerServer
    from custody.jobs.scheduler import build_scheduler, run_scheduler
    from custody.logs import configure_logging
    from custody.services import build_services

    # Signals only set a flag: stopping the socket server from inside its own thread's
    # signal handler would wait for itself forever.
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    configure_logging(settings.logging.level, settings.logging.format)
    services = build_services(settings, run_migrations=False)
    assert isinstance(services.broker, LocalBroker)
    server = BrokerServer(services.broker, settings.path(settings.broker.socket)).start()
    scheduler = build_scheduler(services, purge_jobs=False)
    scheduler.start()
    # The purge jobs too (leader-elected on PostgreSQL, so extra nodes stand by).
    threading.Thread(target=run_scheduler, args=(services, stopping), daemon=True,
                     name="scheduler").start()
    log.info("broker listening on %s", server.path)
    stopping.wait()
    scheduler.shutdown(wait=False)
    server.stop()  # closes every live device connection


def start_broker_process(settings: Settings) -> multiprocessing.process.BaseProcess:
    """Fork the broker before gunicorn starts its workers; it dies with the parent."""
    process = multiprocessing.get_context("fork").Process(
        target=run_broker, args=(settings,), name="custody-broker", daemon=True)
    process.start()
    return process
