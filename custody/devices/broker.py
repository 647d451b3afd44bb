"""The broker: holds live device connections, runs commands, relays terminals, records transcripts.

It is the only place that sees device credentials in clear, and only in memory,
for as long as a connection is being made. Everything it writes to a transcript
or returns to a caller has passed through the device's Redactor first.
"""

from __future__ import annotations

import queue
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeGuard

import paramiko
from sqlalchemy.orm import Session, sessionmaker

from custody.audit.service import AuditLog
from custody.clock import Clock
from custody.config import BrokerSettings
from custody.db import transaction
from custody.devices.approvals import ApprovalState, CommandApprovals
from custody.devices.lineedit import EchoLine, LineEditor
from custody.devices.models import AccessSession, Device
from custody.devices.platforms import platform_for
from custody.devices.policy import CommandPolicy, Verdict
from custody.devices.ssh import ConnectTarget, DeviceConnection, NetmikoConnector
from custody.devices.transcripts import Redactor, TranscriptStore
from custody.errors import Conflict, CustodyError, DeviceError, NotFound
from custody.logs import register_secret, unregister_secret
from custody.secrets import SecretStore

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Za-z0-9]|\x1b[=>]")
# Any prompt for a secret: after hand-over, custody answers none of them.
SECRET_PROMPT = re.compile(r"(?i)(pass(word|phrase)|secret)[^:\n]{0,60}:\s*$")
NO_SECRETS_AFTER_START = (
    "the device asks for a password: custody never types a stored secret into a session "
    "after it has started. Open a privileged session instead; custody elevates it at login.")
# Sent before reading an echo the model cannot predict (completion, history): a space and
# its erasure change no line, and the device echoes them only once it has finished with
# every earlier key, a slow completion included. Quiet alone would read the line early;
# so the line is read only once the erasure's echo (a backspace, or cursor-left or
# erase-line sequences) has come back.
SETTLE_PROBE = b" \x7f"
ERASED = ("\x08", "\x1b[D", "\x1b[K", "\x1b[1D")
UNREADABLE_LINE = ("line refused: custody cannot tell what this line is (the device's screen "
                   "does not show it); type it out in full")
PENDING_KEY = ("line refused: it ends in a key that starts a key sequence (Esc, Ctrl-X, "
               "Ctrl-V), which Enter would complete")


class Connector(Protocol):
    def connect(self, target: ConnectTarget, credentials: Any) -> DeviceConnection: ...


@dataclass(frozen=True)
class Opened:
    session_id: int
    source_ip: str
    node: str | None = None  # whose broker holds the connection


@dataclass(frozen=True)
class LeftLine:
    """A line typed in a terminal that went away before Enter: the prompt it followed
    and the keys' line (as the editor model read it)."""

    prompt: str
    typed: str


@dataclass
class _Live:
    connection: DeviceConnection
    client_id: int
    device_type: str
    redact: Redactor
    registered: tuple[str, ...] = ()
    lock: threading.Lock = field(default_factory=threading.Lock)
    terminal: TerminalStream | None = None
    screen_tail: str | None = None  # the device's last line, as the last terminal left it
    left_line: LeftLine | None = None  # a line the last terminal typed and did not enter
    # Held while a terminal reads the channel: a terminal attached again waits until the
    # one before has stopped reading, so the device's answers reach the new one.
    reading: threading.Lock = field(default_factory=threading.Lock)


def is_size(value: object) -> TypeGuard[list[int]]:
    """Whether ``value`` is a terminal size as the browser sends it: [columns, rows]."""
    return (isinstance(value, list) and len(value) == 2
            and all(type(n) is int for n in value))


