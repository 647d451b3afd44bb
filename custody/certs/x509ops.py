"""X.509 building blocks (cryptography): keys, CA certificates, leaves from CSRs, CRLs, PKCS#12.

Pure functions: no database, no secret store. Private keys only ever pass through
here in memory; callers store them in the SecretStore or hand them over once.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from custody.addresses import IpNetwork, as_network, dns_name, may_be_ip
from custody.errors import InvalidInput

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
CURVES = {"ecdsa-p256": ec.SECP256R1, "ecdsa-p384": ec.SECP384R1}
# RFC 5280 §5.3.1 reasons for an end-entity certificate: cACompromise and aACompromise
# concern CAs, removeFromCRL is a delta-CRL entry, and certificateHold is refused here
# (a revocation is final: "unrevoking" would need remove-from-CRL handling).
REASONS = {r.value: r for r in (
    x509.ReasonFlags.unspecified, x509.ReasonFlags.key_compromise,
    x509.ReasonFlags.affiliation_changed, x509.ReasonFlags.superseded,
    x509.ReasonFlags.cessation_of_operation, x509.ReasonFlags.privilege_withdrawn)}


@dataclass(frozen=True)
class Links:
    """Where relying parties find what a certificate points at (RFC 5280 §4.2.1.13, §4.2.2.1)."""

    crl: str  # the issuing CA's CRL, DER
    issuer: str  # the issuing CA's certificate, DER


def signature_hash(key: PrivateKey) -> hashes.SHA256 | hashes.SHA384:
    """SHA-384 for P-384 keys (a hash as strong as the curve), SHA-256 otherwise."""
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size >= 384:
        return hashes.SHA384()
    return hashes.SHA256()


def new_key(key_type: str) -> PrivateKey:
    if key_type in CURVES:
        return ec.generate_private_key(CURVES[key_type]())
    return rsa.generate_private_key(public_exponent=65537, key_size=int(key_type.split("-")[1]))


def key_type_of(public_key: object) -> str:
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return {"secp256r1": "ecdsa-p256", "secp384r1": "ecdsa-p384"}.get(
            public_key.curve.name, f"ecdsa-{public_key.curve.name}")
    if isinstance(public_key, rsa.RSAPublicKey):
        return f"rsa-{public_key.key_size}"
    return type(public_key).__name__


def key_pem(key: PrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def load_key(pem: str) -> PrivateKey:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise InvalidInput(f"keys are EC or RSA here, not {type(key).__name__}")
    return key


def pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def fingerprint(cert: x509.Certificate, colons: bool = False) -> str:
    """The certificate's SHA-256: plain hex for the ledger; with ``colons``, as openssl and
    browsers show it (AB:CD:...), for people comparing it by eye."""
    digest = cert.fingerprint(hashes.SHA256())
    return digest.hex(":").upper() if colons else digest.hex()


def serial_hex(cert: x509.Certificate) -> str:
    return format(cert.serial_number, "x")


def ca_certificate(key: PrivateKey, name: str, days: int, now: datetime,
                   issuer: tuple[x509.Certificate, PrivateKey] | None = None,
                   links: Links | None = None) -> x509.Certificate:
    """A self-signed root (no issuer) or an issuing CA signed by ``issuer``, path length 0,
    pointing at the issuer's CRL and certificate (``links``)."""
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "custody"),
                         x509.NameAttribute(NameOID.COMMON_NAME, name)])
    issuer_cert, issuer_key = issuer if issuer else (None, key)
    not_after = now + timedelta(days=days)
    if issuer_cert is not None:  # a CA never outlives the CA that vouches for it
        not_after = min(not_after, issuer_cert.not_valid_after_utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_cert.subject if issuer_cert else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None if issuer is None else 0),
                       critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, key_cert_sign=True, crl_sign=True,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if issuer_cert is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False)
    if issuer_cert is not None and links is not None:
        builder = _with_links(builder, links)
    return builder.sign(issuer_key, signature_hash(issuer_key))


def _with_links(builder: x509.CertificateBuilder, links: Links) -> x509.CertificateBuilder:
    return (builder
            .add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
                full_name=[x509.UniformResourceIdentifier(links.crl)], relative_name=None,
                reasons=None, crl_issuer=None)]), critical=False)
            .add_extension(x509.AuthorityInformationAccess([x509.AccessDescription(
                AuthorityInformationAccessOID.CA_ISSUERS,
                x509.UniformResourceIdentifier(links.issuer))]), critical=False))


@dataclass(frozen=True)
class CsrRequest:
    csr: x509.CertificateSigningRequest
    common_name: str
    sans: list[str]
    key_type: str
    dropped: list[str]  # subject attributes other than the CN: never copied into a certificate


