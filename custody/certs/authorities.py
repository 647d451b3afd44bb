"""Where CA keys live and who signs with them: the built-in CA (keys in the SecretStore)
or Vault's PKI secrets engine (keys never leave Vault). Picked by ``certs.backend``.

A CA is known to the service by its certificate and a ``ref`` (a secret path for the
built-in CA, "issuer_id/key_id" in Vault). The service keeps the ledger, the policy
checks and the audit; a backend only makes CAs, signs, revokes and destroys.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from custody.certs import x509ops
from custody.errors import BackendUnavailable, Conflict
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
        self._roles: set[str] = set()

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
        root_issuer = root[1].split("/", 1)[0]
        # The root writes its own URLs (custody's, for the root) into what it signs.
        self._call("set the root's URLs", "POST", f"issuer/{root_issuer}", {
            "issuing_certificates": [links.issuer], "crl_distribution_points": [links.crl]})
        request = self._call("create an issuing CA key", "POST", "intermediate/generate/internal",
                             {"common_name": name, "organization": "custody",
                              "key_type": self._key_type, "key_bits": self._key_bits})
        try:
            signed = self._call("sign the issuing CA", "POST",
                                f"issuer/{root_issuer}/sign-intermediate",
                                {"csr": request["csr"], "common_name": name,
                                 "organization": "custody", "ttl": f"{days * 24}h",
                                 "max_path_length": 0})
            imported = self._call("import the issuing CA", "POST", "intermediate/set-signed",
                                  {"certificate": signed["certificate"]})
        except BackendUnavailable:
            # Refused half-way: the key made for it is of no use to anyone.
            with contextlib.suppress(BackendUnavailable):
                self._call("delete the unused CA key", "DELETE", f"key/{request['key_id']}")
            raise
        cert = x509.load_pem_x509_certificate(signed["certificate"].encode())
        return cert, f"{imported['imported_issuers'][0]}/{request['key_id']}"

    def sign(self, ca: tuple[x509.Certificate, str], csr: x509.CertificateSigningRequest,
             common_name: str, names: Sequence[str], days: int, now: datetime,
             links: x509ops.Links) -> x509.Certificate:
        issuer = ca[1].split("/", 1)[0]
        # Vault writes its issuer's URLs into what it signs: point them at custody's.
        self._call("set the issuer's URLs", "POST", f"issuer/{issuer}", {
            "issuing_certificates": [links.issuer], "crl_distribution_points": [links.crl]})
        # Signed through a role that takes only the CSR's key: the subject is the checked
        # common name alone and the SANs are the checked names (as the built-in CA does),
        # whatever else the CSR asks for.
        role = self._role(isinstance(csr.public_key(), rsa.RSAPublicKey),
                          any("@" in n for n in names))
        # Checked names come typed ("ip:192.0.2.7", "email:ops@acme.example", a DNS name);
        # Vault takes e-mail names among alt_names and tells them by their "@".
        ips = [n.removeprefix("ip:") for n in names if n.startswith("ip:")]
        others = [n.removeprefix("email:") for n in names if not n.startswith("ip:")]
        data = self._call("sign a certificate", "POST", f"issuer/{issuer}/sign/{role}", {
            "csr": csr.public_bytes(serialization.Encoding.PEM).decode(),
            "common_name": common_name, "ttl": f"{days * 24}h",
            "alt_names": ",".join(others), "ip_sans": ",".join(ips)})
        return x509.load_pem_x509_certificate(data["certificate"].encode())

    def _role(self, rsa_key: bool, mail: bool) -> str:
        """The signing role for this kind of leaf, written once per process: the built-in
        profile's usages (key encipherment only for RSA keys, e-mail protection only with
        an e-mail name), nothing taken from the CSR but its key."""
        name = f"custody-{'rsa' if rsa_key else 'ec'}-{'mail' if mail else 'tls'}"
        if name not in self._roles:
            self._call("write a signing role", "POST", f"roles/{name}", {
                "allow_any_name": True, "enforce_hostnames": False, "allow_ip_sans": True,
                "allow_wildcard_certificates": True, "allow_bare_domains": True,
                "allow_subdomains": True, "cn_validations": ["disabled"],
                "use_csr_common_name": False, "use_csr_sans": False,
                "server_flag": True, "client_flag": True, "email_protection_flag": mail,
                "key_type": "any", "max_ttl": "87600h", "no_store": False,
                "key_usage": ["DigitalSignature", *(["KeyEncipherment"] if rsa_key else [])],
                "ext_key_usage": [], "basic_constraints_valid_for_non_ca": True,
                "organization": [], "ou": [], "country": [], "locality": [], "province": []})
            self._roles.add(name)
        return name

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
