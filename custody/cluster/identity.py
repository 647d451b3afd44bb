"""This node's key and certificate on disk: made once, at join, from a join token."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy.orm import Session, sessionmaker

from custody.certs import x509ops
from custody.cluster.nodes import Nodes
from custody.config import Settings
from custody.db import transaction
from custody.errors import ConfigError


@dataclass(frozen=True)
class NodeIdentity:
    """Where this node's TLS material is: its key (0600), its certificate, the node CA."""

    name: str
    folder: Path

    @property
    def key(self) -> Path:
        return self.folder / "node.key"

    @property
    def cert(self) -> Path:
        return self.folder / "node.crt"

    @property
    def ca(self) -> Path:
        return self.folder / "ca.crt"

    def exists(self) -> bool:
        return self.key.is_file() and self.cert.is_file() and self.ca.is_file()

    def serial(self) -> str:
        return x509ops.serial_hex(x509.load_pem_x509_certificate(self.cert.read_bytes()))


def name_in(folder: Path) -> str | None:
    """The node name in the certificate kept in ``folder``, if there is one."""
    try:
        cert = x509.load_pem_x509_certificate((folder / "node.crt").read_bytes())
    except (OSError, ValueError):
        return None
    names = cert.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)
    return str(names[0].value) if names else None


def identity_of(settings: Settings) -> NodeIdentity:
    return NodeIdentity(settings.node_name, settings.path(settings.node.dir))


def join(settings: Settings, db: sessionmaker[Session], nodes: Nodes, token: str) -> NodeIdentity:
    """Use a join token: make a key here, have the node CA sign it, write both (the key
    never leaves this machine). The token names the node; node.name, if set, must agree."""
    key = ec.generate_private_key(ec.SECP256R1())
    with transaction(db) as tx:
        joined = nodes.join(tx, token, settings.node.name, key.public_key())
    identity = NodeIdentity(joined.name, settings.path(settings.node.dir))
    identity.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(identity.folder, 0o700)
    fd = os.open(identity.key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # a key file that was there before keeps no wider mode
    with os.fdopen(fd, "wb") as fh:
        fh.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()))
    identity.cert.write_text(x509ops.pem(joined.cert))
    identity.ca.write_text(x509ops.pem(joined.ca_cert))
    return identity


def require_identity(settings: Settings) -> NodeIdentity:
    """This node's identity for the node channel; a clear error if it has not joined."""
    identity = identity_of(settings)
    if not identity.exists():
        raise ConfigError(
            f"node {identity.name} has no node certificate in {identity.folder}: run "
            f"`custody node add {identity.name}` where the configuration is, then start this "
            "node with `custody serve --join TOKEN`")
    named = name_in(identity.folder)
    if named != identity.name:
        raise ConfigError(f"the node certificate in {identity.folder} is for node {named!r}, "
                          f"but this node is {identity.name!r} (node.name)")
    return identity
