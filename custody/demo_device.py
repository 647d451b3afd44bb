"""A real SSH device on loopback: OpenSSH sshd admitting one source address.

Used by `custody demo` (so a newcomer has a device to open a session on) and by
the tests and benchmarks. Needs root: it creates a local account and runs sshd.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

SSHD = "/usr/sbin/sshd"


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


def available() -> bool:
    """Whether this machine can run a lab device (OpenSSH installed, running as root)."""
    return os.geteuid() == 0 and Path(SSHD).exists()


def ensure_account(user: str, password: str) -> None:
    """A local account the device logs technicians into."""
    try:
        pwd.getpwnam(user)
    except KeyError:
        subprocess.run(["useradd", "-m", "-s", "/bin/bash", user], check=True)
    subprocess.run(["chpasswd"], input=f"{user}:{password}", text=True, check=True)


class SshDevice:
    """OpenSSH sshd on a loopback port that admits only one source address.

    ``AllowUsers user@SRC`` plus a ``Match Address`` block that disables every
    authentication method for other sources, as a customer's firewall would.
    """

    def __init__(self, user: str, password: str, allowed_source: str = "127.0.0.2",
                 auth: str = "password", max_startups: int = 10) -> None:
        self.user, self.password = user, password
        self.max_startups = max_startups
        ensure_account(user, password)
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        self.root = Path(tempfile.mkdtemp(prefix="custody-sshd-"))
        self.port = free_port()
        self.allowed_source = allowed_source
        self.auth = auth
        self.client_key = self.root / "client_ed25519"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.client_key)],
                       check=True)
        home = Path(pwd.getpwnam(user).pw_dir)
        ssh_dir = home / ".ssh"
        ssh_dir.mkdir(mode=0o700, exist_ok=True)
        keys = ssh_dir / "authorized_keys"
        existing = keys.read_text() if keys.exists() else ""
        keys.write_text(existing + (self.root / "client_ed25519.pub").read_text())
        pw = pwd.getpwnam(user)
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
AllowUsers {self.user}@{self.allowed_source}
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
