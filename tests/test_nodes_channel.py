"""Who may speak on the node channel, join tokens, and the leases that end a dead node's
sessions. In one process: the brokers are real, the nodes are this process's threads."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from custody.certs import x509ops
from custody.certs.models import CertificateAuthority
from custody.cluster.channel import NodeChannel, SerializedTls, peer_identity, server_context
from custody.cluster.identity import NodeIdentity, join
from custody.db import transaction
from custody.devices.broker import LocalBroker
from custody.devices.broker_net import BrokerServer, RemoteBroker
from custody.devices.models import AccessSession
from custody.errors import BackendUnavailable, Conflict, Unauthorized
from custody.jobs.sessions import Lease, node_heartbeat
from custody.services import Services
from tests.conftest import FrozenClock
from tests.lab import Lab
from tests.peers import SshDevice


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url  # nothing here differs by database


def joined(services: Services, tmp_path: Path, name: str) -> NodeIdentity:
    with transaction(services.db) as db:
        token = services.nodes.add(db, "test", name)
    settings = services.settings.model_copy(update={"node": services.settings.node.model_copy(
        update={"dir": tmp_path / f"node-{name}"})})
    return join(settings, services.db, services.nodes, token)


@pytest.fixture
def node_a(services: Services, tmp_path: Path) -> Iterator[tuple[NodeIdentity, str]]:
    """Node a's broker, listening on the node channel; yields its identity and address."""
    identity = joined(services, tmp_path, "a")
    assert isinstance(services.broker, LocalBroker)
    server = BrokerServer(services.broker, tmp_path / "a.sock").start()

    def accept(tls: object) -> bool:
        with transaction(services.db) as db:
            return services.nodes.accepts(db, *peer_identity(tls))  # type: ignore[arg-type]

    host, port = server.listen_tls("127.0.0.1:0", server_context(identity), accept,
                                   SerializedTls)
    yield identity, f"{host}:{port}"
    server.stop()


CHANNELS: list[NodeChannel] = []


@pytest.fixture(autouse=True)
def _close_channels() -> Iterator[None]:
    yield
    while CHANNELS:
        CHANNELS.pop().close()


def dial(identity: NodeIdentity, address: str, as_name: str = "a",
         serial: str | None = None) -> RemoteBroker:
    """Node ``identity`` dialling ``as_name`` at ``address``, expecting a's certificate."""
    expected = serial or (Path(identity.folder).parent / "node-a" / "node.crt")
    if not isinstance(expected, str):
        expected = x509ops.serial_hex(x509.load_pem_x509_certificate(expected.read_bytes()))
    channel = NodeChannel(identity, lambda _name: (address, str(expected)), timeout=10)
    CHANNELS.append(channel)
    return RemoteBroker(dialer=channel.dialer(as_name))


def foreign_identity(folder: Path, name: str, trust: Path) -> NodeIdentity:
    """A key and certificate for ``name`` with every extension a node's has, signed by a CA
    that is not the node CA (as a client's issuing CA would be)."""
    folder.mkdir(parents=True)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "custody node CA")])
    cert = (x509.CertificateBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])).issuer_name(ca_name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH,
                                              ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256()))
    identity = NodeIdentity(name, folder)
    identity.key.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    identity.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    identity.ca.write_bytes(trust.read_bytes())
    return identity


def test_a_joined_node_reaches_another_and_nobody_else_does(
        services: Services, tmp_path: Path, node_a: tuple[NodeIdentity, str]) -> None:
    _, address = node_a
    b = joined(services, tmp_path, "b")
    from_b = dial(b, address)
    assert from_b.is_live(7) is False  # a round trip over mutual TLS
    assert from_b.is_live(8) is False  # again, on the connection kept open

    # A certificate from any other CA, names and usages all right, is turned away.
    stranger = foreign_identity(tmp_path / "stranger", "b", b.ca)
    with pytest.raises(BackendUnavailable):
        dial(stranger, address).is_live(7)
    # The node CA is not the CA that signs clients' issuing CAs.
    with transaction(services.db) as db:
        node_ca = services.nodes.ca.certificate(db)
        client_roots = [x509.load_pem_x509_certificate(ca.cert_pem.encode()).public_key()
                        for ca in db.query(CertificateAuthority)]
    assert node_ca is not None and node_ca.public_key() not in client_roots

    # A node that shows a certificate the registry no longer holds for it (one replaced
    # at a new join, its old key perhaps stolen) is not spoken to.
    with pytest.raises(BackendUnavailable, match="checks"):
        dial(b, address, serial="1234abcd").is_live(7)

    # Node b dials "c" but reaches a: a's certificate does not name c.
    with pytest.raises(BackendUnavailable, match="checks"):
        dial(b, address, as_name="c").is_live(7)

    # A removed node's certificate, still signed by the node CA, is refused: on the
    # connection it kept open too.
    with transaction(services.db) as db:
        services.nodes.remove(db, "test", "b")
    with pytest.raises(BackendUnavailable):
        from_b.is_live(7)
    with pytest.raises(BackendUnavailable):
        dial(b, address).is_live(7)


