"""The broker as its own process: a Unix-socket server around LocalBroker, and its client.

Web workers are many and short-lived; device connections must live in one place
for a session's whole length. `custody serve` starts one broker process that
holds them; every worker talks to it through RemoteBroker. Messages are JSON
lines; an attached terminal turns its connection into a stream of them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import socketserver
import ssl
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from custody import errors
from custody.devices.broker import LocalBroker, LocalTerminal, Opened, is_size
from custody.devices.policy import CommandPolicy
from custody.errors import BackendUnavailable, ConfigError, CustodyError

log = logging.getLogger("custody.broker")


class Connection(Protocol):
    """What the protocol needs of a connection: a Unix socket, or a node channel's TLS."""

    def recv(self, size: int, /) -> bytes: ...

    def sendall(self, data: bytes, /) -> None: ...

    def settimeout(self, seconds: float | None, /) -> None: ...

    def shutdown(self, how: int, /) -> None: ...

    def close(self) -> None: ...


# A connection kept open between requests is dropped after this long without one.
IDLE_SECONDS = 300.0
# Node channel connections served at once (a cluster needs a few per node and worker).
MAX_NODE_CONNECTIONS = 256
# What may be sent again on a new connection when a kept one turns out dead: a request
# that changes nothing, or whose repeat is harmless. Never a command, an open or a terminal.
SAFE_TO_REPEAT = frozenset({"is_live", "redact", "close"})


def _send(sock: Connection, message: dict[str, Any]) -> None:
    sock.sendall(json.dumps(message).encode() + b"\n")


class _Lines:
    """JSON messages, one per line, read from a connection."""

    def __init__(self, sock: Connection) -> None:
        self._sock = sock
        self._buffer = b""

    def next(self) -> dict[str, Any] | None:
        while b"\n" not in self._buffer:
            chunk = self._sock.recv(65536)
            if not chunk:
                return None
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return json.loads(line)  # type: ignore[no-any-return]


def _error(exc: CustodyError) -> dict[str, Any]:
    return {"ok": False, "error": {"type": type(exc).__name__, "message": str(exc)}}


def _raise(error: dict[str, str]) -> None:
    cls = getattr(errors, error.get("type", ""), None)
    if not (isinstance(cls, type) and issubclass(cls, CustodyError)):
        cls = CustodyError
    raise cls(error.get("message", "broker error"))


def claim_socket(path: Path) -> None:
    """Make ``path`` free for a new broker: a stale socket (its broker gone) is removed;
    a live one belongs to a running custody, which a second one must not take over."""
    if not path.exists():
        return
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except OSError:
        path.unlink(missing_ok=True)  # nobody listens: left by a broker that died
        return
    finally:
        probe.close()
    raise ConfigError(f"another custody broker is running on {path} (a `custody serve` in "
                      "this folder?): stop it first, or give this node a broker socket of "
                      "its own (broker.socket, or CUSTODY_BROKER__SOCKET)")


