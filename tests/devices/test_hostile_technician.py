"""A technician who wants the device's secrets, or to run what the policy refuses.

Every attack from the review is a test here, against the real peers: OpenSSH sshd as
a Linux device whose account may sudo with its password (the stored "secret"), and
fake-switches' IOS simulator with an enable secret.
"""

from __future__ import annotations

import pwd
import queue
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from custody.audit.models import AuditEvent
from custody.db import transaction
from custody.devices.broker import LocalTerminal
from custody.devices.models import Device
from tests.conftest import FrozenClock
from tests.lab import IOS_PASSWORD, IOS_SECRET, IOS_USER, Lab
from tests.peers import DEVICE_PASSWORD, DEVICE_USER, SshDevice

LINUX_CREDS = {"username": DEVICE_USER, "password": DEVICE_PASSWORD, "secret": DEVICE_PASSWORD}
IOS_CREDS = {"username": IOS_USER, "password": IOS_PASSWORD, "secret": IOS_SECRET}
SECRETS = (DEVICE_PASSWORD, DEVICE_PASSWORD[::-1], IOS_SECRET, IOS_SECRET[::-1], IOS_PASSWORD)


class Screen:
    """A terminal as the technician's browser has it: every event, in order."""

    def __init__(self, terminal: LocalTerminal) -> None:
        self.terminal = terminal
        self.events: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self._keys: queue.SimpleQueue[str] = queue.SimpleQueue()
        threading.Thread(target=self._pump, daemon=True).start()
        threading.Thread(target=self._typist, daemon=True).start()

    def _typist(self) -> None:
        """Keys go in order, from a thread of their own (a held line blocks its writer)."""
        while True:
            self.terminal.write(self._keys.get())

    def _pump(self) -> None:
        while (event := self.terminal.next()) is not None:
            with self._lock:
                self.events.append(event)

    @property
    def text(self) -> str:
        with self._lock:
            return "".join(e.get("read", "") + "".join(f"\n!{k}: {e[k]}\n" for k in
                                                       ("refused", "notice", "waiting", "end")
                                                       if k in e) for e in self.events)

    def type(self, keys: str) -> None:
        self._keys.put(keys)

    def wait_for(self, pattern: str, timeout: float = 15) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if re.search(pattern, self.text):
                return self.text
            time.sleep(0.05)
        raise AssertionError(f"no {pattern!r} in {self.text!r}")


def refused_then_alive(screen: Screen, keys: str, timeout: float = 15) -> None:
    """Type ``keys``; the broker must refuse the line, and the terminal must go on."""
    before = len(screen.events)
    screen.type(keys)
    deadline = time.monotonic() + timeout
    while not any("refused" in e for e in screen.events[before:]):
        assert time.monotonic() < deadline, (keys, screen.text[-300:])
        time.sleep(0.05)
    marker = f"still-here-{before}"
    screen.type(f"echo {marker}\r")
    screen.wait_for(rf"[\r\n]{marker}")


def terminal(lab: Lab, session_id: int) -> Screen:
    svc = lab.services
    with transaction(svc.db) as db:
        device = db.get(Device, lab.services.sessions._get(db, session_id).device_id)
        assert device is not None
        policy = svc.sessions.policy_for(db, device)
    stream = svc.broker.attach(session_id, policy, "user:tina")
    assert isinstance(stream, LocalTerminal)
    return Screen(stream)


def open_session(lab: Lab, device_id: int, privileged: bool = False) -> int:
    resp = lab.client.post(f"/api/v1/devices/{device_id}/sessions", headers=lab.tech,
                           json={"reason": "TICKET-66", "ttl_seconds": 600,
                                 "privileged": privileged})
    assert resp.status_code == 201, resp.json
    return int(resp.json["id"])


def transcript(lab: Lab, session_id: int) -> str:
    resp = lab.client.get(f"/api/v1/sessions/{session_id}/transcript", headers=lab.admin)
    return "\n".join(line["text"] for line in resp.json["lines"])


def leaked(*texts: str) -> list[str]:
    return [s for s in SECRETS for t in texts if s in t]


@pytest.fixture
def bashrc() -> Iterator[Path]:
    """The device account's ~/.bashrc, restored afterwards (sshd is shared by the run)."""
    path = Path(pwd.getpwnam(DEVICE_USER).pw_dir) / ".bashrc"
    before = path.read_bytes() if path.exists() else None
    yield path
    if before is None:
        path.unlink(missing_ok=True)
    else:
        path.write_bytes(before)