class Terminal(Protocol):
    """An attached interactive terminal, as the web adapter sees it."""

    def write(self, data: str) -> None:
        """Send keystrokes (checked against the command policy at Enter)."""
        ...

    def resize(self, columns: int, rows: int) -> None:
        """Give a shell's terminal the browser's size (clamped to sane bounds); a network
        CLI keeps its own."""
        ...

    def next(self) -> dict[str, str] | None:
        """Block for the next event: {"read": text}, {"refused": message}, {"notice": text},
        {"waiting": message} or {"end": reason}; None once the terminal is over."""
        ...

    def close(self) -> None: ...


class Broker(Protocol):
    """What the session service needs from whoever holds the live connections."""

    def open(self, session_id: int) -> Opened: ...

    def run(self, session_id: int, command: str | Sequence[str]) -> str: ...

    def close(self, session_id: int) -> None: ...

    def attach(self, session_id: int, policy: CommandPolicy, actor: str) -> Terminal: ...

    def check(self) -> None:
        """Raise BackendUnavailable unless the broker can take sessions (for /healthz)."""
        ...

    def is_live(self, session_id: int) -> bool: ...

    def redact(self, session_id: int, text: str) -> str:
        """Remove the session device's secrets from text (for audit records)."""
        ...


class LocalBroker:
    """Broker holding connections in this process."""

    def __init__(self, db: sessionmaker[Session], secrets: SecretStore, transcripts: TranscriptStore,
                 settings: BrokerSettings, clock: Clock, audit: AuditLog,
                 approvals: CommandApprovals, connector: Connector | None = None,
                 node: str | None = None) -> None:
        self._db = db
        self.node = node
        self.audit = audit
        self.approvals = approvals
        self._secrets = secrets
        self._transcripts = transcripts
        self._settings = settings
        self._clock = clock
        self._connector: Connector = connector or NetmikoConnector()
        self._live: dict[int, _Live] = {}
        self._lock = threading.Lock()

    def open(self, session_id: int) -> Opened:
        with transaction(self._db) as db:
            session = db.get(AccessSession, session_id)
            if session is None:
                raise NotFound(f"session {session_id} does not exist")
            device = db.get(Device, session.device_id)
            if device is None:
                raise NotFound(f"device {session.device_id} of session {session_id} does not exist")
            if not (device.secret_path and device.host_key and device.egress_ip and device.host):
                raise Conflict(f"device {device.id} is not ready for sessions")
            if device.rotating_since is not None:
                raise Conflict(f"device {device.id}'s credentials are being rotated; open the "
                               "session again in a minute")
            target = ConnectTarget(device.host, device.port, device.device_type, device.egress_ip,
                                   device.host_key, self._settings.connect_timeout,
                                   self._settings.command_timeout, session.privileged)
            client_id, device_type, secret_path = device.client_id, device.device_type, device.secret_path
        creds = self._secrets.get(secret_path)
        clear = {k: v.reveal() for k, v in creds.items() if k != "username"}
        redact = Redactor(clear.values())
        for value in clear.values():
            register_secret(value)
        try:
            connection = self._connector.connect(target, creds)
        except CustodyError as exc:
            self._note(session_id, client_id, "note", redact(f"connection refused: {exc}"))
            for value in clear.values():
                unregister_secret(value)
            raise
        live = _Live(connection, client_id, device_type, redact, tuple(clear.values()))
        with self._lock:
            self._live[session_id] = live
        self._note(session_id, client_id, "note",
                   f"connected to {target.host}:{target.port} from {target.source_ip}; "
                   "host key matched the pin" + ("; elevated by custody before hand-over"
                                                 if target.privileged else ""))
        return Opened(session_id, target.source_ip, self.node)

    def _get(self, session_id: int) -> _Live:
        with self._lock:
            live = self._live.get(session_id)
        if live is None:
            raise Conflict(f"session {session_id} has no live connection (closed or expired)")
        return live

    def _note(self, session_id: int, client_id: int, direction: str, text: str) -> None:
        with transaction(self._db) as db:
            self._transcripts.append(db, session_id, client_id, direction, text)

    def run(self, session_id: int, command: str | Sequence[str]) -> str:
        live = self._get(session_id)
        sent = command if isinstance(command, str) else "\n".join(command)
        self._note(session_id, live.client_id, "cmd", live.redact(sent))
        terminal_open = live.terminal is not None and not live.terminal.stopped
        if terminal_open and (not isinstance(command, str) or not platform_for(live.device_type).shell):
            raise Conflict("the terminal is using this session's device CLI: type the command "
                           "there, or close the terminal page first")
        try:
            if terminal_open:  # a channel of its own: the terminal keeps the interactive one
                output = live.connection.exec_command(str(command))
            else:
                with live.lock:
                    # A shell has no configuration mode: the lines run in the session's own
                    # shell, never behind a sudo that custody would have to answer.
                    output = (live.connection.send_command(command) if isinstance(command, str)
                              else live.connection.send_config_set(
                                  command, config_mode=not platform_for(live.device_type).shell))
        except DeviceError as exc:
            self._note(session_id, live.client_id, "note", f"command failed: {exc}")
            raise
        clean = live.redact(output)
        self._note(session_id, live.client_id, "res", clean)
        return clean

    def close(self, session_id: int) -> None:
        with self._lock:
            live = self._live.pop(session_id, None)
        if live is None:
            return
        if live.terminal is not None:
            live.terminal.stop("session closed")
        with live.lock:
            live.connection.close()
        for value in live.registered:
            unregister_secret(value)
        self._note(session_id, live.client_id, "note", "disconnected")

    def check(self) -> None:
        """In this process: it is here whenever it is asked."""

    def is_live(self, session_id: int) -> bool:
        with self._lock:
            return session_id in self._live

    def redact(self, session_id: int, text: str) -> str:
        with self._lock:
            live = self._live.get(session_id)
        return live.redact(text) if live else text

    def live_sessions(self) -> list[int]:
        with self._lock:
            return sorted(self._live)

    def attach(self, session_id: int, policy: CommandPolicy, actor: str) -> LocalTerminal:
        live = self._get(session_id)
        if live.terminal is not None and not live.terminal.stopped:
            raise Conflict(f"session {session_id} already has a terminal attached")
        live.terminal = TerminalStream(self, session_id, live, policy, actor)
        return LocalTerminal(live.terminal)


