"""SSH to customer devices: fixed source addresses, pinned host keys, netmiko sessions.

netmiko and paramiko are used only inside custody/devices/. Every connection is
bound to the device's egress address and checked against the pinned host key
with paramiko's RejectPolicy: nothing is ever accepted on first sight.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import io
import os
import socket
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import paramiko

from custody.devices.platforms import platform_for
from custody.errors import (
    Conflict,
    DeviceAuthError,
    DeviceError,
    DeviceUnreachable,
    EgressUnavailable,
    HostKeyMismatch,
    InvalidInput,
)
from custody.sensitive import Secret


@dataclass(frozen=True)
class ConnectTarget:
    host: str
    port: int
    device_type: str
    source_ip: str
    host_key: str  # "ssh-ed25519 AAAA..." as pinned
    connect_timeout: float = 10.0
    command_timeout: float = 30.0
    privileged: bool = False  # elevate (enable, sudo) with the stored secret before hand-over


def check_source_address(source_ip: str) -> None:
    """Refuse when ``source_ip`` is not an address of this host (it cannot be bound)."""
    family = socket.AF_INET6 if ":" in source_ip else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((source_ip, 0))
        except OSError as exc:
            if exc.errno == errno.EADDRNOTAVAIL:
                raise EgressUnavailable(
                    f"egress address {source_ip} is not configured on this host; the device's "
                    "firewall only admits that address, so no session can be opened from here"
                ) from None
            raise EgressUnavailable(f"egress address {source_ip} cannot be used: {exc.strerror}") from None


def bound_socket(host: str, port: int, source_ip: str, timeout: float) -> socket.socket:
    """Open a TCP connection to the device from exactly ``source_ip``."""
    check_source_address(source_ip)
    try:
        return socket.create_connection((host, port), timeout=timeout,
                                        source_address=(source_ip, 0))
    except TimeoutError:
        raise DeviceUnreachable(f"{host}:{port} did not answer within {timeout:g}s") from None
    except OSError as exc:
        raise DeviceUnreachable(f"{host}:{port} is unreachable ({exc.strerror or exc})") from None


def fingerprint(host_key: str) -> str:
    """OpenSSH-style SHA256 fingerprint of a "type base64" public key line."""
    try:
        blob = base64.b64decode(host_key.split()[1], validate=True)
    except (IndexError, ValueError):
        raise InvalidInput("public_key must look like 'ssh-ed25519 AAAA...'", field="public_key") from None
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def parse_public_key(line: str) -> str:
    """Validate a host public key given by an admin; return it as "type base64"."""
    parts = line.strip().split()
    if len(parts) < 2:
        raise InvalidInput("public_key must look like 'ssh-ed25519 AAAA...'", field="public_key")
    try:
        key = paramiko.PKey.from_type_string(parts[0], base64.b64decode(parts[1], validate=True))
    except Exception:  # noqa: BLE001 - paramiko raises several types for bad keys
        raise InvalidInput("public_key is not a valid SSH public key", field="public_key") from None
    return f"{key.get_name()} {key.get_base64()}"


def scan_host_key(host: str, port: int, source_ip: str, timeout: float = 10.0) -> str:
    """Fetch the device's host key without authenticating; return "type base64"."""
    sock = bound_socket(host, port, source_ip, timeout)
    transport = paramiko.Transport(sock)
    try:
        transport.start_client(timeout=timeout)
        key = transport.get_remote_server_key()
    except (paramiko.SSHException, OSError, EOFError):
        raise DeviceUnreachable(f"{host}:{port} did not complete an SSH handshake") from None
    finally:
        transport.close()
    return f"{key.get_name()} {key.get_base64()}"


def load_private_key(pem: str) -> paramiko.PKey:
    for cls in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return cls.from_private_key(io.StringIO(pem))
        except (paramiko.SSHException, ValueError):
            continue
    raise InvalidInput("credentials.private_key is not an unencrypted OpenSSH/PEM private key",
                       field="credentials.private_key")


class DeviceConnection(Protocol):
    """A live, authenticated CLI session on one device."""

    def send_command(self, command: str) -> str: ...

    def send_config_set(self, lines: Sequence[str], config_mode: bool = True) -> str:
        """Send lines in configuration mode (or, without it, one after another)."""
        ...

    def exec_command(self, command: str) -> str:
        """Run one command on a channel of its own, beside a terminal on the interactive one."""
        ...

    def exec_with_input(self, command: str, stdin: str | None) -> tuple[int, str]:
        """Run one command on a channel of its own with ``stdin``; its exit status and output."""
        ...

    def channel(self) -> Any:
        """The raw interactive channel (paramiko Channel) for a terminal."""
        ...

    def close(self) -> None: ...