def test_a_spoofed_password_prompt_in_the_shell_gets_nothing(lab: Lab, sshd: SshDevice) -> None:
    """The review's `read -p password: X; echo "$X" | rev`, on a device with a stored
    sudo secret: custody answers no prompt after hand-over, so there is nothing to read."""
    device = lab.enrol(sshd.port, credentials=LINUX_CREDS)
    sid = open_session(lab, device)
    screen = terminal(lab, sid)
    try:
        screen.type('read -r -p "password: " X; echo "got:$X:" | rev\r')
        assert "custody never types a stored secret" in screen.wait_for(r"!notice")
        time.sleep(1)  # what a broker that answers prompts would have had time to do
        screen.type("\r")
        screen.wait_for(r":tog")
        assert "::tog" in screen.text  # the read got an empty line: nobody typed the secret
    finally:
        screen.terminal.close()
    assert leaked(screen.text, transcript(lab, sid)) == []
    assert "[redacted]" not in screen.text


def test_typing_password_colon_on_ios_sends_no_secret(lab: Lab, ios: int) -> None:
    """On the IOS CLI, a line that ends in "password:" used to make the broker type the
    enable secret as the next command (into the device's history and AAA accounting)."""
    device = lab.enrol(ios, device_type="cisco_ios", credentials=IOS_CREDS, name="fs-r1")
    sid = open_session(lab, device)
    screen = terminal(lab, sid)
    try:
        screen.type("\r")
        screen.wait_for(r"fs-r1>")  # not privileged: user mode
        screen.type("enable\r")
        screen.wait_for(r"Password:")
        screen.wait_for(r"!notice")
        time.sleep(1)
        screen.type("password:\r")
        screen.wait_for(r"Access denied")
    finally:
        screen.terminal.close()
    assert "[redacted]" not in screen.text + transcript(lab, sid)
    assert leaked(screen.text, transcript(lab, sid)) == []


def test_privileged_sessions_are_elevated_before_hand_over(lab: Lab, sshd: SshDevice,
                                                           ios: int) -> None:
    linux = lab.enrol(sshd.port, credentials=LINUX_CREDS)
    sid = open_session(lab, linux, privileged=True)
    assert lab.run(sid, "id -u") == (200, {"output": "0"})
    screen = terminal(lab, sid)
    try:
        screen.type("exit\r")  # back to the account's own shell
        screen.wait_for(r"\$ $")
        screen.type("/usr/bin/sudo -k; /usr/bin/sudo -s\r")  # and ask for root again
        assert "custody never types a stored secret" in screen.wait_for(r"!notice")
        time.sleep(1)
        screen.type("\x03")
        screen.wait_for(r"password is required\r\n.*\$ $")
        screen.type("id -u\r")
        screen.wait_for(r"[\r\n]\d+\r?\n")
        assert re.search(r"[\r\n]0\r?\n", screen.text) is None
    finally:
        screen.terminal.close()
    assert "elevated by custody before hand-over" in transcript(lab, sid)
    assert leaked(screen.text, transcript(lab, sid)) == []

    router = lab.enrol(ios, device_type="cisco_ios", credentials=IOS_CREDS, name="fs-r1")
    plain, enabled = open_session(lab, router), open_session(lab, router, privileged=True)
    status, body = lab.run(plain, "show version")  # user mode: the simulator knows no such thing
    assert status == 200 and "Cisco IOS Software" not in str(body["output"])
    status, body = lab.run(enabled, "show version")
    assert status == 200 and "Cisco IOS Software" in str(body["output"])


def test_a_trap_in_the_shell_never_gets_the_sudo_secret(lab: Lab, sshd: SshDevice,
                                                       bashrc: Path) -> None:
    """The review's `sudo` function, planted where the policy cannot see it (the account's
    ~/.bashrc, as an earlier session could have written it): configuration lines and
    privileged sessions never go through it."""
    captured = Path("/tmp/custody-captured-secret")
    captured.unlink(missing_ok=True)
    bashrc.write_text((bashrc.read_text() if bashrc.exists() else "") +
                      f'\nsudo() {{ read -r s; echo "$s" > {captured}; }}\n')
    device = lab.enrol(sshd.port, credentials=LINUX_CREDS)
    sid = open_session(lab, device)
    resp = lab.client.post(f"/api/v1/sessions/{sid}/commands", headers=lab.tech,
                           json={"config": ["id -un", "echo configured"]})
    assert resp.status_code == 200, resp.json
    assert DEVICE_USER in resp.json["output"] and "configured" in resp.json["output"]
    root = open_session(lab, device, privileged=True)
    assert lab.run(root, "id -u") == (200, {"output": "0"})
    assert lab.run(sid, "sudo() { cat; }")[0] == 403  # and it cannot be defined in a session
    assert not captured.exists()


