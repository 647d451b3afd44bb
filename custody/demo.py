"""Prepare a self-contained demo installation with sample data."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path

from custody.accounts.service import Principal
from custody.config import DemoSettings, ServerSettings, Settings, load_settings
from custody.db import transaction
from custody.demo_mail import MailCatcher
from custody.services import build_services

DEMO_CLIENT = "Demo Client"
DEMO_CONTACT = "noc@demo-client.example"


def prepare_demo(directory: Path, port: int, tls: bool) -> tuple[Settings, list[str]]:
    """Initialise ``directory`` on first use, seed a sample client; return settings and notes."""
    from custody.cli import initialize

    notes: list[str] = []
    config_path = directory / "custody.toml"
    if config_path.exists():
        notes.append(f"using the existing demo in {directory}/ (delete it to start over)")
    else:
        password = initialize(directory, "admin", port)
        notes += [f"demo installation created in {directory}/",
                  "log in as: admin", f"one-time password (shown once): {password}"]
    settings = load_settings(config_path)
    if tls:
        from custody.tlscert import make_self_signed

        cert, key = directory / "var" / "tls" / "cert.pem", directory / "var" / "tls" / "key.pem"
        fp = make_self_signed(cert, key, ["localhost", "127.0.0.1"])
        settings = settings.model_copy(update={"server": replace_server(settings, cert, key)})
        notes.append(f"self-signed TLS certificate, SHA-256 fingerprint {fp}")
    settings = _catch_mail(settings, directory, notes)
    notes += _seed(settings)
    notes.append(_demo_device(settings))
    return settings, notes


_catcher: MailCatcher | None = None  # lives as long as the demo


def _catch_mail(settings: Settings, directory: Path, notes: list[str]) -> Settings:
    """Send the demo's mail to a catcher on loopback, shown at /admin/demo/mail."""
    global _catcher
    folder = (directory / "var" / "demo-mail").resolve()
    _catcher = MailCatcher(folder)
    port = _catcher.start()
    notes.append(f"e-mails go to the demo's mail catcher (127.0.0.1:{port}); read them at "
                 "/admin/demo/mail")
    return settings.model_copy(update={
        "mail": settings.mail.model_copy(update={"host": "127.0.0.1", "port": port,
                                                 "security": "none"}),
        "demo": DemoSettings(mail_folder=folder)})


def replace_server(settings: Settings, cert: Path, key: Path) -> ServerSettings:
    return settings.server.model_copy(update={"tls_cert": cert.resolve(), "tls_key": key.resolve()})


REFRESH = "Router refresh"


def _seed(settings: Settings) -> list[str]:
    """The sample client, first time only: a paid job whose warranty ends in five days
    (its device's access data is due soon after: the purge page has something to show),
    an unpaid one, a user of the client's own, and a few alerts as a monitoring system
    would post them (stored pseudonymized: the portal shows them)."""
    services = build_services(settings)
    system = Principal.operator("demo")
    notes: list[str] = []
    with transaction(services.db) as db:
        names = [c.name for c in services.clients.list_clients(db, system)]
        if DEMO_CLIENT in names:
            services.engine.dispose()
            return notes
        client = services.clients.create_client(db, "demo", DEMO_CLIENT)
        now = services.clock()
        services.clients.add_engagement(db, system, client.id, REFRESH,
                                        paid_at=now - timedelta(days=60),
                                        warranty_until=now + timedelta(days=5))
        services.clients.add_engagement(db, system, client.id, "Firewall audit",
                                        paid_at=None, warranty_until=None)
        _, password = services.accounts.create_user(db, "demo", "demo-client", "client",
                                                    client.id)
        contact = services.clients.add_contact(db, system, client.id, "email",
                                               DEMO_CONTACT, ["alerts", "technical"])
        # As if its confirmation link had been opened: its alert e-mails reach the catcher.
        services.clients.verify_contact(db, services.clients.verification_token(contact))
        source, _ = services.alerts.sources.create_source(db, system, "demo-prometheus",
                                                          "alertmanager", client.id)
        for payload in sample_alerts():
            services.alerts.ingest.ingest(db, source, payload)
    services.engine.dispose()
    notes += ["the demo client's portal: log in as demo-client",
              f"its one-time password (shown once): {password}"]
    return notes


