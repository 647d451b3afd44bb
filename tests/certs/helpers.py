"""Keys, CSRs and certificates made by hand for the certificate tests."""

from __future__ import annotations

import base64
import ipaddress
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID


def make_csr(cn: str, sans: list[str], key: object | None = None,
             organization: str | None = None) -> tuple[str, object]:
    key = key or ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for s in sans:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(s)))
        except ValueError:
            names.append(x509.RFC822Name(s) if "@" in s else x509.DNSName(s))
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if organization:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attributes))
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    csr = builder.sign(key, hashes.SHA256())  # type: ignore[arg-type]
    return csr.public_bytes(serialization.Encoding.PEM).decode(), key


def weak_csr(cn: str) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    return make_csr(cn, [cn], key)[0]


def tampered(csr_pem: str) -> str:
    der = bytearray(x509.load_pem_x509_csr(csr_pem.encode()).public_bytes(
        serialization.Encoding.DER))
    der[-5] ^= 0xFF  # inside the signature
    body = base64.encodebytes(bytes(der)).decode()
    return f"-----BEGIN CERTIFICATE REQUEST-----\n{body}-----END CERTIFICATE REQUEST-----\n"


def self_signed(cn: str, days: int, with_key: bool = False) -> tuple[bytes, object]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=400)).not_valid_after(now + timedelta(days=days))
            .sign(key, hashes.SHA256()))
    pem = cert.public_bytes(serialization.Encoding.PEM)
    if with_key:
        pem += key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())
    return pem, key


def openssl(*args: str) -> subprocess.CompletedProcess[str]:
    """The real openssl CLI."""
    return subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=30)


def verify_chain(folder: Path, certificate: str, chain: list[str]) -> None:
    """openssl must accept the leaf through the issuing CA up to the root (chain[1]).

    Writes leaf.pem, issuing.pem and root.pem into ``folder`` for later checks."""
    (folder / "leaf.pem").write_text(certificate)
    (folder / "issuing.pem").write_text(chain[0])
    (folder / "root.pem").write_text(chain[1])
    ok = openssl("verify", "-CAfile", str(folder / "root.pem"), "-untrusted",
                 str(folder / "issuing.pem"), str(folder / "leaf.pem"))
    assert ok.returncode == 0 and ok.stdout.strip().endswith("OK"), ok.stdout + ok.stderr


def issue_to(client: Any, services: Any, admin_token: str, client_id: int, domain: str,
             host: str = "vpn", first: bool = True) -> dict[str, Any]:
    """A certificate for ``host.domain`` issued through the API from a CSR, after the
    client is allowed ``domain`` (and, ``first``, the root CA is made)."""
    from custody.db import transaction

    headers = {"Authorization": f"Bearer {admin_token}"}
    if first:
        with transaction(services.db) as db:
            services.certs.init_root(db, "test")
        client.put(f"/api/v1/clients/{client_id}/policy", headers=headers,
                   json={"cert_names": [domain]})
    csr, _ = make_csr(f"{host}.{domain}", [f"{host}.{domain}"])
    resp = client.post(f"/api/v1/clients/{client_id}/certificates", headers=headers,
                       json={"csr": csr})
    assert resp.status_code == 201, resp.json
    return dict(resp.json)
