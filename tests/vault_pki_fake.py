"""Vault's PKI secrets engine as FakeVault answers it: the documented paths and response
shapes (https://developer.hashicorp.com/vault/api-docs/secret/pki), real keys and
signatures made with ``cryptography``. For tests only: no Vault server runs here."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from custody.certs import x509ops

Answer = tuple[int, Any]


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _days(ttl: str) -> int:
    return max(1, int(ttl.removesuffix("h")) // 24)


@dataclass
class PkiEngine:
    mount: str = "pki"
    keys: dict[str, x509ops.PrivateKey] = field(default_factory=dict)
    issuers: dict[str, tuple[x509.Certificate, str]] = field(default_factory=dict)  # cert, key id
    signed_by: dict[int, str] = field(default_factory=dict)  # serial -> issuer id
    revoked: dict[int, datetime] = field(default_factory=dict)
    urls: dict[str, dict[str, Any]] = field(default_factory=dict)  # issuer id -> its URLs

    def _new_key(self, body: dict[str, Any]) -> tuple[str, x509ops.PrivateKey]:
        kind = {("ec", 256): "ecdsa-p256", ("ec", 384): "ecdsa-p384",
                ("rsa", 3072): "rsa-3072", ("rsa", 4096): "rsa-4096"}[
            (body["key_type"], int(body["key_bits"]))]
        key_id = str(uuid.uuid4())
        self.keys[key_id] = x509ops.new_key(kind)
        return key_id, self.keys[key_id]

    def _key_of(self, public: Any) -> str:
        raw = public.public_bytes(serialization.Encoding.DER,
                                  serialization.PublicFormat.SubjectPublicKeyInfo)
        for key_id, key in self.keys.items():
            if key.public_key().public_bytes(serialization.Encoding.DER,
                                             serialization.PublicFormat.SubjectPublicKeyInfo) == raw:
                return key_id
        raise KeyError("no such key")

    def answer(self, method: str, path: str, body: Any) -> Answer | None:
        """The engine's answer, or None when ``path`` is not below its mount."""
        prefix = f"/v1/{self.mount}/"
        if not path.startswith(prefix):
            return None
        route = path[len(prefix):]
        now = datetime.now(UTC)
        parts = route.split("/")
        if method == "POST" and route == "root/generate/internal":
            key_id, key = self._new_key(body)
            cert = x509ops.ca_certificate(key, body["common_name"], _days(body["ttl"]), now)
            issuer_id = str(uuid.uuid4())
            self.issuers[issuer_id] = (cert, key_id)
            return 200, {"data": {"certificate": _pem(cert), "issuing_ca": _pem(cert),
                                  "issuer_id": issuer_id, "issuer_name": body.get("issuer_name"),
                                  "key_id": key_id, "serial_number": format(cert.serial_number, "x"),
                                  "expiration": int(cert.not_valid_after_utc.timestamp())}}
        if method == "POST" and route == "intermediate/generate/internal":
            key_id, key = self._new_key(body)
            csr = x509ops.request_for(key, body["common_name"], [])
            return 200, {"data": {"csr": csr.public_bytes(serialization.Encoding.PEM).decode(),
                                  "key_id": key_id}}
        if method == "POST" and len(parts) == 3 and parts[0] == "issuer" \
                and parts[2] == "sign-intermediate":
            root_cert, root_key = self.issuers[parts[1]]
            csr = x509.load_pem_x509_csr(body["csr"].encode())
            key = self.keys[self._key_of(csr.public_key())]
            cert = x509ops.ca_certificate(key, body["common_name"], _days(body["ttl"]), now,
                                          issuer=(root_cert, self.keys[root_key]))
            return 200, {"data": {"certificate": _pem(cert), "issuing_ca": _pem(root_cert),
                                  "ca_chain": [_pem(root_cert)],
                                  "serial_number": format(cert.serial_number, "x")}}
        if method == "POST" and route == "intermediate/set-signed":
            cert = x509.load_pem_x509_certificate(body["certificate"].encode())
            issuer_id = str(uuid.uuid4())
            self.issuers[issuer_id] = (cert, self._key_of(cert.public_key()))
            return 200, {"data": {"imported_issuers": [issuer_id], "imported_keys": None,
                                  "mapping": {issuer_id: self.issuers[issuer_id][1]}}}
        if method == "POST" and len(parts) == 2 and parts[0] == "issuer":
            self.urls[parts[1]] = body  # the issuer's URLs, as Vault's PATCH/POST issuer/:ref
            return 200, {"data": {"issuer_id": parts[1]}}
        if method == "POST" and len(parts) == 3 and parts[0] == "issuer" \
                and parts[2] == "sign-verbatim":
            issuer_cert, key_id = self.issuers[parts[1]]
            csr = x509.load_pem_x509_csr(body["csr"].encode())
            cn = csr.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
            sans = [f"ip:{n.value}" if isinstance(n, x509.IPAddress) else
                    f"email:{n.value}" if isinstance(n, x509.RFC822Name) else str(n.value)
                    for n in csr.extensions.get_extension_for_class(
                        x509.SubjectAlternativeName).value]
            urls = self.urls.get(parts[1], {})
            links = x509ops.Links(crl=(urls.get("crl_distribution_points") or [""])[0],
                                  issuer=(urls.get("issuing_certificates") or [""])[0])
            cert = x509ops.leaf_certificate(csr.public_key(), str(cn), sans, _days(body["ttl"]),
                                            now, (issuer_cert, self.keys[key_id]), links)
            self.signed_by[cert.serial_number] = parts[1]
            return 200, {"data": {"certificate": _pem(cert), "issuing_ca": _pem(issuer_cert),
                                  "ca_chain": [_pem(issuer_cert)],
                                  "serial_number": format(cert.serial_number, "x")}}
        if method == "POST" and route == "revoke":
            serial = int(body["serial_number"].replace(":", ""), 16)
            if serial not in self.signed_by:
                return 400, {"errors": [f"certificate with serial {body['serial_number']} "
                                        "not found"]}
            self.revoked[serial] = now
            return 200, {"data": {"revocation_time": int(now.timestamp()), "state": "revoked"}}
        if method == "GET" and route == "crl/rotate":
            return 200, {"data": {"success": True}}
        if method == "GET" and len(parts) == 3 and parts[0] == "issuer" and parts[2] == "crl":
            issuer_cert, key_id = self.issuers[parts[1]]
            entries = [(format(s, "x"), at, "unspecified") for s, at in self.revoked.items()
                       if self.signed_by.get(s) == parts[1]]
            crl = x509ops.build_crl((issuer_cert, self.keys[key_id]), entries, 1, now, 3)
            return 200, {"data": {"crl": crl.public_bytes(serialization.Encoding.PEM).decode()}}
        if method == "DELETE" and len(parts) == 2 and parts[0] == "issuer":
            self.issuers.pop(parts[1], None)
            return 204, None
        if method == "DELETE" and len(parts) == 2 and parts[0] == "key":
            self.keys.pop(parts[1], None)
            return 204, None
        return 404, {"errors": [f"no handler for route {route!r}"]}


