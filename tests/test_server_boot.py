"""A web worker that cannot start (its database restarting, the disk full) tries again;
gunicorn never sees a worker fail to boot, which would stop the whole server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import urllib.request
from pathlib import Path

from custody.db import STORAGE_FULL_MESSAGE
from custody.server import boot
from tests.peers import free_port, wait_for_port


def test_a_worker_tries_again_with_backoff_then_gives_way() -> None:
    calls: list[int] = []
    waits: list[float] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 4:
            raise OSError(28, "No space left on device")
        return "app"

    assert boot(flaky, sleep=waits.append) == "app"
    assert waits == [0.5, 1.0, 2.0]  # backing off

    def broken() -> str:
        raise RuntimeError("never")

    waits.clear()
    try:
        boot(broken, budget=10, sleep=waits.append, clock=lambda: sum(waits))
    except SystemExit as exc:
        assert exc.code == 1  # an ordinary exit: gunicorn starts another worker
    else:
        raise AssertionError("a worker that never starts must give way")
    assert sum(waits) <= 10


def test_gunicorn_keeps_serving_when_workers_fail_to_start_for_a_while(
        tmp_path: Path) -> None:
    """Real gunicorn, through custody.server.run: every worker's first two attempts fail
    as on a full disk (a stand-in factory: no real disk fills and frees itself on cue).
    Without the retries, gunicorn's master would stop with "Worker failed to boot"."""
    port = free_port()
    script = tmp_path / "serve.py"
    script.write_text(textwrap.dedent(f"""
        import os
        from custody.config import Settings
        from custody.server import run

        attempts = {{}}

        def factory():
            attempts[os.getpid()] = attempts.get(os.getpid(), 0) + 1
            if attempts[os.getpid()] <= 2:
                raise OSError(28, "No space left on device")

            def app(environ, start_response):
                start_response("200 OK", [("Content-Type", "text/plain")])
                return [b"up"]
            return app

        run(Settings(), "127.0.0.1", {port}, factory)
    """))
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, str(script)], stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for_port("127.0.0.1", port)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30) as resp:
            assert resp.read() == b"up"
        assert proc.poll() is None  # the master is still there
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=30)
    printed = log.read_text()
    assert "Worker failed to boot" not in printed
    assert f"a web worker could not start ({STORAGE_FULL_MESSAGE}); trying again" in printed