def test_a_join_token_names_its_node_works_once_and_expires(
        services: Services, tmp_path: Path, clock: FrozenClock) -> None:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    with transaction(services.db) as db:
        token = services.nodes.add(db, "test", "a")
        late = services.nodes.add(db, "test", "late")
    with transaction(services.db) as db:  # as `custody node list` shows them
        assert {n.name: services.nodes.state(db, n) for n in services.nodes.all(db)} == {
            "a": "joining", "late": "joining"}
    with transaction(services.db) as db, pytest.raises(Conflict, match="for node 'a'"):
        services.nodes.join(db, token, "b", key)
    with transaction(services.db) as db:
        assert services.nodes.join(db, token, "", key).name == "a"
    with transaction(services.db) as db, pytest.raises(Unauthorized, match="used or expired"):
        services.nodes.join(db, token, "", key)
    clock.advance(hours=25)
    with transaction(services.db) as db, pytest.raises(Unauthorized, match="used or expired"):
        services.nodes.join(db, late, "", key)
    for bad in ("A", "a b", "-a", "a" * 64, "a_b"):
        with transaction(services.db) as db, pytest.raises(Exception, match="node name"):
            services.nodes.add(db, "test", bad)


def test_a_dead_nodes_sessions_fail_with_the_reason(
        lab: Lab, sshd: SshDevice, clock: FrozenClock) -> None:
    svc = lab.services
    me = svc.settings.node_name
    with transaction(svc.db) as db:
        svc.nodes.start(db, me, None, "first")
        svc.nodes.add(db, "test", "other")  # a node that joined and never ran
    device = lab.enrol(sshd.port)
    first, second = lab.open(device), lab.open(device)
    with transaction(svc.db) as db:
        assert {s.node for s in db.query(AccessSession)} == {me}
        assert svc.nodes.fail_orphans(db) == []  # a lease that holds
        assert svc.nodes.lost(db, "other") is not None
    clock.advance(seconds=svc.settings.node.lease_seconds + 1)
    with transaction(svc.db) as db:  # the sweep every live node runs
        assert sorted(svc.nodes.fail_orphans(db)) == sorted([first, second])
        assert svc.nodes.fail_orphans(db) == []  # once: a second sweep finds nothing
    status, body = lab.run(first, "echo gone")
    assert status == 409
    assert f"node {me}, which held the device connection, stopped answering" in str(body)
    shown = lab.client.get(f"/api/v1/sessions/{second}", headers=lab.tech).json
    assert shown["state"] == "failed" and "stopped answering" in shown["close_reason"]
    # A node that starts again fails what its previous run held; it never says "expired".
    with transaction(svc.db) as db:
        svc.nodes.start(db, me, None, "second")
    third = lab.open(device)
    with transaction(svc.db) as db:
        assert svc.nodes.start(db, me, None, "third") == [third]
        reason = db.get(AccessSession, third).close_reason  # type: ignore[union-attr]
    assert reason is not None and "restarted" in reason


def test_a_broker_lets_go_of_connections_the_database_ended(
        lab: Lab, sshd: SshDevice) -> None:
    """A session failed or closed by another node (its close lost on the way) leaves no
    device connection open in the broker that held it: its heartbeat closes it."""
    svc = lab.services
    me = svc.settings.node_name
    assert isinstance(svc.broker, LocalBroker)
    with transaction(svc.db) as db:
        svc.nodes.start(db, me, None, "one")
    device = lab.enrol(sshd.port)
    kept, ended = lab.open(device), lab.open(device)
    with transaction(svc.db) as db:
        row = db.get(AccessSession, ended)
        assert row is not None
        row.state, row.close_reason = "failed", "ended elsewhere"
    lease = Lease("one", time.monotonic())
    node_heartbeat(svc, lease)
    assert svc.broker.live_sessions() == [kept]
    assert lab.run(kept, "echo still")[1]["output"] == "still"
    # Another process takes this node's name: this one holds nothing any more.
    with transaction(svc.db) as db:
        svc.nodes.start(db, me, None, "usurper")
    node_heartbeat(svc, lease)
    assert svc.broker.live_sessions() == []
