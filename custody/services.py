"""Build every domain service once from Settings: the web app and the scheduler share this."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from custody.clock import Clock, utcnow
from custody.errors import ConfigError

if TYPE_CHECKING:  # imported by build_services: importing this module stays cheap
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session, sessionmaker

    from custody.accounts.passwords import Passwords
    from custody.accounts.service import AccountService
    from custody.accounts.sso import SingleSignOn
    from custody.accounts.tokens import TokenService
    from custody.alerts.engines import Engines
    from custody.alerts.service import Alerts
    from custody.audit.service import AuditLog
    from custody.certs.authorities import CaBackend
    from custody.certs.service import CertService
    from custody.clients.rights import RightsService
    from custody.clients.service import ClientService
    from custody.cluster.channel import NodeChannel
    from custody.cluster.nodes import Nodes
    from custody.config import Settings
    from custody.devices.broker import Broker, Connector
    from custody.devices.rotation import CredentialRotation
    from custody.devices.service import DeviceService
    from custody.devices.sessions import SessionService
    from custody.devices.transcripts import TranscriptStore
    from custody.mail import Mailer
    from custody.purge.service import PurgeService
    from custody.secrets import SecretStore
    from custody.tenancy import ClientData, DeviceAccessData

SIGNING_KEY_BYTES = 32


@dataclass(frozen=True)
class Services:
    """The wired-up domain: what adapters (web, jobs, CLI) call."""

    settings: Settings
    engine: Engine
    db: sessionmaker[Session]
    secrets: SecretStore
    audit: AuditLog
    accounts: AccountService
    tokens: TokenService
    sso: SingleSignOn
    clients: ClientService
    devices: DeviceService
    transcripts: TranscriptStore
    broker: Broker
    nodes: Nodes
    rotation: CredentialRotation
    sessions: SessionService
    purge: PurgeService
    rights: RightsService
    certs: CertService
    alerts: Alerts
    mailer: Mailer
    clock: Clock
    signing_key: bytes
    # The domains' own parts of a client's export and purge, in purge order (client last).
    client_data: tuple[ClientData, ...]
    device_access: tuple[DeviceAccessData, ...]


def load_signing_key(path: Path) -> bytes:
    """Read the key that signs session ids and verification links, creating it on first use."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another worker made it first
        else:
            with os.fdopen(fd, "wb") as fh:
                fh.write(os.urandom(SIGNING_KEY_BYTES))
    try:
        key = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"signing key file {path} cannot be read: {exc.strerror}") from None
    if len(key) < SIGNING_KEY_BYTES:
        raise ConfigError(f"signing key file {path} is too short ({len(key)} bytes)")
    return key


def certificate_authority(settings: Settings, store: SecretStore) -> CaBackend:
    """The CA backend ``certs.backend`` names: built in, or Vault's PKI engine."""
    from custody.certs.authorities import BuiltinCa, VaultPki

    if settings.certs.backend == "vault":
        from custody.secrets.vault import VaultSecretStore

        return VaultPki(VaultSecretStore(settings.secrets.vault), settings.certs.vault_mount,
                        settings.certs.key_type)
    return BuiltinCa(store, settings.certs.key_type)


def node_channel(settings: Settings, db: sessionmaker[Session], nodes: Nodes
                 ) -> NodeChannel | None:
    """The channel to other nodes' brokers, when this node has one (node.listen)."""
    if not settings.node.listen:
        return None
    from custody.cluster.channel import NodeChannel
    from custody.cluster.identity import require_identity
    from custody.db import transaction

    def address_of(name: str) -> tuple[str, str]:
        with transaction(db) as tx:
            return nodes.address_of(tx, name)

    return NodeChannel(require_identity(settings), address_of)