def test_line_editing_cannot_smuggle_a_refused_command(lab: Lab, sshd: SshDevice) -> None:
    lab.client.put(f"/api/v1/clients/{lab.client_id}/policy", headers=lab.admin,
                   json={"deny_commands": ["whoami"]})
    device = lab.enrol(sshd.port, credentials=LINUX_CREDS)
    sid = open_session(lab, device)
    screen = terminal(lab, sid)
    try:
        for keys in ("xwhoami\x01\x04\r",  # the review's Ctrl-A, Ctrl-D
                     "whoamix\x7f\r", "who\x1b[Cami\r", "echo hi\x15whoami\r",
                     "whoa\t\r",  # completed by the device: the echo shows whoami
                     # The review's wipe attacks: Esc or Ctrl-X before Enter would have
                     # turned the broker's own wipe keys into "expand" or "edit and run".
                     "echo $(whoami)\x1b\r", "echo $(whoami)\x18\r"):
            refused_then_alive(screen, keys)
    finally:
        screen.terminal.close()
    assert DEVICE_USER + "\r\n" not in screen.text  # whoami never ran
    with lab.services.db() as db:
        refusals = db.scalars(select(AuditEvent).where(
            AuditEvent.action == "session.command_refused")).all()
    checked = [e.details["command"] for e in refusals if e.details.get("via") == "terminal"]
    assert checked == ["whoami"] * 5 + ["echo $(whoami)"] * 2  # each with the line as checked


def test_a_completion_slower_than_the_echo_cannot_smuggle_a_command(
        lab: Lab, sshd: SshDevice, bashrc: Path) -> None:
    """The device completes "zz" to whoami a second after echoing "zz" (a slow PATH or
    NFS home does that; here the account's own ~/.bashrc). Quiet alone would have judged
    "zz" and let Enter run whoami: the broker first makes the device answer a probe that
    it can only answer after the completion."""
    bashrc.write_text((bashrc.read_text() if bashrc.exists() else "") +
                      "\ncomplete -I -C 'sleep 1; printf %s%s who ami #'\n")
    lab.client.put(f"/api/v1/clients/{lab.client_id}/policy", headers=lab.admin,
                   json={"deny_commands": ["whoami"]})
    sid = open_session(lab, lab.enrol(sshd.port, credentials=LINUX_CREDS))
    screen = terminal(lab, sid)
    try:
        refused_then_alive(screen, "zz\t\r")
    finally:
        screen.terminal.close()
    assert DEVICE_USER + "\r\n" not in screen.text  # whoami never ran


def test_history_recall_is_checked_by_what_the_device_shows(lab: Lab, sshd: SshDevice) -> None:
    device = lab.enrol(sshd.port, credentials=LINUX_CREDS)
    sid = open_session(lab, device)
    screen = terminal(lab, sid)
    try:
        screen.type("echo recalled-$((6*7))\r")
        screen.wait_for(r"[\r\n]recalled-42")
        screen.type("\x1b[A\r")  # up arrow: the model cannot know the line, the echo can
        deadline = time.monotonic() + 10
        while len(re.findall(r"[\r\n]recalled-42", screen.text)) < 2:
            assert time.monotonic() < deadline, screen.text
            time.sleep(0.05)
    finally:
        screen.terminal.close()


