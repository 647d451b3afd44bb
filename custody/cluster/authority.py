"""The node CA: a CA of its own that signs node certificates and nothing else."""

from __future__ import annotations

from datetime import timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from sqlalchemy.orm import Session

from custody.certs import x509ops
from custody.clock import Clock
from custody.cluster.models import NodeAuthority
from custody.db import lock_rows
from custody.secrets import SecretStore, provider_path

CA_KEY = provider_path("nodes", "ca")
CA_DAYS = 3650
NODE_CERT_DAYS = 825


class NodeCa:
    """Create the node CA on first use; sign node certificates (server and client auth)."""

    def __init__(self, secrets: SecretStore, clock: Clock) -> None:
        self._secrets = secrets
        self._clock = clock

    def certificate(self, db: Session) -> x509.Certificate | None:
        row = db.get(NodeAuthority, 1)
        return x509.load_pem_x509_certificate(row.cert_pem.encode()) if row else None

    def ensure(self, db: Session) -> x509.Certificate:
        """The node CA's certificate, created (key in the secret store) if there is none."""
        lock_rows(db, NodeAuthority, NodeAuthority.id == 1)
        existing = self.certificate(db)
        if existing is not None:
            return existing
        key = ec.generate_private_key(ec.SECP256R1())
        cert = x509ops.ca_certificate(key, "custody node CA", CA_DAYS, self._clock())
        self._secrets.put(CA_KEY, {"key": x509ops.key_pem(key)})
        db.add(NodeAuthority(id=1, cert_pem=x509ops.pem(cert), key_ref=CA_KEY,
                             created_at=self._clock()))
        db.flush()
        return cert

    def issue(self, db: Session, name: str, public_key: ec.EllipticCurvePublicKey
              ) -> x509.Certificate:
        """A certificate naming ``name`` (CN and DNS SAN), good for both ends of the channel."""
        ca_cert = self.ensure(db)
        ca_key = x509ops.load_key(self._secrets.get(CA_KEY)["key"].reveal())
        now = self._clock()
        subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "custody nodes"),
                             x509.NameAttribute(NameOID.COMMON_NAME, name)])
        return (
            x509.CertificateBuilder()
            .subject_name(subject).issuer_name(ca_cert.subject).public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(min(now + timedelta(days=NODE_CERT_DAYS),
                                 ca_cert.not_valid_after_utc))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False,
                                         decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                  ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