class NetmikoConnection:
    def __init__(self, handler: Any, command_timeout: float) -> None:
        self._h = handler
        self._timeout = command_timeout
        self._raw_used = False

    def send_command(self, command: str) -> str:
        try:
            output = self._h.send_command(command, read_timeout=self._timeout,
                                          strip_prompt=True, strip_command=True)
            return str(output).lstrip("\r\n")  # the echo's line break, left by strip_command
        except (OSError, paramiko.SSHException, EOFError) as exc:
            raise DeviceError(f"the device connection failed ({type(exc).__name__})") from None
        except Exception as exc:  # noqa: BLE001 - netmiko's read timeouts and pattern errors
            raise DeviceError(f"the device did not finish the command ({type(exc).__name__})") from None

    def send_config_set(self, lines: Sequence[str], config_mode: bool = True) -> str:
        try:
            return str(self._h.send_config_set(list(lines), read_timeout=self._timeout,
                                               enter_config_mode=config_mode,
                                               exit_config_mode=config_mode))
        except Exception as exc:  # noqa: BLE001
            raise DeviceError(f"the device rejected the configuration ({type(exc).__name__})") from None

    def exec_command(self, command: str) -> str:
        return self.exec_with_input(command, None)[1]

    def exec_with_input(self, command: str, stdin: str | None) -> tuple[int, str]:
        try:
            chan = self._h.remote_conn.get_transport().open_session(timeout=self._timeout)
            try:
                chan.settimeout(self._timeout)
                chan.set_combine_stderr(True)
                chan.exec_command(command)
                if stdin is not None:
                    chan.sendall(stdin.encode())
                    chan.shutdown_write()
                chunks = []
                while data := chan.recv(65536):
                    chunks.append(data)
                return chan.recv_exit_status(), b"".join(chunks).decode("utf-8", errors="replace")
            finally:
                chan.close()
        except TimeoutError:
            raise DeviceError("the device did not finish the command (timeout)") from None
        except (OSError, paramiko.SSHException, EOFError) as exc:
            raise DeviceError(f"the device connection failed ({type(exc).__name__})") from None

    def channel(self) -> Any:
        self._raw_used = True
        return self._h.remote_conn

    def close(self) -> None:
        try:
            if self._raw_used:
                # After a terminal, netmiko's polite logout waits on prompts it cannot
                # recognise any more; closing the SSH transport is just as final.
                self._h.paramiko_cleanup()
            else:
                self._h.disconnect()
        except Exception:  # noqa: BLE001, S110 - the peer may already be gone
            pass


class NetmikoConnector:
    """Open netmiko sessions bound to the egress address, with the host key pinned."""

    def connect(self, target: ConnectTarget, credentials: Mapping[str, Secret]) -> DeviceConnection:
        known_hosts = _known_hosts_file(target)
        try:
            kwargs: dict[str, Any] = {
                "device_type": target.device_type, "host": target.host, "port": target.port,
                "username": credentials["username"].reveal(),
                "sock": bound_socket(target.host, target.port, target.source_ip,
                                     target.connect_timeout),
                "ssh_strict": True, "system_host_keys": False, "alt_host_keys": True,
                "alt_key_file": known_hosts, "use_keys": False, "allow_agent": False,
                "conn_timeout": target.connect_timeout, "auth_timeout": target.connect_timeout,
                "banner_timeout": target.connect_timeout, "session_log": None,
            }
            if "password" in credentials:
                kwargs["password"] = credentials["password"].reveal()
            if "private_key" in credentials:
                kwargs["pkey"] = load_private_key(credentials["private_key"].reveal())
            # netmiko gets the enable/sudo secret only for the elevation below, and never keeps it.
            kwargs["secret"] = ""
            # Loaded here, where a device is reached: its hundreds of drivers take a sixth of
            # a second to import, which every CLI command and worker would otherwise pay.
            from netmiko import ConnectHandler
            from netmiko.exceptions import NetmikoAuthenticationException, NetmikoTimeoutException

            try:
                handler = ConnectHandler(**kwargs)
            except NetmikoAuthenticationException:
                raise DeviceAuthError(
                    f"{target.host}:{target.port} refused the stored credentials "
                    f"(from {target.source_ip}); rotate them or check the device") from None
            except NetmikoTimeoutException as exc:
                if isinstance(exc.__context__, paramiko.BadHostKeyException) or \
                        "does not match" in str(exc) or "known_hosts" in str(exc):
                    raise HostKeyMismatch(
                        f"{target.host}:{target.port} presented a host key that does not match "
                        "the pinned one; the session was refused") from None
                raise DeviceUnreachable(f"{target.host}:{target.port} timed out during login") from None
            except (paramiko.SSHException, OSError, EOFError, ValueError) as exc:
                raise DeviceUnreachable(
                    f"{target.host}:{target.port} closed the connection during login "
                    f"({type(exc).__name__})") from None
        finally:
            os.unlink(known_hosts)
        if target.privileged:
            _elevate(handler, target, credentials)
        return NetmikoConnection(handler, target.command_timeout)


def _elevate(handler: Any, target: ConnectTarget, credentials: Mapping[str, Secret]) -> None:
    """Raise the fresh login's privilege before any technician byte reaches the device.

    The secret is typed once, here, in answer to the family's own password prompt, and
    dropped from netmiko afterwards: nothing can make it typed into the stream again.
    """
    elevation = platform_for(target.device_type).elevation
    if elevation is None or "secret" not in credentials:
        handler.disconnect()
        raise Conflict("this device cannot be elevated by custody (its family has no "
                       "enable/sudo step, or no enable/sudo secret is stored for it)")
    handler.secret = credentials["secret"].reveal()
    try:
        if not handler.check_enable_mode():
            handler.enable(cmd=elevation.command, pattern=elevation.password_prompt)
        elevated = handler.check_enable_mode()
    except Exception:  # noqa: BLE001 - netmiko raises ValueError and read timeouts
        elevated = False
    finally:
        handler.secret = ""
    if not elevated:
        handler.disconnect()
        raise DeviceAuthError(f"{target.host}:{target.port} refused the stored "
                              f"{elevation.label} secret")


def _known_hosts_file(target: ConnectTarget) -> str:
    """A private known_hosts file holding only the pinned key (paramiko reads a file)."""
    name = target.host if target.port == 22 else f"[{target.host}]:{target.port}"
    fd, path = tempfile.mkstemp(prefix="custody-kh-")
    with os.fdopen(fd, "w") as fh:
        fh.write(f"{name} {target.host_key}\n")
    return path