class LocalTerminal:
    """Terminal events from a TerminalStream in this process."""

    def __init__(self, stream: TerminalStream) -> None:
        self._stream = stream
        self._ended = False

    def write(self, data: str) -> None:
        self._stream.write(data)

    def resize(self, columns: int, rows: int) -> None:
        self._stream.resize(columns, rows)

    def next(self) -> dict[str, str] | None:
        while True:
            try:
                return self._stream.events.get_nowait()
            except queue.Empty:
                pass
            if self._ended:
                return None
            text = self._stream.read(0.2)
            if text is None:
                self._ended = True
                return {"end": self._stream.stop_reason}
            if text:
                return {"read": text}

    def close(self) -> None:
        if not self._stream.stopped:
            self._stream.stop("terminal detached")


class TerminalStream:
    """An interactive terminal on a live session, with the command policy applied per line.

    Keystrokes pass through as typed (so completion and help keys work). At Enter, the
    line the device will execute is checked: as the line editor model says it is, and as
    the device's echo shows it on an emulated screen; when neither can say, the line is
    refused. A refused line is wiped (Ctrl-E, Ctrl-U) instead of being entered; a line an
    allow-list does not name may wait for approval. No stored secret is ever typed here:
    elevation happened at login, before the technician's first byte.
    """

    def __init__(self, broker: LocalBroker, session_id: int, live: _Live,
                 policy: CommandPolicy, actor: str) -> None:
        self._broker = broker
        self._session_id = session_id
        self._live = live
        self._policy = policy
        self._actor = actor
        self._channel = live.connection.channel()
        self._editor = LineEditor(policy.platform.help_key)
        self._echo = EchoLine()
        self._echo_lock = threading.Lock()
        self._tail = ""  # device output since its last line break: the prompt
        self._output_at = 0.0
        self._since_probe: str | None = None  # device output since the settle probe
        self._keys_at = 0.0
        self._asked = False  # the device's last line is a password prompt
        self._columns = EchoLine.COLUMNS
        self._prompting = False  # the redraw that shows the prompt is not answered yet
        self._line_prompt = ""  # the device's last line when the current line began
        self.events: queue.SimpleQueue[dict[str, str]] = queue.SimpleQueue()
        self.stopped = False
        self.stop_reason = ""
        self._show_prompt()

    def _show_prompt(self) -> None:
        """Show the device's current line at once, not after the first key.

        A line the last terminal left typed but not entered is wiped first (and the
        connection closed if it cannot be): an Enter here would otherwise run it unchecked.
        A terminal attached before left the device's last line, which may be a question
        ("[confirm]") that an Enter would answer: it is shown as it was, and nothing is
        sent. Otherwise the family's redraw key, if it has one that runs nothing (a
        shell's Ctrl-L), makes the device print its prompt; without one, the technician
        is told to press Enter."""
        with self._live.reading:
            pass  # the terminal before, if any, is done with its last read
        left = self._live.left_line
        if left is not None:
            self._tail = left.prompt + left.typed
            if not self._clear_left_line(left):
                self._note("note", "a line left typed by the last terminal could not be "
                                   "cleared; the connection was closed")
                self.stop("a line left typed by the last terminal could not be cleared "
                          "from the device, so custody closed the connection")
                self._broker.close(self._session_id)
                return
            self._live.left_line = None
            self.events.put({"read": self._tail})
        elif self._live.screen_tail is not None:
            self._tail = self._live.screen_tail
            self.events.put({"read": self._tail})
        elif self._policy.platform.redraw:
            self._prompting = True
            self._send(self._policy.platform.redraw.encode())
        else:  # a CLI with no key that shows the prompt and surely runs nothing
            self.events.put({"notice": "connected: press Enter for the device's prompt"})

    def _clear_left_line(self, left: LeftLine) -> bool:
        """Wipe the line a detached terminal left, reading the device here (no relay
        reads yet), and tell whether only the prompt is left."""
        prompt = EchoLine.last_line(left.prompt, self._columns).rstrip()
        for keys in self._wipe_keys(len(left.typed)):
            self._send(keys.encode())
            deadline = time.monotonic() + 2.0
            while time.monotonic() < deadline:
                if self.read(0.15) is None:
                    return False
                if self._output_at > self._keys_at and \
                        time.monotonic() - self._output_at > 0.15:
                    break
            if EchoLine.last_line(self._tail, self._columns).rstrip() == prompt:
                return True
        return False

    def _await_prompt(self, timeout: float = 3.0) -> None:
        """Keys typed before that prompt is on screen wait for it (the line is read from
        the echo after the prompt)."""
        deadline = time.monotonic() + timeout
        while self._prompting and time.monotonic() < deadline:
            with self._echo_lock:
                if self._answered():
                    break
            time.sleep(0.02)
        self._prompting = False

    def resize(self, columns: int, rows: int) -> None:
        """Resize a shell's pty (readline wraps long lines as the emulated screen does); a
        line being typed is then read afresh (or refused). A network CLI keeps the
        511-column terminal netmiko asked for: some scroll long lines sideways, which no
        screen reading can follow."""
        if not self._policy.platform.shell:
            return
        columns, rows = min(max(columns, 20), 500), min(max(rows, 5), 200)
        try:
            with self._live.lock:
                self._channel.resize_pty(width=columns, height=rows)
        except (OSError, EOFError, paramiko.SSHException):
            return  # the connection is going; read() will say so
        with self._echo_lock:
            self._columns = columns
            if self._echo.started:
                self._echo.lose()

    def stop(self, reason: str) -> None:
        if not self.stopped and self._editor.keys:
            # A line typed and not entered stays on the device: the next terminal wipes it.
            self._live.left_line = LeftLine(self._line_prompt, self._editor.text)
        self.stopped, self.stop_reason = True, reason

    def _note(self, direction: str, text: str) -> None:
        self._broker._note(self._session_id, self._live.client_id, direction, text)

    def write(self, data: str) -> None:
        """Send keystrokes; a line is checked (and maybe refused or held) at Enter."""
        self._await_prompt()
        pending: list[str] = []
        for piece in re.split(r"([\r\n])", data):
            if self.stopped:
                return
            if piece in ("\r", "\n"):
                self._flush(pending)
                self._enter()
            elif piece:
                with self._echo_lock:
                    if not self._echo.started:
                        self._line_prompt = self._tail
                        self._echo.begin(self._tail, self._columns)
                self._editor.feed(piece)
                pending.append(piece)
        self._flush(pending)

    def _flush(self, pending: list[str]) -> None:
        if pending:
            self._send("".join(pending).encode())
            pending.clear()

    def _send(self, data: bytes) -> None:
        self._keys_at = time.monotonic()
        try:
            with self._live.lock:
                self._channel.send(data)
        except OSError:
            self.stop("the device closed the connection")

    def _enter(self) -> None:
        if self._editor.pending:
            refusal: str | None = self._refuse(self._editor.text, PENDING_KEY)
            readings: list[str] | None = []
        else:
            readings = self._readings()
            refusal = self._judge(readings)
        if refusal is None:
            self._send(b"\r")
            line = readings[0] if readings else ""
            if line.strip():
                self._note("in", self._live.redact(line))
        else:
            self._wipe([self._editor.text, *(readings or [])])
            self.events.put({"refused": refusal})
        self._editor.reset()
        with self._echo_lock:
            self._echo.end()

    def _wipe(self, refused: list[str]) -> None:
        """Clear a refused line on the device, and make sure it is gone: a line left there
        would run with the next Enter, so a terminal that cannot clear it is closed."""
        texts = [t.strip() for t in refused if t.strip()]
        for keys in self._wipe_keys(max((len(t) for t in refused), default=0)):
            self._send(keys.encode())
            if self._cleared(texts):
                return
        self._note("note", "a refused line could not be cleared; the connection was closed")
        self.stop("a refused line could not be cleared from the device, so custody closed "
                  "the connection")
        self._broker.close(self._session_id)

    def _wipe_keys(self, longest: int) -> tuple[str, str]:
        """What clears a line of up to ``longest`` characters, tried in turn: the
        family's keys; then, for a CLI without them, a backspace per character."""
        return self._policy.platform.wipe, "\x7f" * min(4096, longest + 8)

    def _cleared(self, texts: list[str], timeout: float = 2.0) -> bool:
        """Whether the device's last line, once it is quiet, no longer ends in the line."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            time.sleep(0.05)
            with self._echo_lock:
                if not self._answered():
                    continue
                shown = EchoLine.last_line(self._tail, self._columns)
            return not any(shown.endswith(text) for text in texts)
        return False

    def _answered(self) -> bool:
        """Whether the device has answered the last keys sent and gone quiet since
        (called under the echo lock)."""
        return self._output_at > self._keys_at and time.monotonic() - self._output_at > 0.15

    def _readings(self) -> list[str] | None:
        """What the line is, by the editor model and by the device's echo; None when the
        screen cannot say (the echo is needed: the model alone can be wrong)."""
        model = self._editor.text if self._editor.certain else None
        if not self._editor.keys:
            return [""]  # Enter alone
        if model is None:
            with self._echo_lock:
                self._since_probe = ""
            self._send(SETTLE_PROBE)
        echo = self._settled_echo(model)
        if echo is None:
            return None
        if model is None and self._columns < EchoLine.COLUMNS:
            with self._echo_lock:
                if self._echo.wrapped:
                    return None  # only the screen can say, and the line wrapped on it
        return [r for r in dict.fromkeys((model, echo)) if r is not None]

    def _settled_echo(self, model: str | None, timeout: float = 1.5) -> str | None:
        """The echoed line once the device has caught up with the keys: it shows the model's
        line, or (when the model cannot know the line: completion, history) it has answered
        the last key and gone quiet. None when the screen cannot say in time."""
        deadline = time.monotonic() + timeout
        while True:
            with self._echo_lock:
                echo = self._echo.line() if self._echo.started else (model or "")
                answered = self._answered() and (
                    self._since_probe is None
                    or any(erased in self._since_probe for erased in ERASED))
            if echo == model or (model is None and answered):
                self._since_probe = None
                return echo
            if time.monotonic() > deadline:
                self._since_probe = None
                return echo if model is not None else None
            time.sleep(0.02)

    def _judge(self, readings: list[str] | None) -> str | None:
        """None if every reading may run; otherwise the message for the technician."""
        if not readings:
            return self._refuse(self._editor.text, UNREADABLE_LINE)
        for line in readings:
            if not line.strip():
                continue
            try:
                decision = self._policy.decide(line)
            except CustodyError as exc:
                return self._refuse(line, str(exc))
            if decision.verdict is Verdict.UNLISTED and self._policy.confirm:
                refusal = self._confirm(line)
                if refusal is not None:
                    return refusal
            elif (message := decision.refusal(line)) is not None:
                return self._refuse(line, message)
        return None

    def _refuse(self, line: str, message: str) -> str:
        shown = self._live.redact(line.strip())
        self._note("note", self._live.redact(f"refused: {line.strip()!r} ({message})"))
        with transaction(self._broker._db) as db:
            self._broker.audit.record(db, self._actor, "session.command_refused",
                                      f"session:{self._session_id}", command=shown,
                                      via="terminal")
        return message

    def _confirm(self, line: str) -> str | None:
        """Hold the line until an approver decides; None once approved."""
        shown = self._live.redact(line.strip())
        approvals = self._broker.approvals
        with transaction(self._broker._db) as db:
            session = db.get(AccessSession, self._session_id)
            if session is None:
                return self._refuse(line, "the session no longer exists")
            approval_id = approvals.ask(db, session, self._actor, shown).id
        self.events.put({"waiting": f"waiting for approval of {shown!r} (request {approval_id})"})
        self._note("note", f"held for approval: {shown!r} (request {approval_id})")
        state = approvals.wait(approval_id, stopped=lambda: self.stopped)
        if state is ApprovalState.APPROVED:
            with transaction(self._broker._db) as db:
                approvals.mark_used(db, approval_id)
            self.events.put({"notice": f"request {approval_id} approved: running {shown!r}"})
            return None
        message = f"command refused: request {approval_id} was {state}"
        self._note("note", f"refused: {shown!r} ({message})")
        return message

    def read(self, timeout: float = 0.2) -> str | None:
        """Return device output ('' if none yet), or None once the terminal has ended."""
        with self._live.reading:  # one reader of the channel, even across terminals
            if self.stopped:
                return None
            self._channel.settimeout(timeout)
            try:
                chunk = self._channel.recv(65536)
            except TimeoutError:
                return ""
            except OSError:
                chunk = b""
        if not chunk:
            self.stop("the device closed the connection")
            return None
        clean = self._live.redact(chunk.decode(errors="replace"))
        with self._echo_lock:
            self._echo.feed(clean)
            self._output_at = time.monotonic()
            self._tail = (self._tail + clean).rsplit("\n", 1)[-1][-2000:]
            self._live.screen_tail = self._tail
            if self._since_probe is not None:
                self._since_probe = (self._since_probe + clean)[-4000:]
        asking = bool(SECRET_PROMPT.search(ANSI.sub("", self._tail)))
        if asking and not self._asked:
            self.events.put({"notice": NO_SECRETS_AFTER_START})
            self._note("note", "the device asked for a password; custody typed nothing")
        self._asked = asking
        self._note("out", clean)
        return clean