def sample_alerts() -> list[dict[str, object]]:
    """Alertmanager webhooks naming the demo device, its address and a person: what the
    portal then shows is what pseudonymization made of them."""
    def alert(name: str, status: str, summary: str) -> dict[str, object]:
        return {"status": status, "startsAt": "2026-11-30T08:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z", "fingerprint": f"demo-{name}-{status}",
                "labels": {"alertname": name, "device": DEMO_DEVICE,
                           "instance": "10.20.30.1:9116", "severity": "warning"},
                "annotations": {"summary": summary}}

    return [{"version": "4", "groupKey": f'{{}}:{{alertname="{name}"}}', "status": status,
             "receiver": "custody", "groupLabels": {"alertname": name},
             "commonLabels": {"device": DEMO_DEVICE}, "commonAnnotations": {},
             "externalURL": "http://alertmanager.demo.example:9093",
             "alerts": [alert(name, status, summary)]}
            for name, status, summary in (
                ("InterfaceDown", "firing",
                 f"Gi0/1 on {DEMO_DEVICE} (10.20.30.1) is down; call jane.doe@example.com"),
                ("InterfaceDown", "resolved", f"Gi0/1 on {DEMO_DEVICE} is up again"),
                ("HighCpu", "firing", f"CPU at 93% on {DEMO_DEVICE}.demo.example"))]


DEMO_DEVICE = "demo-router"


def _demo_device(settings: Settings) -> str:
    """Start a loopback sshd as the demo client's device and enrol it (root + OpenSSH only)."""
    import atexit
    import os
    import secrets

    from sqlalchemy import select

    from custody import demo_device
    from custody.devices.models import Device, EgressProfile
    from custody.devices.service import DeviceCredentials, DeviceSpec
    from custody.devices.ssh import scan_host_key
    from custody.sensitive import Secret

    if not demo_device.available():
        return "no demo device: it needs OpenSSH (openssh-server) and root to run sshd"
    password = secrets.token_urlsafe(18)  # nobody sees it: custody logs in for you
    account = demo_account(settings.base_dir)
    device = demo_device.SshDevice(account, password, allowed_source="127.0.0.2")
    owner = os.getpid()
    # Forked web workers inherit exit hooks: only this process may stop the device.
    atexit.register(lambda: device.cleanup() if os.getpid() == owner else None)
    services = build_services(settings)
    admin = Principal.operator("demo")
    key = scan_host_key("127.0.0.1", device.port, "127.0.0.2")
    creds = DeviceCredentials(account, Secret(password))
    with transaction(services.db) as db:
        if db.scalar(select(EgressProfile).where(EgressProfile.source_ip == "127.0.0.2")) is None:
            services.devices.create_egress_profile(db, admin, "this node (loopback)", "127.0.0.2")
        client = next(c for c in services.clients.list_clients(db, admin) if c.name == DEMO_CLIENT)
        row = db.scalar(select(Device).where(Device.client_id == client.id,
                                             Device.name == DEMO_DEVICE))
        if row is None:
            jobs = tuple(e.id for e in services.clients.list_engagements(db, admin, client.id)
                         if e.title == REFRESH)
            row = services.devices.create_device(db, admin, DeviceSpec(
                client.id, DEMO_DEVICE, "127.0.0.1", device.port, "linux", "127.0.0.2", jobs),
                creds)
        elif row.access_state == "active":
            row.port = device.port  # a new sshd each run: new port, new key, new password
            services.devices.rotate_credentials(db, admin, row.id, creds)
        db.flush()
        services.devices.pin_host_key(db, admin, row.id, None, key)  # audited like an admin's
    services.engine.dispose()
    return (f"demo device {DEMO_DEVICE}: sshd on 127.0.0.1:{device.port} (account {account}), "
            "reachable only from 127.0.0.2; open a session on it under /tech/devices")


def demo_account(directory: Path) -> str:
    """The demo device's system account, one per demo folder: a second demo on the same
    machine does not take over the first one's."""
    digest = hashlib.sha256(str(directory.resolve()).encode()).hexdigest()[:8]
    return f"custody-demo-{digest}"