def load_csr(text: str, allowed_key_types: Sequence[str]) -> CsrRequest:
    """Parse and check a CSR: PEM, signature, key type and size; raise naming the problem."""
    try:
        csr = x509.load_pem_x509_csr(text.encode())
    except ValueError:
        raise InvalidInput("csr: not a PEM certificate signing request", field="csr") from None
    try:
        valid = csr.is_signature_valid
    except (InvalidSignature, ValueError):
        valid = False
    if not valid:
        raise InvalidInput("csr: its signature does not verify (altered or broken request)", field="csr")
    public = csr.public_key()
    kind = key_type_of(public)
    if isinstance(public, rsa.RSAPublicKey) and public.key_size < 2048:
        raise InvalidInput(f"csr: RSA {public.key_size}-bit keys are too weak (2048 at least)", field="csr")
    if kind not in allowed_key_types:
        raise InvalidInput(f"csr: key type {kind} is not allowed (allowed: "
                           f"{', '.join(allowed_key_types)})", field="csr")
    names = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(names) > 1:
        raise InvalidInput("csr: the subject holds more than one common name", field="csr")
    cn = str(names[0].value) if names else ""
    dropped = [a.rfc4514_string() for a in csr.subject if a.oid != NameOID.COMMON_NAME]
    sans: list[str] = []
    try:
        ext = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        ext = x509.SubjectAlternativeName([])
    for n in ext:
        if isinstance(n, x509.DNSName):
            sans.append(n.value)
        elif isinstance(n, x509.IPAddress):
            sans.append(f"ip:{n.value}")
        elif isinstance(n, x509.RFC822Name):
            sans.append(f"email:{n.value}")
        else:
            raise InvalidInput(f"csr: subjectAltName type {type(n).__name__} is not supported "
                               "(DNS names, IP addresses and e-mail only)", field="csr")
    if not cn and not sans:
        raise InvalidInput("csr: it names nothing (no common name, no subject alternative name)", field="csr")
    return CsrRequest(csr, cn, sans, kind, dropped)


def _normalized(name: str) -> str:
    if name.startswith("ip:"):
        try:
            return f"ip:{ipaddress.ip_address(name[3:])}"
        except ValueError:
            raise InvalidInput(f"{name[3:]!r} is not an IP address") from None
    if name.startswith("email:"):
        local, at, domain = name[6:].rpartition("@")
        if not at or not local or any(c.isspace() or not c.isprintable() for c in local):
            raise InvalidInput(f"{name[6:]!r} is not an e-mail address")
        return f"email:{local}@{dns_name(domain)}"
    if "@" in name:
        return _normalized(f"email:{name}")
    as_name = _as_name(name)
    return _normalized(as_name) if as_name != name else dns_name(name)


def _as_name(common_name: str) -> str:
    """A common name read as the SAN it must repeat: an IP address, else a DNS name."""
    if not may_be_ip(common_name):
        return common_name
    try:
        return f"ip:{ipaddress.ip_address(common_name)}"
    except ValueError:
        return common_name


def check_names(common_name: str, sans: Sequence[str], allowed: Sequence[str],
                where: str = "the client's policy") -> tuple[str, list[str]]:
    """Normalize the requested names and refuse any outside the client's allowed names.

    The common name is checked like every other name and repeated among the SANs if it is
    not there (clients match SANs, not the CN). Return the CN and the SANs to issue."""
    names = [_normalized(n) for n in sans]
    cn = ""
    if common_name:
        cn_name = _normalized(_as_name(common_name))
        if cn_name not in names:
            names.insert(0, cn_name)
        cn = cn_name.removeprefix("ip:")
    if not names:
        raise InvalidInput("the request names nothing (no common name, no subject alternative "
                           "name)", field="csr")
    domains, networks = _read_allowed(allowed)
    for name in names:
        if name.startswith("ip:"):
            if not any(ipaddress.ip_address(name[3:]) in net for net in networks):
                raise InvalidInput(f"{name[3:]}: IP address not allowed for this client; add it "
                                   f"(or its network, e.g. {name[3:]}/24) to {where}")
        elif name.startswith("email:"):
            domain = name.rsplit("@", 1)[-1]
            if not _within(domain, domains):
                raise InvalidInput(f"{name[6:]}: e-mail domain not allowed for this client; "
                                   f"add {domain} to {where}")
        elif not _within(name.removeprefix("*."), domains):
            wanted = ".".join(name.removeprefix("*.").split(".")[-2:])
            raise InvalidInput(f"{name}: DNS name outside this client's allowed names "
                               f"({', '.join(allowed) or 'none set'}); add {wanted} (itself and "
                               f"its subdomains) to {where}")
    return cn or names[0].removeprefix("email:").removeprefix("ip:"), names


def _read_allowed(allowed: Sequence[str]) -> tuple[list[str], list[IpNetwork]]:
    """A client's allowed names read once per request: domains (lowercase) and networks."""
    domains: list[str] = []
    networks: list[IpNetwork] = []
    for entry in allowed:
        network = as_network(entry)
        if network is None:
            domains.append(entry.lower())
        else:
            networks.append(network)
    return domains, networks


