"""The broker process: live device connections served to web workers, plus the jobs that
must run where those connections live (session expiry)."""

from __future__ import annotations

import logging
import multiprocessing
import signal
import sys
import threading
from typing import Any

from custody.config import Settings

log = logging.getLogger("custody.broker")


def run_broker(settings: Settings) -> None:
    """Serve until SIGTERM; also runs the scheduled jobs (session expiry, purges)."""
    from custody.devices.broker_net import BrokerServer
    from custody.jobs.scheduler import build_scheduler, run_scheduler
    from custody.logs import configure_logging
    from custody.services import build_services

    configure_logging(settings.logging.level, settings.logging.format)
    services = build_services(settings, run_migrations=False)
    assert hasattr(services.broker, "live_sessions")
    server = BrokerServer(services.broker, settings.path(settings.broker.socket))  # type: ignore[arg-type]
    scheduler = build_scheduler(services, purge_jobs=False)
    scheduler.start()
    # The purge jobs too (leader-elected on PostgreSQL, so extra nodes stand by).
    stopping = threading.Event()
    threading.Thread(target=run_scheduler, args=(services, stopping), daemon=True,
                     name="scheduler").start()

    def stop(*_: Any) -> None:
        stopping.set()
        scheduler.shutdown(wait=False)
        server.stop()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    log.info("broker listening on %s", server.path)
    server.serve_forever()


def start_broker_process(settings: Settings) -> multiprocessing.process.BaseProcess:
    """Fork the broker before gunicorn starts its workers; it dies with the parent."""
    process = multiprocessing.get_context("fork").Process(
        target=run_broker, args=(settings,), name="custody-broker", daemon=True)
    process.start()
    return process
