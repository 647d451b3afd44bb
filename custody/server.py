"""Run the web app under gunicorn (TLS when configured, loopback only without it)."""

from __future__ import annotations

import atexit
import ipaddress
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gunicorn.app.base import BaseApplication

from custody.config import Settings
from custody.db import STORAGE_FULL_MESSAGE, storage_full
from custody.errors import ConfigError

log = logging.getLogger("custody.server")


def check_bind(settings: Settings, host: str) -> None:
    """Refuse to serve plain HTTP on anything but loopback (P6)."""
    if settings.tls_enabled:
        for name in ("tls_cert", "tls_key"):
            path = getattr(settings.server, name)
            if not settings.path(path).is_file():
                raise ConfigError(f"server.{name}: file {settings.path(path)} does not exist")
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        raise ConfigError(
            f"refusing to serve plain HTTP on {host}: client data travels only over TLS. "
            "Set server.tls_cert and server.tls_key, or bind to 127.0.0.1"
        )


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, factory: Callable[[], Any], options: dict[str, Any]) -> None:
        self._factory = factory
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return boot(self._factory)


BOOT_SECONDS = 40  # well inside gunicorn's 60 s timeout for a worker that is not up


def boot(factory: Callable[[], Any], budget: float = BOOT_SECONDS,
         sleep: Callable[[float], None] = time.sleep,
         clock: Callable[[], float] = time.monotonic) -> Any:
    """Build a worker's app, trying again with backoff while it fails (a database that
    restarts, a full disk): a worker gunicorn sees fail to boot takes the whole server
    down. Past ``budget`` seconds the worker exits with an ordinary error, and gunicorn
    starts another, which tries again."""
    started, wait = clock(), 0.5
    while True:
        try:
            return factory()
        except Exception as exc:  # noqa: BLE001 - any cause; each is logged, then retried
            cause = STORAGE_FULL_MESSAGE if storage_full(exc) else type(exc).__name__
            if clock() - started + wait > budget:
                log.error("a web worker could not start (%s); another will try", cause)
                raise SystemExit(1) from None
            log.warning("a web worker could not start (%s); trying again in %.1f s",
                        cause, wait)
            sleep(wait)
            wait = min(wait * 2, 8.0)


def url_for_bind(settings: Settings, host: str, port: int) -> str:
    scheme = "https" if settings.tls_enabled else "http"
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}:{port}/"


def _metrics_dir() -> Path:
    """A fresh folder where workers share Prometheus counts (prometheus_client multiprocess),
    in memory (/dev/shm) and never on the data disk: its files are memory-mapped, and a
    full disk under a mapped file kills the process that touches a new page (SIGBUS)."""
    shm = Path("/dev/shm")
    path = Path(tempfile.mkdtemp(prefix="custody-metrics-",
                                 dir=shm if shm.is_dir() and os.access(shm, os.W_OK) else None))
    atexit.register(_remove_in_owner, path, os.getpid())
    return path


def _remove_in_owner(path: Path, owner: int) -> None:
    if os.getpid() == owner:  # not in a forked worker
        shutil.rmtree(path, ignore_errors=True)


def _worker_exit(_server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def run(settings: Settings, host: str, port: int, app_factory: Callable[[], Any]) -> None:
    """Serve until stopped; each worker builds its own app (and database pool) after fork."""
    check_bind(settings, host)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(_metrics_dir())
    options: dict[str, Any] = {
        "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        "workers": settings.server.workers,
        "worker_class": "gthread",
        "threads": 4,
        "accesslog": None,  # custody writes its own access log, without client addresses
        "errorlog": "-",
        "loglevel": "warning",
        "timeout": 60,
        "graceful_timeout": 5,
        "child_exit": _worker_exit,
        "umask": 0o077,
    }
    if settings.tls_enabled:
        if not (settings.server.tls_cert and settings.server.tls_key):
            raise ConfigError("server.tls_cert and server.tls_key are both needed for TLS")
        options["certfile"] = str(settings.path(settings.server.tls_cert))
        options["keyfile"] = str(settings.path(settings.server.tls_key))
    _Gunicorn(app_factory, options).run()
