"""The node channel: brokers reach each other over mutual TLS, with certificates from the
node CA only (TLS 1.3; the peer's name must be that of the node it claims to be)."""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable

from custody.cluster.identity import NodeIdentity
from custody.devices.broker_net import Connection
from custody.errors import BackendUnavailable

log = logging.getLogger("custody.cluster")


def server_context(identity: NodeIdentity) -> ssl.SSLContext:
    """Accept only peers with a certificate from the node CA."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cafile=str(identity.ca))
    context.load_cert_chain(str(identity.cert), str(identity.key))
    return context


def client_context(identity: NodeIdentity) -> ssl.SSLContext:
    """Present this node's certificate; trust only the node CA, and check the peer's name."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.load_verify_locations(cafile=str(identity.ca))
    context.load_cert_chain(str(identity.cert), str(identity.key))
    return context


def peer_identity(sock: ssl.SSLSocket) -> tuple[str, str]:
    """The verified peer's node name (its CN) and certificate serial (hex)."""
    cert = sock.getpeercert()
    if not cert:
        return "", ""
    names = [attr[1] for rdn in cert.get("subject", ()) for attr in rdn
             if attr[0] == "commonName"]
    return (str(names[0]) if names else ""), str(cert.get("serialNumber", "")).lower().lstrip("0")


class SerializedTls:
    """A TLS socket one thread reads while another writes: OpenSSL allows neither at once,
    so both take a lock, and the reader waits for data outside it."""

    SEND_TIMEOUT = 30.0

    def __init__(self, sock: ssl.SSLSocket) -> None:
        self._sock = sock
        self._sock.settimeout(self.SEND_TIMEOUT)
        self._lock = threading.Lock()
        self._closed = False
        self._read_timeout: float | None = None

    def settimeout(self, seconds: float | None) -> None:
        """How long recv waits for data (None: for ever)."""
        self._read_timeout = seconds

    def recv(self, size: int) -> bytes:
        deadline = None if self._read_timeout is None else time.monotonic() + self._read_timeout
        while True:
            with self._lock:
                if self._closed:
                    return b""
                self._sock.settimeout(0)
                try:
                    return self._sock.recv(size)
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
                    pass
                finally:
                    self._sock.settimeout(self.SEND_TIMEOUT)
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError("the node channel timed out")
            self._wait_readable(250)

    def _wait_readable(self, milliseconds: int) -> bool:
        poller = select.poll()  # not select(): descriptors past 1024 are common in a broker
        poller.register(self._sock, select.POLLIN | select.POLLERR | select.POLLHUP)
        return bool(poller.poll(milliseconds))

    def stale(self) -> bool:
        """Whether an idle connection has been closed, or said anything, since its last
        reply: either way it cannot carry the next request."""
        with self._lock:
            return self._closed or bool(self._sock.pending()) or self._wait_readable(0)

    def sendall(self, data: bytes) -> None:
        with self._lock:
            self._sock.sendall(data)

    def shutdown(self, how: int) -> None:
        self._closed = True
        with contextlib.suppress(OSError):
            self._sock.shutdown(how)

    def close(self) -> None:
        self._closed = True
        self._sock.close()


class NodeChannel:
    """Dial another node's broker: ``address_of`` says where a node listens and the serial
    of its certificate (looked up again after a few seconds, or at once when the node does
    not answer there)."""

    ADDRESS_SECONDS = 5.0
    # Idle connections kept per node, and for how long (well below the broker's own
    # IDLE_SECONDS, so that a kept connection is never one the other end has dropped).
    KEEP_PER_NODE = 8
    KEEP_SECONDS = 60.0

    def __init__(self, identity: NodeIdentity, address_of: Callable[[str], tuple[str, str]],
                 timeout: float = 120.0) -> None:
        self.identity = identity
        self._address_of = address_of
        self._addresses: dict[str, tuple[tuple[str, str], float]] = {}
        self._context = client_context(identity)
        self._timeout = timeout
        self._idle: dict[str, list[tuple[SerializedTls, float]]] = {}
        self._lock = threading.Lock()

    def _address(self, node: str) -> tuple[str, str]:
        known = self._addresses.get(node)
        if known is not None and known[1] > time.monotonic():
            return known[0]
        found = self._address_of(node)
        self._addresses[node] = (found, time.monotonic() + self.ADDRESS_SECONDS)
        return found

    def dialer(self, node: str) -> NodeDialer:
        """Connections to ``node``'s broker, kept open between requests."""
        return NodeDialer(self, node)

    def close(self) -> None:
        """Close the connections kept for reuse."""
        with self._lock:
            kept = [conn for conns in self._idle.values() for conn, _ in conns]
            self._idle.clear()
        for conn in kept:
            conn.close()

    def _take(self, node: str) -> SerializedTls | None:
        with self._lock:
            kept = self._idle.get(node, [])
            while kept:
                conn, since = kept.pop()
                if time.monotonic() - since < self.KEEP_SECONDS and not conn.stale():
                    return conn
                conn.close()
        return None

    def _keep(self, node: str, conn: SerializedTls) -> None:
        with self._lock:
            kept = self._idle.setdefault(node, [])
            if len(kept) < self.KEEP_PER_NODE:
                kept.append((conn, time.monotonic()))
                return
        conn.close()

    def connect(self, node: str) -> SerializedTls:
        """A new connection to ``node``'s broker, checked to be that node's current
        certificate (the CA's signature, the name, and the serial the registry holds)."""
        address, serial = self._address(node)
        host, _, port = address.rpartition(":")
        try:
            raw = socket.create_connection((host.strip("[]"), int(port)), timeout=10)
        except OSError as exc:
            self._addresses.pop(node, None)
            log.warning("node channel: node %s does not answer at %s: %s", node, address, exc)
            raise BackendUnavailable(f"node {node}, which holds this session's device "
                                     "connection, does not answer") from None
        try:
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            tls = self._context.wrap_socket(raw, server_hostname=node)
        except (ssl.SSLError, OSError) as exc:
            raw.close()
            log.warning("node channel: %s at %s failed the TLS check: %s", node, address, exc)
            raise BackendUnavailable(f"node {node} failed the node channel's checks; see "
                                     "the log") from None
        if peer_identity(tls)[1] != serial:
            tls.close()
            self._addresses.pop(node, None)
            log.warning("node channel: %s at %s presented a certificate the registry no "
                        "longer holds for it", node, address)
            raise BackendUnavailable(f"node {node} failed the node channel's checks; see "
                                     "the log")
        channel = SerializedTls(tls)
        channel.settimeout(self._timeout)
        return channel


class NodeDialer:
    """A RemoteBroker's dialer for one node: kept connections first, else a new one."""

    def __init__(self, channel: NodeChannel, node: str) -> None:
        self._channel = channel
        self._node = node

    def acquire(self, fresh: bool = False) -> tuple[SerializedTls, bool]:
        kept = None if fresh else self._channel._take(self._node)
        if kept is not None:
            return kept, True
        return self._channel.connect(self._node), False

    def release(self, conn: Connection) -> None:
        if isinstance(conn, SerializedTls):
            self._channel._keep(self._node, conn)
        else:
            conn.close()
