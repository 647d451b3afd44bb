"""`custody serve` (or another long-running command) as users run it, for live tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.peers import wait_for_port

CUSTODY = str(Path(sys.executable).parent / "custody")


@dataclass
class Running:
    """The process and, once it has stopped, everything it printed."""

    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def stdout(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def running(args: list[str], cwd: Path, port: int, env: dict[str, str] | None = None,
            timeout: float = 30) -> Iterator[Running]:
    """Run ``custody ARGS`` in ``cwd`` with no CUSTODY_* variables but ``env``; ready once
    ``port`` accepts connections; stopped (SIGINT to its process group) after the block.
    Its output goes to ``cwd/<command>.log``."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CUSTODY_")}
    log = cwd / f"{args[0]}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([CUSTODY, *args], cwd=cwd, env=clean | (env or {}), stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for_port("127.0.0.1", port, timeout=timeout)
        yield Running(proc, log)
    finally:
        if proc.poll() is None:  # SIGINT: gunicorn's quick shutdown; a test waits for nothing
            os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=30)
