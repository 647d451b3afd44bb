"""A small closed-loop HTTP load generator over keep-alive connections, and the
servers it loads (started as process groups, stopped with them)."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import statistics
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"server on port {port} did not start")


def wait_for_answers(port: int, path: str, timeout: float = 60, answers: int = 20) -> None:
    """Wait until GET ``path`` has answered 200 ``answers`` times in a row: a master that
    accepts connections may still be booting its workers, which would be measured."""
    deadline = time.monotonic() + timeout
    in_a_row = 0
    while in_a_row < answers:
        if time.monotonic() > deadline:
            raise TimeoutError(f"GET {path} on port {port} did not answer 200")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            conn.request("GET", path)
            ok = conn.getresponse().status == 200
        except (OSError, http.client.HTTPException):
            ok = False
        finally:
            conn.close()
        in_a_row = in_a_row + 1 if ok else 0
        if not ok:
            time.sleep(0.1)


@contextmanager
def server(argv: list[str], env: dict[str, str], port: int,
           ready: str | None = None) -> Iterator[None]:
    """Run ``argv`` until the block ends; it is ready once ``port`` accepts connections
    (and, given ``ready``, once that path answers 200 again and again)."""
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        wait_for(port)
        if ready is not None:
            wait_for_answers(port, ready)
        yield
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.communicate(timeout=20)


@dataclass(frozen=True)
class LoadResult:
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        return statistics.quantiles(self.latencies_ms, n=100)[int(q) - 1]


def hammer(host: str, port: int, path: str, headers: dict[str, str], seconds: float,
           concurrency: int = 8, bodies: Iterator[bytes] | None = None) -> LoadResult:
    """Send GET ``path`` (or POST the next of ``bodies``) from ``concurrency`` threads for
    ``seconds``; count 2xx answers."""
    stop = time.monotonic() + seconds
    lock = threading.Lock()

    def next_body() -> bytes | None:
        if bodies is None:
            return None
        with lock:
            return next(bodies)

    latencies: list[float] = []
    counts = {"ok": 0, "err": 0}

    def worker() -> None:
        conn = http.client.HTTPConnection(host, port, timeout=30)
        mine: list[float] = []
        ok = err = 0
        while time.monotonic() < stop:
            body = next_body()
            t0 = time.perf_counter()
            try:
                conn.request("GET" if body is None else "POST", path, body=body, headers=headers)
                resp = conn.getresponse()
                resp.read()
                if 200 <= resp.status < 300:
                    ok += 1
                    mine.append((time.perf_counter() - t0) * 1000)
                else:
                    err += 1
            except (OSError, http.client.HTTPException):
                err += 1
                conn.close()
                conn = http.client.HTTPConnection(host, port, timeout=30)
        conn.close()
        with lock:
            latencies.extend(mine)
            counts["ok"] += ok
            counts["err"] += err

    started = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return LoadResult(counts["ok"], counts["err"], time.monotonic() - started, latencies)


def combined(results: list[LoadResult]) -> LoadResult:
    """Several measurements of one server as one: their answers over their time."""
    return LoadResult(sum(r.requests for r in results), sum(r.errors for r in results),
                      sum(r.seconds for r in results),
                      [ms for r in results for ms in r.latencies_ms])


def check_load(result: LoadResult, what: str) -> None:
    """Refuse a measurement with no answers or more than 1% errors."""
    if result.requests == 0 or result.errors > result.requests * 0.01:
        raise RuntimeError(f"{what}: {result.requests} ok, {result.errors} errors")