class BrokerServer:
    """Serve a LocalBroker on a Unix socket readable only by this user."""

    def __init__(self, broker: LocalBroker, path: Path) -> None:
        self.broker = broker
        self.path = path
        outer = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                outer._handle(self.connection)

        path.parent.mkdir(parents=True, exist_ok=True)
        claim_socket(path)
        old = os.umask(0o077)
        try:
            self._server = socketserver.ThreadingUnixStreamServer(str(path), Handler)
        finally:
            os.umask(old)
        self._inode = path.stat().st_ino
        self._server.daemon_threads = True
        self._tls_servers: list[socketserver.ThreadingTCPServer] = []

    def serve_forever(self) -> None:
        self._server.serve_forever(poll_interval=0.2)

    def start(self) -> BrokerServer:
        threading.Thread(target=self.serve_forever, daemon=True, name="broker").start()
        return self

    def stop(self) -> None:
        for server in (self._server, *self._tls_servers):
            server.shutdown()
            server.server_close()
        for session_id in self.broker.live_sessions():
            self.broker.close(session_id)
        # Only our own socket: never one another broker has bound at this path since.
        with contextlib.suppress(FileNotFoundError):
            if self.path.stat().st_ino == self._inode:
                self.path.unlink()

    def listen_tls(self, address: str, context: ssl.SSLContext,
                   accept: Callable[[ssl.SSLSocket], bool],
                   wrap: Callable[[ssl.SSLSocket], Connection]) -> tuple[str, int]:
        """Also serve other nodes on ``address`` (host:port) over TLS: ``context`` checks
        their certificate, ``accept`` whether that node is still one of ours. Returns the
        address bound (port 0 picks a free one)."""
        host, _, port = address.rpartition(":")
        outer = self

        slots = threading.BoundedSemaphore(MAX_NODE_CONNECTIONS)

        class TlsHandler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                if not slots.acquire(blocking=False):
                    return  # more connections than any cluster needs: someone else's
                try:
                    self._serve()
                finally:
                    slots.release()

            def _serve(self) -> None:
                self.request.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
                self.request.settimeout(10)  # for the handshake
                try:
                    tls = context.wrap_socket(self.request, server_side=True)
                except (ssl.SSLError, OSError):
                    return  # no certificate from the node CA: nothing is said
                try:
                    if accept(tls):  # and again before each request: a node removed since
                        outer._handle(wrap(tls), lambda: accept(tls))  # is cut off
                finally:
                    tls.close()

        family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET

        class Server(socketserver.ThreadingTCPServer):
            address_family = family
            allow_reuse_address = True
            daemon_threads = True

        tls_server = Server((host.strip("[]"), int(port)), TlsHandler)
        self._tls_servers.append(tls_server)
        threading.Thread(target=tls_server.serve_forever, kwargs={"poll_interval": 0.2},
                         daemon=True, name="node-channel").start()
        bound = tls_server.server_address
        return str(bound[0]), int(bound[1])

    def _handle(self, sock: Connection, allowed: Callable[[], bool] = lambda: True) -> None:
        """Answer requests on one connection until the client closes it (node channels
        keep theirs open for the next request), or ``allowed`` says no more; an attached
        terminal ends it."""
        lines = _Lines(sock)
        sock.settimeout(IDLE_SECONDS)
        try:
            while (request := lines.next()) is not None:
                if not allowed() or not self._answer(sock, lines, request, allowed):
                    return
        except OSError:
            pass  # the client went away, or stayed silent too long

    def _answer(self, sock: Connection, lines: _Lines, request: dict[str, Any],
                allowed: Callable[[], bool]) -> bool:
        """Answer one request; False once the connection is used up (a terminal)."""
        op, sid = request.get("op"), int(request.get("session_id", 0))
        try:
            if op == "open":
                opened = self.broker.open(sid)
                _send(sock, {"ok": True, "source_ip": opened.source_ip, "node": opened.node})
            elif op == "run":
                command = request["command"]
                _send(sock, {"ok": True, "output": self.broker.run(
                    sid, command if isinstance(command, str) else list(command))})
            elif op == "close":
                self.broker.close(sid)
                _send(sock, {"ok": True})
            elif op == "redact":
                _send(sock, {"ok": True, "text": self.broker.redact(sid, str(request["text"]))})
            elif op == "is_live":
                _send(sock, {"ok": True, "live": self.broker.is_live(sid)})
            elif op == "attach":
                policy = CommandPolicy.from_json(request["policy"])
                stream = self.broker.attach(sid, policy, str(request["actor"]))
                _send(sock, {"ok": True})
                sock.settimeout(None)
                self._pump(sock, lines, stream, allowed)
                return False
            else:
                _send(sock, {"ok": False, "error": {"type": "InvalidInput",
                                                    "message": f"unknown op {op!r}"}})
        except CustodyError as exc:
            _send(sock, _error(exc))
        except Exception:  # a reply, always: a caller left without one might send it again
            log.exception("the broker failed on %s for session %s", op, sid)
            _send(sock, {"ok": False, "error": {"type": "CustodyError",
                                                "message": "the session broker failed; see "
                                                           "its log"}})
        return True

    def _pump(self, sock: Connection, lines: _Lines, terminal: LocalTerminal,
              allowed: Callable[[], bool]) -> None:
        def device_to_client() -> None:
            try:
                while (event := terminal.next()) is not None:
                    _send(sock, event)
            except OSError:
                terminal.close()

        reader = threading.Thread(target=device_to_client, daemon=True)
        reader.start()
        try:
            while (msg := lines.next()) is not None and allowed():
                if "write" in msg:
                    terminal.write(str(msg["write"]))
                elif is_size(size := msg.get("resize")):
                    terminal.resize(size[0], size[1])
        finally:
            terminal.close()
            reader.join(timeout=2)


