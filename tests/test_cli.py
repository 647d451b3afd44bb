"""The custody command line, run as a user would run it (subprocesses)."""

from __future__ import annotations

import json
import os
import re
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from custody.demo import demo_account
from tests.peers import free_port
from tests.served import running

CUSTODY = str(Path(sys.executable).parent / "custody")


def run(*args: str, cwd: Path, stdin: str | None = None,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CUSTODY_")}
    return subprocess.run([CUSTODY, *args], cwd=cwd, input=stdin, capture_output=True, text=True,
                          timeout=60, env=clean | (env or {}))


@pytest.fixture
def installed(tmp_path: Path) -> tuple[Path, str]:
    result = run("init", "--dir", "site", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    password = re.search(r"one-time password.*: (\S+)", result.stdout)
    assert password
    return tmp_path / "site", password.group(1)


def test_help_lists_the_commands(tmp_path: Path) -> None:
    out = run("--help", cwd=tmp_path).stdout
    for command in ("init", "serve", "demo", "user", "token", "audit"):
        assert re.search(rf"^\s+{command}\s", out, re.M), command


def test_init_creates_an_installation(installed: tuple[Path, str]) -> None:
    site, password = installed
    assert (site / "custody.toml").is_file()
    for name in ("kek.key", "custody.db", "secrets.db", "session.key"):
        assert (site / "var" / name).is_file(), name
    assert (site / "var" / "kek.key").stat().st_mode & 0o777 == 0o600
    assert len(password) >= 16
    again = run("init", "--dir", str(site), cwd=site)
    assert again.returncode == 2 and "exists already" in again.stderr


def test_users_tokens_and_audit(installed: tuple[Path, str]) -> None:
    site, _ = installed
    made = run("user", "create", "bob", "--role", "technician", cwd=site)
    assert made.returncode == 0 and "one-time password (shown once)" in made.stdout
    piped = run("user", "create", "carol", "--role", "admin", "--password-stdin", cwd=site,
                stdin="Carols-Password-1\n")
    assert piped.returncode == 0 and "password" not in piped.stdout.replace("created", "")
    bad = run("user", "create", "dan", "--role", "client", cwd=site)
    assert bad.returncode == 1 and "needs --client" in bad.stderr
    token = run("token", "create", "bob", cwd=site)
    assert token.returncode == 0 and token.stdout.startswith("cst_")
    missing = run("token", "create", "nobody", cwd=site)
    assert missing.returncode == 1 and "no user named 'nobody'" in missing.stderr
    ok = run("audit", "verify", cwd=site)
    assert ok.returncode == 0 and "audit chain intact: 5 events" in ok.stdout

    import sqlite3

    conn = sqlite3.connect(site / "var" / "custody.db")
    conn.execute("UPDATE audit_events SET action='user.delete' WHERE id=2")
    conn.commit()
    conn.close()
    broken = run("audit", "verify", cwd=site)
    assert broken.returncode == 1 and "event 2: contents changed" in broken.stderr


def test_config_is_found_by_flag_and_env(installed: tuple[Path, str], tmp_path: Path) -> None:
    site, _ = installed
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert run("--config", str(site / "custody.toml"), "audit", "verify", cwd=elsewhere).returncode == 0
    env = {"CUSTODY_CONFIG": str(site / "custody.toml")}
    assert run("audit", "verify", cwd=elsewhere, env=env).returncode == 0
    none = run("audit", "verify", cwd=elsewhere)
    assert none.returncode == 2 and "custody.toml does not exist" in none.stderr


def test_bad_config_stops_with_the_key_named(installed: tuple[Path, str]) -> None:
    site, _ = installed
    result = run("audit", "verify", cwd=site, env={"CUSTODY_SERVER__PORT": "http"})
    assert result.returncode == 2
    assert "server.port: Input should be a valid integer" in result.stderr
    (site / "var" / "kek.key").chmod(0o644)  # `serve` would tighten it (tests/test_files.py)
    result = run("audit", "verify", cwd=site)
    assert result.returncode == 2 and "must be readable by its owner only" in result.stderr


def test_plain_http_only_on_loopback(installed: tuple[Path, str]) -> None:
    site, _ = installed
    result = run("serve", "--host", "0.0.0.0", cwd=site)
    assert result.returncode == 2
    assert "refusing to serve plain HTTP on 0.0.0.0" in result.stderr


def test_serve_over_tls_with_the_configured_certificate(installed: tuple[Path, str]) -> None:
    from custody.tlscert import make_self_signed

    site, password = installed
    cert, key = site / "var" / "tls" / "cert.pem", site / "var" / "tls" / "key.pem"
    fingerprint = make_self_signed(cert, key, ["127.0.0.1"])
    config = (site / "custody.toml").read_text().replace(
        '# tls_cert = "var/tls/cert.pem"', 'tls_cert = "var/tls/cert.pem"').replace(
        '# tls_key = "var/tls/key.pem"', 'tls_key = "var/tls/key.pem"')
    (site / "custody.toml").write_text(config)
    port = free_port()
    with running(["serve", "--port", str(port)], site, port) as proc:
        ctx = ssl.create_default_context(cafile=str(cert))
        with socket.create_connection(("127.0.0.1", port)) as raw, \
                ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            served = tls.getpeercert(binary_form=True)
        from cryptography import x509

        from custody.certs.x509ops import fingerprint as fp

        assert served is not None and fp(x509.load_der_x509_certificate(served),
                                          colons=True) == fingerprint
        resp = requests.get(f"https://127.0.0.1:{port}/login", verify=str(cert), timeout=10)
        assert resp.status_code == 200
        assert resp.headers["Strict-Transport-Security"].startswith("max-age=")
        assert "Secure" in resp.headers["Set-Cookie"]
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
        for _ in range(6):  # fresh connections, spread over both workers
            requests.get(f"https://127.0.0.1:{port}/login", verify=str(cert), timeout=10)
        metrics = requests.get(f"https://127.0.0.1:{port}/metrics", verify=str(cert), timeout=10)
        line = next(x for x in metrics.text.splitlines() if x.startswith(
            'custody_http_requests_total{endpoint="/login",method="GET",status="200"}'))
        assert float(line.rsplit(" ", 1)[1]) == 7.0  # every worker's count, added up
    assert f"custody listening on https://127.0.0.1:{port}/" in proc.stdout


def test_a_second_serve_in_the_same_folder_refuses_and_harms_nothing(
        installed: tuple[Path, str]) -> None:
    """Two `serve` in one folder would share the broker socket: the second refuses,
    naming it, and the first keeps its socket and its sessions; /healthz tells when a
    node's broker is gone."""
    site, _ = installed
    port = free_port()
    with running(["serve", "--port", str(port)], site, port):
        health = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
        assert health.status_code == 200 and health.json()["checks"]["broker"] == "ok"
        deadline = time.monotonic() + 30  # the scheduler's state is told, from the database
        while "purge_sweep" not in health.json()["scheduler"]["last_ok"]:
            assert time.monotonic() < deadline, health.json()
            time.sleep(0.5)
            health = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
        assert health.json()["scheduler"]["state"] == "active"
        second = run("serve", "--port", str(free_port()), cwd=site)
        assert second.returncode != 0
        assert "another custody broker is running on" in second.stderr
        assert "broker.sock" in second.stderr
        assert (site / "var" / "broker.sock").exists()
        health = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
        assert health.status_code == 200 and health.json()["checks"]["broker"] == "ok"
        (site / "var" / "broker.sock").unlink()  # the broker can no longer be reached
        health = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
        assert health.status_code == 503 and health.json()["checks"]["broker"] == "unavailable"


def test_demo_runs_on_embedded_defaults(tmp_path: Path) -> None:
    port = free_port()
    with running(["demo", "--port", str(port), "--tls"], tmp_path, port) as proc:
        cert = tmp_path / "custody-demo" / "var" / "tls" / "cert.pem"
        resp = requests.get(f"https://127.0.0.1:{port}/healthz", verify=str(cert), timeout=10)
        assert resp.json()["checks"] == {"database": "ok", "secrets": "ok", "broker": "ok"}
        # The demo's own device: a loopback sshd that custody logs into for the technician.
        token = run("token", "create", "admin", cwd=tmp_path / "custody-demo").stdout.strip()
        api = f"https://127.0.0.1:{port}/api/v1"
        headers = {"Authorization": f"Bearer {token}"}
        [device] = requests.get(f"{api}/devices", headers=headers, verify=str(cert),
                                timeout=10).json()["items"]
        assert device["name"] == "demo-router" and device["host_key_pinned"] is True
        session = requests.post(f"{api}/devices/{device['id']}/sessions", headers=headers,
                                json={"reason": "demo tour", "ttl_seconds": 300},
                                verify=str(cert), timeout=30).json()
        out = requests.post(f"{api}/sessions/{session['id']}/commands", headers=headers,
                            json={"command": "id -un"}, verify=str(cert), timeout=30).json()
        account = demo_account(tmp_path / "custody-demo")
        assert out["output"].strip() == account  # an account of this demo folder's own
        # The sample client's job ends its warranty soon: the purge page has its device.
        schedule = requests.get(f"{api}/purge/schedule", headers=headers, verify=str(cert),
                                timeout=10).json()["items"]
        [item] = [i for i in schedule if i["target"] == f"device:{device['id']}"]
        assert item["state"] == "scheduled" and item["due_at"]
        # Its sample alerts were stored as the portal shows them: pseudonymized.
        alerts = requests.get(f"{api}/clients/{device['client_id']}/notifications",
                              headers=headers, verify=str(cert), timeout=10).json()["items"]
        assert {a["alertname"] for a in alerts} == {"InterfaceDown", "HighCpu"}
        shown = json.dumps(alerts)
        assert "10.20.30.1" not in shown and "jane.doe" not in shown and "demo-router" not in shown
        # Its e-mails went to the demo's mail catcher, whose page admins read: the alert
        # e-mail to the sample client's contact, pseudonymized as the contact reads it.
        deadline = time.monotonic() + 60
        while True:
            page = requests.get(f"https://127.0.0.1:{port}/admin/demo/mail", headers=headers,
                                verify=str(cert), timeout=10).text
            if "To noc@demo-client.example" in page and "InterfaceDown" in page:
                break
            assert time.monotonic() < deadline, page
            time.sleep(1)
        assert "10.20.30.1" not in page and "jane.doe" not in page and "demo-router" not in page
    out = proc.stdout
    assert f"custody listening on https://127.0.0.1:{port}/" in out
    assert re.search(r"one-time password \(shown once\): \S{16,}", out)
    assert re.search(r"SHA-256 fingerprint ([0-9A-F]{2}:){31}[0-9A-F]{2}", out)
    assert (tmp_path / "custody-demo" / "var" / "custody.db").is_file()
    assert "demo device demo-router: sshd on 127.0.0.1:" in out and f"(account {account})" in out
    assert re.search(r"its one-time password \(shown once\): \S{16,}", out)  # demo-client


def test_the_demo_mail_page_reads_whatever_was_sent_to_the_catcher(tmp_path: Path) -> None:
    """Anyone on the machine may send the loopback catcher anything: a message in an
    unknown charset is shown as best it can be, not a broken page."""
    from custody.demo_mail import caught_messages

    (tmp_path / "1700000000000000000-aa.eml").write_bytes(
        b"From: x@example.test\r\nTo: y@example.test\r\nSubject: odd\r\n"
        b"Content-Type: text/plain; charset=no-such-charset\r\n\r\nbody \xff text\r\n")
    (tmp_path / "1700000000000000001-bb.eml").write_bytes(
        b"From: x@example.test\r\nTo: y@example.test\r\nSubject: fine\r\n\r\nhello\r\n")
    odd, fine = caught_messages(tmp_path)[::-1]
    assert fine.subject == "fine" and fine.text.strip() == "hello"
    assert odd.subject == "odd" and "body" in odd.text and "text" in odd.text
