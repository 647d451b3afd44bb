"""Real peers the tests start themselves: a throwaway PostgreSQL 15 cluster and an SMTP sink."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_for_port(host: str, port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s")


class PostgresCluster:
    """initdb + pg_ctl in a temp dir on a free loopback port; stopped by ``stop()``."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="custody-pg-"))
        self.port = free_port()
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            os.chmod(self.root, 0o755)
            pw = pwd.getpwnam("postgres")
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
        self._run(PG_BIN / "initdb", "-D", str(self.root / "data"), "-A", "trust", "-U",
                  "postgres", "--no-sync")
        self._run(PG_BIN / "pg_ctl", "-D", str(self.root / "data"), "-o",
                  f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                  "-c full_page_writes=off -c synchronous_commit=off",
                  "-l", str(self.root / "log"), "-w", "start")
        self._counter = 0

    def _run(self, *argv: Any) -> None:
        cmd = [str(a) for a in argv]
        if self._as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True)

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def new_database(self) -> str:
        """Create an empty database and return its URL."""
        import psycopg

        self._counter += 1
        name = f"custody_test_{self._counter}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        try:
            self._run(PG_BIN / "pg_ctl", "-D", str(self.root / "data"), "-m", "immediate",
                      "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


@dataclass
class SmtpSink:
    """An aiosmtpd server on loopback that keeps every message it receives."""

    host: str = "127.0.0.1"
    port: int = 0
    messages: list[Message] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _controller: Any = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        msg = message_from_bytes(envelope.original_content or envelope.content)
        msg["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        with self._lock:
            self.messages.append(msg)
        return "250 OK"

    def start(self) -> SmtpSink:
        from aiosmtpd.controller import Controller

        self.port = free_port()
        self._controller = Controller(self, hostname=self.host, port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Message]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.02)
        raise TimeoutError(f"expected {count} messages, got {len(self.messages)}")


SSHD = "/usr/sbin/sshd"
DEVICE_USER = "custody-nettest"
DEVICE_PASSWORD = "Dev1ce-Canary-Pw-7731"


def ensure_device_user() -> None:
    """A local account the sshd device logs technicians into (needs root)."""
    try:
        pwd.getpwnam(DEVICE_USER)
    except KeyError:
        subprocess.run(["useradd", "-m", "-s", "/bin/bash", DEVICE_USER], check=True)
    subprocess.run(["chpasswd"], input=f"{DEVICE_USER}:{DEVICE_PASSWORD}", text=True, check=True)


class SshDevice:
    """OpenSSH sshd on a loopback port that admits only one source address.

    ``AllowUsers user@SRC`` plus a ``Match Address`` block that disables every
    authentication method for other sources, as a customer's firewall would.
    """

    def __init__(self, allowed_source: str = "127.0.0.2", auth: str = "password",
                 max_startups: int = 10) -> None:
        self.max_startups = max_startups
        ensure_device_user()
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        self.root = Path(tempfile.mkdtemp(prefix="custody-sshd-"))
        self.port = free_port()
        self.allowed_source = allowed_source
        self.auth = auth
        self.client_key = self.root / "client_ed25519"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.client_key)],
                       check=True)
        home = Path(pwd.getpwnam(DEVICE_USER).pw_dir)
        ssh_dir = home / ".ssh"
        ssh_dir.mkdir(mode=0o700, exist_ok=True)
        keys = ssh_dir / "authorized_keys"
        existing = keys.read_text() if keys.exists() else ""
        keys.write_text(existing + (self.root / "client_ed25519.pub").read_text())
        pw = pwd.getpwnam(DEVICE_USER)
        for p in (ssh_dir, keys):
            os.chown(p, pw.pw_uid, pw.pw_gid)
        keys.chmod(0o600)
        self.proc: subprocess.Popen[bytes] | None = None
        self.new_host_key()

    @property
    def private_key(self) -> str:
        return self.client_key.read_text()

    @property
    def host_key_path(self) -> Path:
        return self.root / "ssh_host_ed25519_key"

    def new_host_key(self) -> None:
        """(Re)generate the host key and (re)start sshd: what a replaced device looks like."""
        self.stop()
        for suffix in ("", ".pub"):
            Path(str(self.host_key_path) + suffix).unlink(missing_ok=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
                        str(self.host_key_path)], check=True)
        password = "yes" if self.auth == "password" else "no"
        kbd = "yes" if self.auth == "keyboard-interactive" else "no"
        config = self.root / "sshd_config"
        config.write_text(f"""\
Port {self.port}
ListenAddress 127.0.0.1
HostKey {self.host_key_path}
PidFile {self.root}/sshd.pid
UsePAM {"yes" if kbd == "yes" else "no"}
PermitRootLogin no
PasswordAuthentication {password}
KbdInteractiveAuthentication {kbd}
PubkeyAuthentication yes
AuthorizedKeysFile .ssh/authorized_keys
LogLevel VERBOSE
PrintMotd no
PrintLastLog no
MaxStartups {self.max_startups}
AllowUsers {DEVICE_USER}@{self.allowed_source}
Match Address *,!{self.allowed_source}
    PasswordAuthentication no
    PubkeyAuthentication no
    KbdInteractiveAuthentication no
    HostbasedAuthentication no
""")
        subprocess.run([SSHD, "-t", "-f", str(config)], check=True)
        self.log = open(self.root / "sshd.log", "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdout=self.log,
                                     stderr=subprocess.STDOUT)
        wait_for_port("127.0.0.1", self.port)

    def public_host_key(self) -> str:
        return " ".join(Path(str(self.host_key_path) + ".pub").read_text().split()[:2])

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None
            self.log.close()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