class RemoteStream:
    """The client side of an attached terminal."""

    def __init__(self, sock: Connection, lines: _Lines) -> None:
        self._sock = sock
        self._lines = lines

    def write(self, data: str) -> None:
        _send(self._sock, {"write": data})

    def resize(self, columns: int, rows: int) -> None:
        _send(self._sock, {"resize": [columns, rows]})

    def next(self) -> dict[str, str] | None:
        try:
            return self._lines.next()
        except (OSError, ValueError):
            return None

    def close(self) -> None:
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()


class Dialer(Protocol):
    """Where a RemoteBroker gets its connections: new ones, or kept ones to reuse."""

    def acquire(self, fresh: bool = False) -> tuple[Connection, bool]:
        """A connection (a new one if ``fresh``), and whether it was used before (and so
        may have gone stale)."""
        ...

    def release(self, conn: Connection) -> None:
        """Take back a connection whose last request was fully answered."""
        ...


class UnixDialer:
    """A new connection to the broker's Unix socket for every request."""

    def __init__(self, path: Path) -> None:
        self._path = path

    def acquire(self, fresh: bool = False) -> tuple[Connection, bool]:
        unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            unix.connect(str(self._path))
        except OSError:
            unix.close()
            raise BackendUnavailable("the session broker is not running "
                                     f"(no socket at {self._path})") from None
        return unix, False

    def release(self, conn: Connection) -> None:
        conn.close()


class RemoteBroker:
    """Broker client: web workers talk to their node's broker on its Unix socket, and
    to another node's broker through the node channel (its ``dialer``)."""

    def __init__(self, path: Path | None = None, timeout: float = 120.0,
                 dialer: Dialer | None = None) -> None:
        if dialer is None:
            if path is None:
                raise ValueError("a RemoteBroker needs a socket path or a dialer")
            dialer = UnixDialer(path)
        self._dialer = dialer
        self._timeout = timeout

    def _connect(self, fresh: bool = False) -> tuple[Connection, bool]:
        sock, reused = self._dialer.acquire(fresh)
        sock.settimeout(self._timeout)
        return sock, reused

    def check(self) -> None:
        """Raise BackendUnavailable unless a broker listens on the socket."""
        sock, _ = self._connect()
        sock.close()

    def _call(self, request: dict[str, Any]) -> dict[str, Any]:
        # A kept connection may have died with its node since (a restart): a request
        # that is safe to repeat goes once more on a new connection; others fail.
        for _ in range(2):
            sock, reused = self._connect()
            repeat = reused and request.get("op") in SAFE_TO_REPEAT
            try:
                _send(sock, request)
                reply = _Lines(sock).next()
            except OSError as exc:  # a reset, a timeout, a TLS alert from the other end
                sock.close()
                if repeat:
                    continue
                raise BackendUnavailable(f"the session broker did not answer ({exc}); "
                                         "if this was a command, it may have run") from None
            if reply is None:
                sock.close()
                if repeat:
                    continue
                raise BackendUnavailable("the session broker closed the connection")
            self._dialer.release(sock)
            if not reply.get("ok"):
                _raise(reply["error"])
            return reply
        raise BackendUnavailable("the session broker closed the connection")

    def open(self, session_id: int) -> Opened:
        reply = self._call({"op": "open", "session_id": session_id})
        return Opened(session_id, reply["source_ip"], reply.get("node"))

    def run(self, session_id: int, command: str | Sequence[str]) -> str:
        payload: str | list[str] = command if isinstance(command, str) else list(command)
        reply = self._call({"op": "run", "session_id": session_id, "command": payload})
        return str(reply["output"])

    def close(self, session_id: int) -> None:
        self._call({"op": "close", "session_id": session_id})

    def is_live(self, session_id: int) -> bool:
        return bool(self._call({"op": "is_live", "session_id": session_id})["live"])

    def redact(self, session_id: int, text: str) -> str:
        return str(self._call({"op": "redact", "session_id": session_id, "text": text})["text"])

    def attach(self, session_id: int, policy: CommandPolicy, actor: str) -> RemoteStream:
        sock, _ = self._connect(fresh=True)
        sock.settimeout(None)
        _send(sock, {"op": "attach", "session_id": session_id, "policy": policy.to_json(),
                     "actor": actor})
        lines = _Lines(sock)
        reply = lines.next()
        if reply is None or not reply.get("ok"):
            sock.close()
            _raise((reply or {}).get("error", {"message": "broker closed the connection"}))
        return RemoteStream(sock, lines)