def build_services(settings: Settings, *, clock: Clock = utcnow, mailer: Mailer | None = None,
                   secrets: SecretStore | None = None, run_migrations: bool = True,
                   remote_broker: bool = False, connector: Connector | None = None,
                   passwords: Passwords | None = None) -> Services:
    """Connect to the database and secret store and build every service.

    With ``remote_broker`` the device connections live in the broker process
    (`custody serve`); otherwise in this process (CLI, tests, the broker itself).
    """
    from custody.accounts.passwords import Passwords
    from custody.accounts.second_factor import SecondFactor
    from custody.accounts.service import AccountService
    from custody.accounts.sso import SingleSignOn
    from custody.accounts.tokens import TokenService
    from custody.alerts.service import build_alerts
    from custody.audit.service import AuditLog
    from custody.certs.service import CertService
    from custody.clients.rights import RightsService
    from custody.clients.service import ClientService
    from custody.cluster.authority import NodeCa
    from custody.cluster.nodes import Nodes
    from custody.cluster.routing import RoutingBroker
    from custody.db import make_engine, make_session_factory, migrate
    from custody.devices.approvals import CommandApprovals
    from custody.devices.broker import LocalBroker
    from custody.devices.broker_net import RemoteBroker
    from custody.devices.rotation import CredentialRotation
    from custody.devices.service import DeviceService
    from custody.devices.sessions import SessionService
    from custody.devices.ssh import NetmikoConnector
    from custody.devices.transcripts import TranscriptStore
    from custody.mail.smtp import SmtpMailer
    from custody.purge.service import ClientReceipts, PurgeService
    from custody.secrets.factory import build_secret_store

    engine = make_engine(settings.database_url, settings.database.synchronous)
    if run_migrations:
        migrate(engine)
    store = secrets or build_secret_store(settings)
    audit = AuditLog(clock)
    signing_key = load_signing_key(settings.path(settings.server.session_key_file))
    sec = settings.security
    db = make_session_factory(engine)
    transcripts = TranscriptStore(store, clock)
    approvals = CommandApprovals(db, audit, clock, settings.broker)
    device_connector: Connector = connector or NetmikoConnector()
    nodes = Nodes(NodeCa(store, clock), audit, clock, settings.node)
    broker: Broker
    if remote_broker:
        broker = RoutingBroker(RemoteBroker(settings.path(settings.broker.socket)),
                               settings.node_name, db, node_channel(settings, db, nodes))
    else:
        broker = LocalBroker(db, store, transcripts, settings.broker, clock, audit, approvals,
                             device_connector, node=settings.node_name)
    mailer = mailer or SmtpMailer(settings.mail)
    clients = ClientService(audit, clock, signing_key, sec.verification_link_hours, mailer)
    certs = CertService(store, audit, clock, settings.certs, mailer,
                        certificate_authority(settings, store), settings.server.base_url)
    devices = DeviceService(store, audit, clock, settings.node_name)
    sessions = SessionService(broker, transcripts, audit, clock, settings.broker, mailer,
                              approvals)
    hasher = passwords or Passwords()
    accounts = AccountService(store, audit, clock, sec, mailer,
                              SecondFactor(store, audit, clock, hasher, sec.require_totp_roles),
                              hasher, activity=(sessions,), sso=settings.sso,
                              signing_key=signing_key, public_url=settings.public_url)
    alerts = build_alerts(store, audit, clock, settings.alerts, mailer, signing_key,
                          settings.public_url,
                          settings.mail.sender.rpartition("@")[2] or "localhost")
    # The purge deletes in this order: whatever points at a row goes before it.
    # Sessions go first: closing a live one writes its note in a transaction of its own,
    # which must not wait behind this unit's write lock.
    client_data: tuple[ClientData, ...] = (sessions, certs, alerts.history, devices, accounts,
                                           clients)
    device_access: tuple[DeviceAccessData, ...] = (sessions, devices)
    return Services(
        settings=settings,
        engine=engine,
        db=db,
        secrets=store,
        audit=audit,
        accounts=accounts,
        tokens=TokenService(audit, clock, sec.token_days),
        sso=SingleSignOn(settings.sso, audit, clock),
        clients=clients,
        rights=RightsService(clients, audit, clock,  # the client's own record first
                             (clients, *client_data[:-1], ClientReceipts())),
        devices=devices,
        transcripts=transcripts,
        broker=broker,
        nodes=nodes,
        sessions=sessions,
        rotation=CredentialRotation(db, store, device_connector, audit, clock, settings.broker),
        purge=PurgeService(db, store, transcripts, audit, clock, settings.purge,
                           settings.path(Path("var/purge.lock")), client_data, device_access),
        certs=certs,
        alerts=alerts,
        mailer=mailer,
        clock=clock,
        signing_key=signing_key,
        client_data=client_data,
        device_access=device_access,
    )


@dataclass(frozen=True)
class AlertTools:
    """Just what pseudonymizing needs (the CLI's `alerts pseudonymize` starts fast with it)."""

    engine: Engine
    db: sessionmaker[Session]
    engines: Engines


def build_alert_tools(settings: Settings, clock: Clock = utcnow) -> AlertTools:
    """The database, the secret store and the pseudonymizers, without the rest of the
    domain. The schema must exist already (`custody init` or `serve` created it)."""
    from custody.alerts.engines import Engines
    from custody.db import make_engine, make_session_factory
    from custody.secrets.factory import build_secret_store

    engine = make_engine(settings.database_url, settings.database.synchronous)
    engines = Engines(build_secret_store(settings), clock, settings.alerts)
    return AlertTools(engine, make_session_factory(engine), engines)
