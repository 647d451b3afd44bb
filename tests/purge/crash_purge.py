"""Run one purge and SIGKILL this process at a named step (a helper for test_crash.py)."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from custody.config import load_settings
from custody.purge.service import PurgeService
from custody.services import build_services


def main() -> None:
    config, crash_at = Path(sys.argv[1]), sys.argv[2]
    svc = build_services(load_settings(config, environ={}), run_migrations=False)

    def checkpoint(step: str) -> None:
        if step == crash_at:
            os.kill(os.getpid(), signal.SIGKILL)

    purge = PurgeService(svc.db, svc.secrets, svc.transcripts, svc.audit, svc.clock,
                         svc.settings.purge, svc.settings.path(Path("var/purge.lock")),
                         svc.client_data, svc.device_access, checkpoint)
    purge.run("crash-test")


if __name__ == "__main__":
    main()