def _within(name: str, domains: Sequence[str]) -> bool:
    return any(name == a or name.endswith("." + a) for a in domains)


def request_for(key: PrivateKey, common_name: str, names: Sequence[str]
                ) -> x509.CertificateSigningRequest:
    """A CSR for a key we generated, so it is signed the same way as a client's own."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    return (x509.CertificateSigningRequestBuilder().subject_name(subject)
            .add_extension(x509.SubjectAlternativeName(_general_names(names)), critical=False)
            .sign(key, hashes.SHA256()))


def _general_names(names: Sequence[str]) -> list[x509.GeneralName]:
    general: list[x509.GeneralName] = []
    for name in names:
        if name.startswith("ip:"):
            general.append(x509.IPAddress(ipaddress.ip_address(name[3:])))
        elif name.startswith("email:"):
            general.append(x509.RFC822Name(name[6:]))
        else:
            general.append(x509.DNSName(name))
    return general


def leaf_certificate(public_key: object, common_name: str, names: Sequence[str], days: int,
                     now: datetime, issuer: tuple[x509.Certificate, PrivateKey],
                     links: Links) -> x509.Certificate:
    """An end-entity certificate: the subject is the checked CN alone; never longer-lived
    than its issuer; with the key usages its key can serve and the URLs of its CRL and
    issuer."""
    issuer_cert, issuer_key = issuer
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    usages = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    if any(n.startswith("email:") for n in names):
        usages.append(ExtendedKeyUsageOID.EMAIL_PROTECTION)
    rsa_key = isinstance(public_key, rsa.RSAPublicKey)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_cert.subject)
        .public_key(public_key)  # type: ignore[arg-type]
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(min(now + timedelta(days=days), issuer_cert.not_valid_after_utc))
        .add_extension(x509.SubjectAlternativeName(_general_names(names)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                     key_encipherment=rsa_key, data_encipherment=False,
                                     key_agreement=False, key_cert_sign=False, crl_sign=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key),  # type: ignore[arg-type]
                       critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            issuer_key.public_key()), critical=False)
    )
    return _with_links(builder, links).sign(issuer_key, signature_hash(issuer_key))


def build_crl(issuer: tuple[x509.Certificate, PrivateKey], entries: Sequence[tuple[str, datetime, str]],
              number: int, now: datetime, days: int) -> x509.CertificateRevocationList:
    """A CRL as RFC 5280 §5 has it: the issuer's key identifier, a number, and no
    revocation dated after the CRL's own thisUpdate."""
    issuer_cert, issuer_key = issuer
    builder = (x509.CertificateRevocationListBuilder()
               .issuer_name(issuer_cert.subject)
               .last_update(now)
               .next_update(now + timedelta(days=days))
               .add_extension(x509.CRLNumber(number), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                   issuer_key.public_key()), critical=False))
    for serial, revoked_at, reason in entries:
        revoked = (x509.RevokedCertificateBuilder().serial_number(int(serial, 16))
                   .revocation_date(min(revoked_at, now))
                   .add_extension(x509.CRLReason(x509.ReasonFlags(reason)), critical=False)
                   .build())
        builder = builder.add_revoked_certificate(revoked)
    return builder.sign(issuer_key, signature_hash(issuer_key))


def pkcs12_bundle(key: PrivateKey, cert: x509.Certificate, chain: Sequence[x509.Certificate],
                  passphrase: str, name: str) -> bytes:
    return pkcs12.serialize_key_and_certificates(
        name.encode(), key, cert, list(chain),
        serialization.BestAvailableEncryption(passphrase.encode()))


def load_import(data: bytes) -> x509.Certificate:
    """A certificate to track: PEM, DER, or the certificate inside a PKCS#12 without password.

    A private key in the input is refused: we keep no client keys (P8).
    """
    text = data.decode("latin-1")
    if "PRIVATE KEY-----" in text:
        raise InvalidInput("the file contains a private key; send the certificate only "
                           "(we keep no private keys)")
    if "-----BEGIN CERTIFICATE-----" in text:
        try:
            return x509.load_pem_x509_certificate(data)
        except ValueError:
            raise InvalidInput("not a valid PEM certificate") from None
    try:
        return x509.load_der_x509_certificate(data)
    except ValueError:
        pass
    try:
        bundle = pkcs12.load_pkcs12(data, None)
    except ValueError:
        raise InvalidInput("not a certificate (PEM, DER or PKCS#12 without password)") from None
    if bundle.key is not None:
        raise InvalidInput("the PKCS#12 contains a private key; export the certificate only "
                           "(we keep no private keys)")
    if bundle.cert is None:
        raise InvalidInput("the PKCS#12 holds no certificate")
    return bundle.cert.certificate