def test_allow_list_with_approval(lab: Lab, sshd: SshDevice, clock: FrozenClock) -> None:
    lab.client.put(f"/api/v1/clients/{lab.client_id}/policy", headers=lab.admin, json={
        "approver_role": "technician", "allow_commands": ["echo", "uptime"],
        "unlisted_action": "confirm"})
    device = lab.enrol(sshd.port, credentials=LINUX_CREDS)
    sid = open_session(lab, device)
    assert lab.run(sid, "echo listed")[0] == 200

    # The API: held, refused while pending, run once approved, and only once.
    held = lab.client.post(f"/api/v1/sessions/{sid}/commands", headers=lab.tech,
                           json={"command": "id -un"})
    assert held.status_code == 202 and held.json["output"] is None
    approval = held.json["approval"]["id"]
    again = {"command": "id -un", "approval_id": approval}
    assert lab.client.post(f"/api/v1/sessions/{sid}/commands", headers=lab.tech,
                           json=again).status_code == 409
    queue = lab.client.get("/api/v1/command-approvals", headers=lab.tech2).json["items"]
    assert [q["command"] for q in queue] == ["id -un"]
    page = lab.client.get("/tech/approvals", headers=lab.tech2).get_data(as_text=True)
    assert "<code>id -un</code>" in page and f"Approve command {approval}" in page  # one queue
    assert lab.client.post(f"/api/v1/command-approvals/{approval}/approve",
                           headers=lab.tech).status_code == 403  # not one's own
    assert lab.client.post(f"/api/v1/command-approvals/{approval}/approve",
                           headers=lab.tech2).status_code == 200
    ran = lab.client.post(f"/api/v1/sessions/{sid}/commands", headers=lab.tech, json=again)
    assert ran.status_code == 200 and ran.json["output"] == DEVICE_USER
    assert lab.client.post(f"/api/v1/sessions/{sid}/commands", headers=lab.tech,
                           json=again).status_code == 409
    other = {"command": "id -u", "approval_id": approval}  # an approval is for its own line
    assert lab.client.post(f"/api/v1/sessions/{sid}/commands", headers=lab.tech,
                           json=other).status_code == 409

    # The terminal: the line waits, the technician sees why, an approver lets it run.
    screen = terminal(lab, sid)
    try:
        screen.type("id -un\r")
        screen.wait_for(r"!waiting: waiting for approval")
        pending = lab.client.get("/api/v1/command-approvals", headers=lab.tech2).json["items"]
        assert len(pending) == 1
        assert DEVICE_USER + "\r\n" not in screen.text  # not sent before approval
        lab.client.post(f"/api/v1/command-approvals/{pending[0]['id']}/approve",
                        headers=lab.tech2)
        screen.wait_for(DEVICE_USER + r"\r\n")
        # Nobody decides: refused when the time is up.
        screen.type("id -u\r")
        screen.wait_for(r"!waiting: waiting for approval of 'id -u'")
        clock.advance(minutes=6)
        assert "was expired" in screen.wait_for(r"!refused")
    finally:
        screen.terminal.close()
    with lab.services.db() as db:
        actions = set(db.scalars(select(AuditEvent.action)))
    for action in ("command.approval_request", "command.approve", "command.approval_expire"):
        assert action in actions


def test_a_line_left_typed_when_the_terminal_goes_is_wiped_before_the_next_one(
        lab: Lab, sshd: SshDevice) -> None:
    """Typed, not entered, the terminal closed: the device still holds the line, and the
    next terminal's first Enter would run it unchecked. The next terminal wipes it first."""
    lab.client.put(f"/api/v1/clients/{lab.client_id}/policy", headers=lab.admin,
                   json={"deny_commands": ["whoami"]})
    sid = open_session(lab, lab.enrol(sshd.port, credentials=LINUX_CREDS))
    first = terminal(lab, sid)
    first.wait_for(r"\$ $")  # the prompt shows before any key
    first.type("whoami")
    first.wait_for(r"\$ whoami$")
    first.terminal.close()
    second = terminal(lab, sid)
    try:
        second.type("\r")
        second.type("echo after-$((1+1))\r")
        second.wait_for(r"[\r\n]after-2")
    finally:
        second.terminal.close()
    assert DEVICE_USER + "\r\n" not in second.text  # whoami never ran


def test_a_narrow_terminal_reads_wrapped_lines_whole(lab: Lab, sshd: SshDevice) -> None:
    """A shell's pty takes the browser's size; long lines then wrap on the device, and
    the broker reads them on a screen as narrow, whole. A line only the screen can read
    (after Tab) that wrapped is refused: the screen alone is not trusted with it."""
    lab.client.put(f"/api/v1/clients/{lab.client_id}/policy", headers=lab.admin,
                   json={"deny_commands": ["whoami"]})
    sid = open_session(lab, lab.enrol(sshd.port, credentials=LINUX_CREDS))
    screen = terminal(lab, sid)
    try:
        screen.wait_for(r"\$ $")
        screen.terminal.resize(40, 10)
        screen.type("stty size | tr ' ' x\r")
        screen.wait_for(r"[\r\n]10x40")
        screen.type("echo " + "b" * 50 + "-ok\r")  # wraps twice on the device
        screen.wait_for(r"[\r\n]" + "b" * 50 + "-ok")
        refused_then_alive(screen, "echo " + "a" * 50 + "; whoami\r")
        refused_then_alive(screen, "echo " + "c" * 50 + "\t\r")
    finally:
        screen.terminal.close()
    assert DEVICE_USER + "\r\n" not in screen.text  # whoami never ran
