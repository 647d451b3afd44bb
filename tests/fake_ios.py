"""Launch fake-switches' Cisco IOS simulator on loopback (run as a subprocess by tests).

Three additions make it usable: an `end` command in config mode, `disable` (back to
user mode, so a terminal can show the enable prompt), and the enable secret passed
as str (its own CLI passes bytes, which never matches).
"""

from __future__ import annotations

import logging
import sys

from fake_switches import switch_factory
from fake_switches.cisco.command_processor.config import ConfigCommandProcessor
from fake_switches.cisco.command_processor.default import DefaultCommandProcessor
from fake_switches.cisco.command_processor.enabled import EnabledCommandProcessor
from fake_switches.transports.ssh_service import SwitchSshService
from twisted.internet import reactor

ConfigCommandProcessor.do_end = lambda self, *a: setattr(self, "is_done", True)  # type: ignore[attr-defined]
EnabledCommandProcessor.do_disable = lambda self: setattr(self, "is_done", True)  # type: ignore[attr-defined]


def _delegate(self: DefaultCommandProcessor, line: str) -> bool:
    processed = self.sub_processor.process_command(line)
    if self.sub_processor.is_done:
        if line.strip() == "disable":
            self.sub_processor = None  # back to user mode instead of logging out
            self.show_prompt()
        else:
            self.is_done = True
    return bool(processed)


DefaultCommandProcessor.delegate_to_sub_processor = _delegate  # type: ignore[method-assign]


def main() -> None:
    host, port, user, password, secret = sys.argv[1], int(sys.argv[2]), *sys.argv[3:6]
    logging.basicConfig(level=logging.WARNING)
    core = switch_factory.SwitchFactory().get("cisco_generic", "fs-r1", secret)
    SwitchSshService(ip=host, port=port, switch_core=core,
                     users={user: password.encode()}).hook_to_reactor(reactor)
    print(f"listening on {host}:{port}", flush=True)
    reactor.run()  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
