"""Where CA keys live and who signs with them: the built-in CA (keys in the SecretStore)
or Vault's PKI secrets engine (keys never leave Vault). Picked by ``certs.backend``.

A CA is known to the service by its certificate and a ``ref`` (a secret path for the
built-in CA, "issuer_id/key_id" in Vault). The service keeps the ledger, the policy
checks and the audit; a backend only makes CAs, signs, revokes and destroys.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from custody.certs import x509ops
from custody.errors import Conflict
from custody.secrets import SecretStore, provider_path

ROOT_KEY = provider_path("ca", "root")
CrlEntries = Sequence[tuple[str, datetime, str]]  # serial (hex), revoked at, RFC 5280 reason


class CaBackend(Protocol):
    def new_root(self, name: str, days: int, now: datetime) -> tuple[x509.Certificate, str]:
        """A self-signed root CA: its certificate and ref."""
        ...

    def new_issuing(self, root: tuple[x509.Certificate, str], name: str, days: int,
                    now: datetime, links: x509ops.Links) -> tuple[x509.Certificate, str]:
        """An issuing CA signed by the root, pointing at the root's ``links``: its
        certificate and ref."""
        ...

    def sign(self, ca: tuple[x509.Certificate, str], csr: x509.CertificateSigningRequest,
             common_name: str, names: Sequence[str], days: int, now: datetime,
             links: x509ops.Links) -> x509.Certificate:
        """A leaf certificate for the checked CSR: subject ``common_name`` alone, SANs
        ``names``, pointing at ``links``."""
        ...

    def revoke(self, ca: tuple[x509.Certificate, str], serial: str) -> None: ...

    def crl(self, ca: tuple[x509.Certificate, str], entries: CrlEntries, number: int,
            now: datetime, days: int) -> bytes:
        """The CA's current CRL, DER."""
        ...

    def destroy(self, ref: str) -> None:
        """Destroy the CA's key: nothing can be signed with it any more."""
        ...


class BuiltinCa:
    """CA keys in the SecretStore, signing in process with ``cryptography``."""

    def __init__(self, secrets: SecretStore, key_type: str) -> None:
        self._secrets = secrets
        self._key_type = key_type
        # Keys stay in memory once loaded, like a connection's credentials in the broker.
        self._keys: dict[str, x509ops.PrivateKey] = {}

    def _key(self, ref: str) -> x509ops.PrivateKey:
        key = self._keys.get(ref)
        if key is None:
            key = self._keys[ref] = x509ops.load_key(self._secrets.get(ref)["key"].reveal())
        return key

    def new_root(self, name: str, days: int, now: datetime) -> tuple[x509.Certificate, str]:
        key = x509ops.new_key(self._key_type)
        cert = x509ops.ca_certificate(key, name, days, now)
        self._secrets.put(ROOT_KEY, {"key": x509ops.key_pem(key)})
        return cert, ROOT_KEY

    def new_issuing(self, root: tuple[x509.Certificate, str], name: str, days: int,
                    now: datetime, links: x509ops.Links) -> tuple[x509.Certificate, str]:
        key = x509ops.new_key(self._key_type)
        cert = x509ops.ca_certificate(key, name, days, now, issuer=(root[0], self._key(root[1])),
                                      links=links)
        ref = provider_path("ca", f"issuing-{uuid.uuid4().hex}")
        self._secrets.put(ref, {"key": x509ops.key_pem(key)})
        return cert, ref

    def sign(self, ca: tuple[x509.Certificate, str], csr: x509.CertificateSigningRequest,
             common_name: str, names: Sequence[str], days: int, now: datetime,
             links: x509ops.Links) -> x509.Certificate:
        return x509ops.leaf_certificate(csr.public_key(), common_name, names, days, now,
                                        (ca[0], self._key(ca[1])), links)

    def revoke(self, ca: tuple[x509.Certificate, str], serial: str) -> None:
        return None  # the entry the service records is the revocation; crl() signs it

    def crl(self, ca: tuple[x509.Certificate, str], entries: CrlEntries, number: int,
            now: datetime, days: int) -> bytes:
        crl = x509ops.build_crl((ca[0], self._key(ca[1])), entries, number, now, days)
        return crl.public_bytes(serialization.Encoding.DER)

    def destroy(self, ref: str) -> None:
        self._keys.pop(ref, None)
        self._secrets.destroy(ref)


class VaultApi(Protocol):
    def request(self, what: str, method: str, path: str,
                body: dict[str, Any] | None = None) -> Any: ...


