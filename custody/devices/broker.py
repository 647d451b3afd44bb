"""The broker: holds live device connections, runs commands, relays terminals, records transcripts.

It is the only place that sees device credentials in clear, and only in memory,
for as long as a connection is being made. Everything it writes to a transcript
or returns to a caller has passed through the device's Redactor first.
"""

from __future__ import annotations

import queue
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.orm import Session, sessionmaker

from custody.clock import Clock
from custody.config import BrokerSettings
from custody.db import transaction
from custody.devices.models import AccessSession, Device
from custody.devices.platforms import platform_for
from custody.devices.policy import CommandPolicy
from custody.devices.ssh import ENABLE_MODE_TYPES, ConnectTarget, DeviceConnection, NetmikoConnector
from custody.devices.transcripts import Redactor, TranscriptStore
from custody.errors import Conflict, CustodyError, DeviceError, NotFound
from custody.logs import register_secret, unregister_secret
from custody.secrets import SecretStore

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Za-z0-9]|\x1b[=>]")
PASSWORD_PROMPT = re.compile(r"(?i)password:\s*$")
ENABLE_WORDS = {"en", "ena", "enab", "enabl", "enable"}


class Connector(Protocol):
    def connect(self, target: ConnectTarget, credentials: Any) -> DeviceConnection: ...


@dataclass(frozen=True)
class Opened:
    session_id: int
    source_ip: str


@dataclass
class _Live:
    connection: DeviceConnection
    client_id: int
    device_type: str
    redact: Redactor
    has_enable_secret: bool
    secret: str | None
    registered: tuple[str, ...] = ()
    lock: threading.Lock = field(default_factory=threading.Lock)
    terminal: TerminalStream | None = None


class Terminal(Protocol):
    """An attached interactive terminal, as the web adapter sees it."""

    def write(self, data: str) -> None:
        """Send keystrokes (checked against the command policy at Enter)."""
        ...

    def next(self) -> dict[str, str] | None:
        """Block for the next event: {"read": text}, {"refused": message} or {"end": reason};
        None once the terminal is over."""
        ...

    def close(self) -> None: ...


class Broker(Protocol):
    """What the session service needs from whoever holds the live connections."""

    def open(self, session_id: int) -> Opened: ...

    def run(self, session_id: int, command: str | Sequence[str]) -> str: ...

    def close(self, session_id: int) -> None: ...

    def attach(self, session_id: int, policy: CommandPolicy) -> Terminal: ...

    def is_live(self, session_id: int) -> bool: ...

    def redact(self, session_id: int, text: str) -> str:
        """Remove the session device's secrets from text (for audit records)."""
        ...


class LocalBroker:
    """Broker holding connections in this process."""

    def __init__(self, db: sessionmaker[Session], secrets: SecretStore, transcripts: TranscriptStore,
                 settings: BrokerSettings, clock: Clock, connector: Connector | None = None) -> None:
        self._db = db
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
            assert device is not None
            if not (device.secret_path and device.host_key and device.egress_ip and device.host):
                raise Conflict(f"device {device.id} is not ready for sessions")
            target = ConnectTarget(device.host, device.port, device.device_type, device.egress_ip,
                                   device.host_key, self._settings.connect_timeout,
                                   self._settings.command_timeout)
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
        live = _Live(connection, client_id, device_type, redact, "secret" in creds,
                     clear.get("secret"), tuple(clear.values()))
        with self._lock:
            self._live[session_id] = live
        self._note(session_id, client_id, "note",
                   f"connected to {target.host}:{target.port} from {target.source_ip}; "
                   "host key matched the pin")
        return Opened(session_id, target.source_ip)

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
        self._note(session_id, live.client_id, "in", live.redact(sent))
        terminal_open = live.terminal is not None and not live.terminal.stopped
        if terminal_open and (not isinstance(command, str) or not platform_for(live.device_type).shell):
            raise Conflict("the terminal is using this session's device CLI: type the command "
                           "there, or close the terminal page first")
        try:
            if terminal_open:  # a channel of its own: the terminal keeps the interactive one
                output = live.connection.exec_command(str(command))
            else:
                with live.lock:
                    output = (live.connection.send_command(command) if isinstance(command, str)
                              else live.connection.send_config_set(command))
        except DeviceError as exc:
            self._note(session_id, live.client_id, "note", f"command failed: {exc}")
            raise
        clean = live.redact(output)
        self._note(session_id, live.client_id, "out", clean)
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

    def attach(self, session_id: int, policy: CommandPolicy) -> LocalTerminal:
        live = self._get(session_id)
        if live.terminal is not None and not live.terminal.stopped:
            raise Conflict(f"session {session_id} already has a terminal attached")
        live.terminal = TerminalStream(self, session_id, live, policy)
        return LocalTerminal(live.terminal)


