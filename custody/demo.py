"""Prepare a self-contained demo installation with sample data."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from custody.accounts.service import Principal
from custody.config import ServerSettings, Settings, load_settings
from custody.db import transaction
from custody.services import build_services

DEMO_CLIENT = "Demo Client"


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
    _seed(settings)
    notes.append(_demo_device(settings))
    return settings, notes


def replace_server(settings: Settings, cert: Path, key: Path) -> ServerSettings:
    return settings.server.model_copy(update={"tls_cert": cert.resolve(), "tls_key": key.resolve()})


def _seed(settings: Settings) -> None:
    services = build_services(settings)
    system = Principal.operator("demo")
    with transaction(services.db) as db:
        names = [c.name for c in services.clients.list_clients(db, system)]
        if DEMO_CLIENT in names:
            return
        client = services.clients.create_client(db, "demo", DEMO_CLIENT)
        now = services.clock()
        services.clients.add_engagement(db, system, client.id, "Router refresh",
                                        paid_at=now - timedelta(days=10),
                                        warranty_until=now + timedelta(days=90))
        services.clients.add_engagement(db, system, client.id, "Firewall audit",
                                        paid_at=None, warranty_until=None)
    services.engine.dispose()



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
    device = demo_device.SshDevice("custody-demo", password, allowed_source="127.0.0.2")
    owner = os.getpid()
    # Forked web workers inherit exit hooks: only this process may stop the device.
    atexit.register(lambda: device.cleanup() if os.getpid() == owner else None)
    services = build_services(settings)
    admin = Principal.operator("demo")
    key = scan_host_key("127.0.0.1", device.port, "127.0.0.2")
    creds = DeviceCredentials("custody-demo", Secret(password))
    with transaction(services.db) as db:
        if db.scalar(select(EgressProfile).where(EgressProfile.source_ip == "127.0.0.2")) is None:
            services.devices.create_egress_profile(db, admin, "this node (loopback)", "127.0.0.2")
        client = next(c for c in services.clients.list_clients(db, admin) if c.name == DEMO_CLIENT)
        row = db.scalar(select(Device).where(Device.client_id == client.id,
                                             Device.name == DEMO_DEVICE))
        if row is None:
            row = services.devices.create_device(db, admin, DeviceSpec(
                client.id, DEMO_DEVICE, "127.0.0.1", device.port, "linux", "127.0.0.2", ()), creds)
        elif row.access_state == "active":
            row.port = device.port  # a new sshd each run: new port, new key, new password
            services.devices.rotate_credentials(db, admin, row.id, creds)
        db.flush()
        services.devices.pin_host_key(db, admin, row.id, None, key)  # audited like an admin's
    services.engine.dispose()
    return (f"demo device {DEMO_DEVICE}: sshd on 127.0.0.1:{device.port}, reachable only from "
            "127.0.0.2; open a session on it under /tech/devices")