class VaultPki:
    """Vault's PKI secrets engine on one mount, one issuer (and key) per CA; the keys are
    generated in Vault and never leave it. Revocations are Vault's, so are its CRLs."""

    _KEY_TYPES = {"ecdsa-p256": ("ec", 256), "ecdsa-p384": ("ec", 384),
                  "rsa-3072": ("rsa", 3072), "rsa-4096": ("rsa", 4096)}

    def __init__(self, vault: VaultApi, mount: str, key_type: str) -> None:
        self._vault = vault
        self._mount = mount.strip("/")
        self._key_type, self._key_bits = self._KEY_TYPES[key_type]

    def _call(self, what: str, method: str, path: str,
              body: dict[str, Any] | None = None) -> dict[str, Any]:
        answer = self._vault.request(what, method, f"{self._mount}/{path}", body)
        return dict(answer.get("data") or {}) if isinstance(answer, dict) else {}

    def new_root(self, name: str, days: int, now: datetime) -> tuple[x509.Certificate, str]:
        data = self._call("create the root CA", "POST", "root/generate/internal", {
            "common_name": name, "organization": "custody", "key_type": self._key_type,
            "key_bits": self._key_bits, "ttl": f"{days * 24}h", "issuer_name": "custody-root"})
        cert = x509.load_pem_x509_certificate(data["certificate"].encode())
        return cert, f"{data['issuer_id']}/{data['key_id']}"

    def new_issuing(self, root: tuple[x509.Certificate, str], name: str, days: int,
                    now: datetime, links: x509ops.Links) -> tuple[x509.Certificate, str]:
        # The root issuer's URLs are Vault's mount configuration (the scale-out work sets
        # them when OpenBao joins the tests); ``links`` is not sent here yet.
        request = self._call("create an issuing CA key", "POST", "intermediate/generate/internal",
                             {"common_name": name, "organization": "custody",
                              "key_type": self._key_type, "key_bits": self._key_bits})
        root_issuer = root[1].split("/", 1)[0]
        signed = self._call("sign the issuing CA", "POST",
                            f"issuer/{root_issuer}/sign-intermediate",
                            {"csr": request["csr"], "common_name": name, "organization": "custody",
                             "ttl": f"{days * 24}h", "max_path_length": 0})
        imported = self._call("import the issuing CA", "POST", "intermediate/set-signed",
                              {"certificate": signed["certificate"]})
        cert = x509.load_pem_x509_certificate(signed["certificate"].encode())
        return cert, f"{imported['imported_issuers'][0]}/{request['key_id']}"

    def sign(self, ca: tuple[x509.Certificate, str], csr: x509.CertificateSigningRequest,
             common_name: str, names: Sequence[str], days: int, now: datetime,
             links: x509ops.Links) -> x509.Certificate:
        issuer = ca[1].split("/", 1)[0]
        # Vault writes its issuer's URLs into what it signs: point them at custody's.
        self._call("set the issuer's URLs", "POST", f"issuer/{issuer}", {
            "issuing_certificates": [links.issuer], "crl_distribution_points": [links.crl]})
        data = self._call("sign a certificate", "POST", f"issuer/{issuer}/sign-verbatim", {
            "csr": csr.public_bytes(serialization.Encoding.PEM).decode(),
            "ttl": f"{days * 24}h", "ext_key_usage": ["ServerAuth", "ClientAuth"]})
        return x509.load_pem_x509_certificate(data["certificate"].encode())

    def revoke(self, ca: tuple[x509.Certificate, str], serial: str) -> None:
        padded = serial if len(serial) % 2 == 0 else "0" + serial
        colons = ":".join(padded[i:i + 2] for i in range(0, len(padded), 2))
        self._call("revoke a certificate", "POST", "revoke", {"serial_number": colons})

    def crl(self, ca: tuple[x509.Certificate, str], entries: CrlEntries, number: int,
            now: datetime, days: int) -> bytes:
        issuer = ca[1].split("/", 1)[0]
        self._call("rebuild the CRL", "GET", "crl/rotate")
        data = self._call("read the CRL", "GET", f"issuer/{issuer}/crl")
        return x509.load_pem_x509_crl(data["crl"].encode()).public_bytes(
            serialization.Encoding.DER)

    def destroy(self, ref: str) -> None:
        issuer, _, key = ref.partition("/")
        if not key:
            raise Conflict(f"not a Vault PKI reference: {ref!r}")
        self._call("delete the issuer", "DELETE", f"issuer/{issuer}")
        self._call("delete the CA key", "DELETE", f"key/{key}")