class LocalTerminal:
    """Terminal events from a TerminalStream in this process."""

    def __init__(self, stream: TerminalStream) -> None:
        self._stream = stream
        self._events: queue.SimpleQueue[dict[str, str]] = queue.SimpleQueue()
        self._ended = False

    def write(self, data: str) -> None:
        refused = self._stream.write(data)
        if refused:
            self._events.put({"refused": refused})

    def next(self) -> dict[str, str] | None:
        while True:
            try:
                return self._events.get_nowait()
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

    Keystrokes pass through as typed (so completion and help keys work); at Enter the
    line is checked, both as typed and as the device echoed it. A denied line is
    wiped with Ctrl-U instead of being sent. After "enable", the device's password
    prompt is answered with the stored secret; the technician never sees it.
    """

    def __init__(self, broker: LocalBroker, session_id: int, live: _Live,
                 policy: CommandPolicy) -> None:
        self._broker = broker
        self._session_id = session_id
        self._live = live
        self._policy = policy
        self._channel = live.connection.channel()
        self._typed = ""
        self._screen_line = ""
        self._await_enable_prompt = False
        self.stopped = False
        self.stop_reason = ""
        self.refusals: list[str] = []

    def stop(self, reason: str) -> None:
        self.stopped, self.stop_reason = True, reason

    def _note(self, direction: str, text: str) -> None:
        self._broker._note(self._session_id, self._live.client_id, direction, text)

    def write(self, data: str) -> str | None:
        """Send keystrokes; return a message for the user if a line was refused."""
        if self.stopped:
            return None
        out = []
        for ch in data:
            if ch in "\r\n":
                refused = self._check_line()
                if refused:
                    out.append("\x15")  # Ctrl-U: kill the typed line on the device
                    self._flush(out)
                    self._typed = ""
                    return refused
                self._note("in", self._live.redact(self._typed))
                word = self._typed.strip().lower()
                self._await_enable_prompt = (word in ENABLE_WORDS and self._live.has_enable_secret
                                             and self._live.device_type in ENABLE_MODE_TYPES)
                self._typed = ""
                out.append("\r")
            elif ch in "\x7f\x08":
                self._typed = self._typed[:-1]
                out.append(ch)
            elif ch == "\x15" or ch == "\x03":
                self._typed = ""
                out.append(ch)
            else:
                if ch.isprintable():
                    self._typed += ch
                out.append(ch)
        self._flush(out)
        return None

    def _flush(self, out: list[str]) -> None:
        with self._live.lock:
            self._channel.send("".join(out).encode())

    def _check_line(self) -> str | None:
        candidates = [self._typed]
        echoed = re.split(r"[#>$]\s?", self._screen_line)[-1] if self._screen_line else ""
        # The device's echo may lag behind what was typed: a prefix of the typed line adds
        # nothing to check (and, cut short, would not parse).
        if echoed and echoed != self._typed and not self._typed.startswith(echoed):
            candidates.append(echoed)
        for line in candidates:
            if not line.strip():
                continue
            try:
                self._policy.check(line)
            except CustodyError as exc:
                message = str(exc)
                self.refusals.append(line.strip())
                self._note("note", self._live.redact(f"refused: {line.strip()!r} ({message})"))
                return message
        return None

    def read(self, timeout: float = 0.2) -> str | None:
        """Return device output ('' if none yet), or None once the terminal has ended."""
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
        text = chunk.decode(errors="replace")
        clean = self._live.redact(text)
        self._track_screen(clean)
        if self._await_enable_prompt and PASSWORD_PROMPT.search(ANSI.sub("", clean)):
            self._await_enable_prompt = False
            assert self._live.secret is not None
            with self._live.lock:
                self._channel.send((self._live.secret + "\r").encode())
            self._note("note", "[enable secret injected by custody]")
        self._note("out", clean)
        return clean

    def _track_screen(self, text: str) -> None:
        plain = ANSI.sub("", text)
        for ch in plain:
            if ch == "\n":
                self._screen_line = ""
            elif ch == "\r":
                continue
            elif ch == "\b":
                self._screen_line = self._screen_line[:-1]
            elif ch.isprintable():
                self._screen_line += ch

