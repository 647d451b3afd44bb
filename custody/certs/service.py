"""Certificate custody: a root CA, one issuing CA per client, issuance, handover, revocation.

P8: certificates are the client's. We sign from the client's CSR, or generate a key,
hand it over once in a passphrase-protected PKCS#12 and destroy it. CA keys live in
the SecretStore; the ledger and CRL entries in the database.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from functools import lru_cache, partial
from typing import Any, NamedTuple, NoReturn, Protocol

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session, aliased

from custody.accounts.service import Principal
from custody.audit.service import AuditLog
from custody.certs import x509ops
from custody.certs.authorities import CaBackend
from custody.certs.models import Certificate, CertificateAuthority, CrlEntry
from custody.clients.models import Client, Contact
from custody.clients.service import mail_recipients
from custody.clock import Clock, iso
from custody.config import CertSettings
from custody.db import after_commit, after_rollback, write_kept
from custody.devices.models import ClientPolicy
from custody.errors import Conflict, InvalidInput, NotFound
from custody.mail import Mailer, Message
from custody.paging import Page, check_limit, like_pattern, newest_first
from custody.secrets import SecretNotFound, SecretStore, client_path
from custody.statements import DriverStatement
from custody.tenancy import get_owned, require_client_access, require_role


class HeldCa(Protocol):
    """What signing needs of a CA row."""

    @property
    def id(self) -> int: ...
    @property
    def cert_pem(self) -> str: ...
    @property
    def key_path(self) -> str | None: ...


CERTIFICATE_STATES = ("valid", "expired", "revoked")


@dataclass(frozen=True)
class CertificateFilter:
    """Which ledger entries a list shows; None: any."""

    client_id: int | None = None
    state: str | None = None  # one of CERTIFICATE_STATES
    expires_within_days: int | None = None  # live ones expiring before then
    search: str | None = None  # in the subject; or a whole serial or SHA-256 fingerprint

    def __post_init__(self) -> None:
        if self.state is not None and self.state not in CERTIFICATE_STATES:
            raise InvalidInput(f"state must be one of {', '.join(CERTIFICATE_STATES)}",
                               field="state")
        if self.expires_within_days is not None and not 0 <= self.expires_within_days <= 3650:
            raise InvalidInput("expires_within_days must be between 0 and 3650",
                               field="expires_within_days")


class CaRef(NamedTuple):
    id: int
    cert_pem: str
    key_path: str | None


_issuing, _root_ca = aliased(CertificateAuthority), aliased(CertificateAuthority)
_ISSUANCE_READ = DriverStatement(
    select(Client.id, ClientPolicy.cert_names,
           _issuing.id.label("ca_id"), _issuing.cert_pem.label("ca_pem"),
           _issuing.key_path.label("ca_key"), _root_ca.id.label("root_id"),
           _root_ca.cert_pem.label("root_pem"), _root_ca.key_path.label("root_key"))
    .select_from(Client)
    .outerjoin(ClientPolicy, ClientPolicy.client_id == Client.id)
    .outerjoin(_issuing, _issuing.client_id == Client.id)
    .outerjoin(_root_ca, _root_ca.kind == "root")
    .where(Client.id == bindparam("client_id")))


@lru_cache(maxsize=256)
def _parsed(cert_pem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(cert_pem.encode())


@dataclass(frozen=True)
class Issued:
    certificate: Certificate
    chain: list[str]
    passphrase: str | None = None
    dropped: list[str] = field(default_factory=list)  # CSR subject attributes not issued


class CertService:
    def __init__(self, secrets_store: SecretStore, audit: AuditLog, clock: Clock,
                 settings: CertSettings, mailer: Mailer, authority: CaBackend,
                 base_url: str | None) -> None:
        self._secrets = secrets_store
        self._ca = authority
        self._audit = audit
        self._clock = clock
        self._settings = settings
        self._mailer = mailer
        self._base_url = base_url.rstrip("/") if base_url else None

    # -- authorities
    def init_root(self, db: Session, actor: str, name: str = "custody root CA") -> CertificateAuthority:
        """Create the provider's root CA (once)."""
        if db.scalar(select(CertificateAuthority).where(CertificateAuthority.kind == "root")):
            raise Conflict("the root CA exists already")
        cert, ref = self._ca.new_root(name, self._settings.root_days, self._clock())
        ca = CertificateAuthority(kind="root", name=name, cert_pem=x509ops.pem(cert),
                                  key_path=ref, not_after=cert.not_valid_after_utc,
                                  created_at=self._clock())
        db.add(ca)
        db.flush()
        self._audit.record(db, actor, "ca.init", f"ca:{ca.id}", key_type=self._settings.key_type,
                           fingerprint=x509ops.fingerprint(cert))
        return ca

    def _held(self, ca: HeldCa) -> tuple[x509.Certificate, str]:
        """The CA as its backend knows it: certificate and key reference."""
        if ca.key_path is None:
            raise Conflict(f"CA {ca.id} is retired: its key was destroyed")
        return _parsed(ca.cert_pem), ca.key_path

    def _root(self, db: Session) -> CertificateAuthority:
        root = db.scalar(select(CertificateAuthority).where(CertificateAuthority.kind == "root"))
        if root is None:
            raise Conflict("no root CA yet: run `custody ca init`")
        return root

    def issuing_ca(self, db: Session, client_id: int) -> CertificateAuthority:
        """The client's own issuing CA, created on first use (its trust and purge stay apart)."""
        ca = db.scalar(select(CertificateAuthority).where(
            CertificateAuthority.client_id == client_id))
        return ca if ca is not None else self._new_issuing(db, client_id, self._root(db))

    def _new_issuing(self, db: Session, client_id: int, root: HeldCa) -> CertificateAuthority:
        name = f"custody issuing CA {client_id}"
        cert, ref = self._ca.new_issuing(self._held(root), name, self._settings.issuing_days,
                                         self._clock(), self._links(root))
        ca = CertificateAuthority(client_id=client_id, kind="issuing", name=name,
                                  cert_pem=x509ops.pem(cert), key_path=ref,
                                  not_after=cert.not_valid_after_utc, created_at=self._clock())
        db.add(ca)
        db.flush()
        self._audit.record(db, "certs", "ca.issuing_create", f"ca:{ca.id}", client_id=client_id)
        return ca

    def _links(self, ca: HeldCa) -> x509ops.Links:
        """The CRL and issuer URLs written into the CA's certificates."""
        self._require_base_url()
        return x509ops.Links(crl=f"{self._base_url}/crl/{ca.id}.crl",
                             issuer=f"{self._base_url}/ca/{ca.id}.crt")

    def _require_base_url(self) -> None:
        if not self._base_url:
            raise Conflict("set server.base_url in custody.toml (the address clients reach "
                           "custody at) before issuing: certificates carry the URLs of their "
                           "CRL and issuer there")

    def chain(self, db: Session, ca: CertificateAuthority) -> list[str]:
        return [ca.cert_pem, self._root(db).cert_pem]

    # -- issuance
    def _allowed_names(self, db: Session, client_id: int) -> list[str]:
        policy = db.get(ClientPolicy, client_id)
        return list(policy.cert_names) if policy else []

    def _checked(self, db: Session, client_id: int, common_name: str,
                 sans: Sequence[str], allowed: Sequence[str] | None = None
                 ) -> tuple[str, list[str]]:
        where = (f"the client's allowed names (PUT /api/v1/clients/{client_id}/policy "
                 "cert_names, or the client's page)")
        if allowed is None:
            allowed = self._allowed_names(db, client_id)
        return x509ops.check_names(common_name, sans, allowed, where)

    def _issuing_for(self, db: Session, client_id: int, common_name: str,
                     sans: Sequence[str]) -> tuple[str, list[str], HeldCa, HeldCa]:
        """Everything an issuance reads, in one query: the client, its allowed names (the
        request's names are checked against them here), its issuing CA (made on first
        use, after the check) and the root. Returns the checked names and both CAs."""
        found = _ISSUANCE_READ.first(db, {"client_id": client_id})
        if found is None:
            _missing("client", client_id)
        checked = self._checked(db, client_id, common_name, sans, found.cert_names or [])
        if found.root_id is None:
            raise Conflict("no root CA yet: run `custody ca init`")
        root = CaRef(found.root_id, found.root_pem, found.root_key)
        ca = (CaRef(found.ca_id, found.ca_pem, found.ca_key) if found.ca_id is not None
              else self._new_issuing(db, client_id, root))
        return *checked, ca, root

    def _contact(self, db: Session, client_id: int, contact_id: int | None) -> int | None:
        if contact_id is None:
            return None
        contact = db.get(Contact, contact_id)
        if contact is None or contact.client_id != client_id or contact.verified_at is None:
            raise InvalidInput(f"contact_id: {contact_id} is not a verified contact of this client",
                               field="contact_id")
        return contact.id

    def _record(self, db: Session, client_id: int, ca: HeldCa | None,
                cert: x509.Certificate, origin: str, sans: Sequence[str],
                replaces: Certificate | None = None, **fields: Any) -> Certificate:
        row = Certificate(
            client_id=client_id, ca_id=ca.id if ca else None, serial=x509ops.serial_hex(cert),
            fingerprint=x509ops.fingerprint(cert), subject=cert.subject.rfc4514_string(),
            sans=list(sans), not_before=cert.not_valid_before_utc,
            not_after=cert.not_valid_after_utc, key_origin=origin, cert_pem=x509ops.pem(cert),
            issued_at=self._clock(), replaces_id=replaces.id if replaces else None,
            notices_sent=[], **fields)
        db.add(row)
        db.flush()
        return row

    def issue_from_csr(self, db: Session, who: Principal, client_id: int, csr_pem: str,
                       contact_id: int | None = None, replaces: Certificate | None = None) -> Issued:
        """Sign the client's CSR after checking its signature, key and names."""
        require_role(who, "admin")
        self._require_base_url()
        request = x509ops.load_csr(csr_pem, self._settings.allowed_key_types)
        common_name, names, ca, root = self._issuing_for(db, client_id, request.common_name,
                                                         request.sans)
        contact = self._contact(db, client_id, contact_id)
        cert = self._ca.sign(self._held(ca), request.csr, common_name, names,
                             self._settings.leaf_days, self._clock(), self._links(ca))
        row = self._record(db, client_id, ca, cert, "csr", names, replaces,
                           handed_over_at=self._clock(), handed_over_to=contact,
                           handover_method="api")
        self._audit.record(db, who.actor, "cert.issue", f"certificate:{row.id}",
                           client_id=client_id, serial=row.serial, origin="csr",
                           replaces=replaces.id if replaces else None,
                           dropped=request.dropped)
        return Issued(row, [ca.cert_pem, root.cert_pem], dropped=request.dropped)

    def issue_generated(self, db: Session, who: Principal, client_id: int, common_name: str,
                        sans: Sequence[str], contact_id: int | None = None) -> Issued:
        """Make a key for a client that cannot make a CSR; it waits, encrypted, for one download."""
        require_role(who, "admin")
        self._require_base_url()
        common_name, names, ca, root = self._issuing_for(db, client_id, common_name, list(sans))
        contact = self._contact(db, client_id, contact_id)
        links = self._links(ca)
        key = x509ops.new_key(self._settings.key_type)
        cert = self._ca.sign(self._held(ca), x509ops.request_for(key, common_name, names),
                             common_name, names, self._settings.leaf_days, self._clock(), links)
        row = self._record(db, client_id, ca, cert, "generated", names)
        passphrase = secrets.token_urlsafe(18)
        chain = [x509.load_pem_x509_certificate(p.encode()) for p in (ca.cert_pem, root.cert_pem)]
        bundle = x509ops.pkcs12_bundle(key, cert, chain, passphrase, common_name)
        del key
        row.bundle_path = bundle_path = client_path(client_id, "certs", str(row.id), "bundle")
        self._secrets.put(bundle_path, {"p12": bundle.hex()})
        after_rollback(db, lambda: self._secrets.destroy(bundle_path))  # no key for no row
        row.download_expires_at = self._clock() + timedelta(hours=self._settings.download_hours)
        row.handed_over_to = contact
        self._audit.record(db, who.actor, "cert.issue", f"certificate:{row.id}",
                           client_id=client_id, serial=row.serial, origin="generated")
        return Issued(row, [ca.cert_pem, root.cert_pem], passphrase)

    def download_bundle(self, db: Session, who: Principal, cert_id: int) -> bytes:
        """Hand the PKCS#12 over once, then destroy it: after this we hold no copy of the key."""
        row = self.get(db, who, cert_id)
        if row.key_origin != "generated":
            raise InvalidInput("this certificate was issued from the client's own key; "
                               "there is nothing to download but the certificate")
        if row.bundle_path is None:
            raise Conflict("the key was handed over already or its download window passed; "
                           "it no longer exists here")
        if row.download_expires_at and row.download_expires_at <= self._clock():
            self._secrets.destroy(row.bundle_path)
            write_kept(db, partial(self._bundle_gone, cert_id=row.id, why="expired"))
            raise Conflict("the download window has passed; the key was destroyed")
        path = row.bundle_path
        try:
            bundle = bytes.fromhex(self._secrets.get(path)["p12"].reveal())
        except SecretNotFound:
            write_kept(db, partial(self._bundle_gone, cert_id=row.id, why="missing"))
            raise Conflict("the key no longer exists here") from None
        # The last copy goes once this hand-over commits; a failed request keeps it.
        after_commit(db, lambda: self._secrets.destroy(path))
        self._bundle_gone(db, row.id, "downloaded")
        row.handed_over_at, row.handover_method = self._clock(), "pkcs12-download"
        self._audit.record(db, who.actor, "cert.download", f"certificate:{row.id}")
        return bundle

    def _bundle_gone(self, db: Session, cert_id: int, why: str) -> None:
        """Record that a generated key's bundle was destroyed (it is, whatever follows)."""
        row = db.get(Certificate, cert_id)
        if row is not None and row.bundle_path is not None:
            row.bundle_path = None
            self._audit.record(db, "certs", "cert.key_destroyed", f"certificate:{row.id}",
                               reason=why)

    def _destroy_bundle(self, db: Session, row: Certificate, why: str) -> None:
        if row.bundle_path:
            self._secrets.destroy(row.bundle_path)
            self._bundle_gone(db, row.id, why)

    def expire_bundles(self, db: Session) -> int:
        """Destroy generated keys never downloaded within their window (a scheduled job)."""
        due = db.scalars(select(Certificate).where(Certificate.bundle_path.is_not(None),
                                                   Certificate.download_expires_at <= self._clock())).all()
        for row in due:
            self._destroy_bundle(db, row, "download window passed")
        return len(due)

    # -- ledger
    def get(self, db: Session, who: Principal, cert_id: int) -> Certificate:
        return get_owned(db, Certificate, cert_id, who, "certificate")

    def list_for_client(self, db: Session, who: Principal, client_id: int) -> Sequence[Certificate]:
        require_client_access(who, client_id)
        return db.scalars(select(Certificate).where(Certificate.client_id == client_id)
                          .order_by(Certificate.id)).all()

    def import_certificate(self, db: Session, who: Principal, client_id: int,
                           data: bytes) -> Certificate:
        """Track an existing certificate's expiry; a private key in the input is refused."""
        require_role(who, "admin")
        db.get(Client, client_id) or _missing("client", client_id)
        cert = x509ops.load_import(data)
        if cert.not_valid_after_utc <= self._clock():
            raise InvalidInput(f"the certificate expired on {cert.not_valid_after_utc:%Y-%m-%d}; "
                               "there is nothing left to track")
        if db.scalar(select(Certificate.id).where(Certificate.client_id == client_id,
                                                  Certificate.fingerprint == x509ops.fingerprint(cert))):
            raise Conflict("this certificate is in the ledger already")
        try:
            ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            sans = [str(n.value) for n in ext]
        except x509.ExtensionNotFound:
            sans = []
        row = self._record(db, client_id, None, cert, "imported", sans)
        self._audit.record(db, who.actor, "cert.import", f"certificate:{row.id}",
                           client_id=client_id, serial=row.serial)
        return row

    def renew(self, db: Session, who: Principal, cert_id: int, csr_pem: str) -> Issued:
        """Issue a successor for the same subject; the old one's reminders stop."""
        old = self.get(db, who, cert_id)
        request = x509ops.load_csr(csr_pem, self._settings.allowed_key_types)
        old_cert = x509.load_pem_x509_certificate(old.cert_pem.encode())
        if request.csr.subject != old_cert.subject:
            raise InvalidInput(f"csr: subject {request.csr.subject.rfc4514_string()} differs from "
                               f"the certificate's ({old.subject}); issue a new one instead", field="csr")
        issued = self.issue_from_csr(db, who, old.client_id, csr_pem, old.handed_over_to, old)
        old.notices_sent = sorted(set(old.notices_sent) | set(self._settings.notice_days))
        return issued

    # -- revocation
    def revoke(self, db: Session, who: Principal, cert_id: int, reason: str) -> Certificate:
        require_role(who, "admin")
        row = self.get(db, who, cert_id)
        if reason not in x509ops.REASONS:
            hint = (" (certificateHold is not offered: a revocation here is final)"
                    if reason == "certificateHold" else "")
            raise InvalidInput(f"reason must be one of {', '.join(sorted(x509ops.REASONS))}, "
                               f"the RFC 5280 reasons for an end-entity certificate{hint}",
                               field="reason")
        if row.revoked_at is not None:
            raise Conflict(f"certificate {cert_id} was revoked already on {row.revoked_at:%Y-%m-%d}")
        if row.ca_id is None:
            raise InvalidInput("imported certificates are revoked by their own issuer, not by us")
        row.revoked_at, row.revocation_reason = self._clock(), reason
        db.add(CrlEntry(ca_id=row.ca_id, serial=row.serial, revoked_at=row.revoked_at,
                        reason=reason, expires_at=row.not_after))
        db.flush()
        issuer = db.get(CertificateAuthority, row.ca_id) or _missing("certificate authority",
                                                                     row.ca_id)
        self._ca.revoke(self._held(issuer), row.serial)
        self.publish_crl(db, row.ca_id)
        self._audit.record(db, who.actor, "cert.revoke", f"certificate:{row.id}", reason=reason,
                           serial=row.serial)
        if row.bundle_path is not None:
            # A revoked certificate's key is of no use to anyone: not kept for a hand-over.
            path = row.bundle_path
            after_commit(db, lambda: self._secrets.destroy(path))
            self._bundle_gone(db, row.id, "revoked")
        return row

    def publish_crl(self, db: Session, ca_id: int, days: int | None = None) -> bytes:
        """Sign a fresh CRL for the CA (entries of certificates not yet expired)."""
        ca = db.get(CertificateAuthority, ca_id) or _missing("certificate authority", ca_id)
        now = self._clock()
        entries = db.scalars(select(CrlEntry).where(CrlEntry.ca_id == ca_id,
                                                    CrlEntry.expires_at > now)).all()
        ca.crl_number += 1
        ca.crl_der = self._ca.crl(self._held(ca),
                                  [(e.serial, e.revoked_at, e.reason) for e in entries],
                                  ca.crl_number, now, days or self._settings.crl_days)
        ca.crl_next_update = x509.load_der_x509_crl(ca.crl_der).next_update_utc
        return ca.crl_der

    def ca_der(self, db: Session, ca_id: int) -> bytes:
        """A CA's certificate, DER (public: relying parties fetch it to build the chain)."""
        ca = db.get(CertificateAuthority, ca_id) or _missing("certificate authority", ca_id)
        return x509.load_pem_x509_certificate(ca.cert_pem.encode()).public_bytes(
            serialization.Encoding.DER)

    def crl(self, db: Session, ca_id: int) -> bytes:
        ca = db.get(CertificateAuthority, ca_id) or _missing("certificate authority", ca_id)
        if ca.crl_der is None or (ca.key_path and ca.crl_next_update and
                                  ca.crl_next_update <= self._clock() + timedelta(days=1)):
            return self.publish_crl(db, ca_id)
        return ca.crl_der

    def refresh_crls(self, db: Session) -> int:
        """Re-sign CRLs a day before their nextUpdate (a scheduled job)."""
        soon = self._clock() + timedelta(days=1)
        cas = db.scalars(select(CertificateAuthority).where(
            CertificateAuthority.key_path.is_not(None),
            (CertificateAuthority.crl_next_update.is_(None))
            | (CertificateAuthority.crl_next_update <= soon))).all()
        for ca in cas:
            self.publish_crl(db, ca.id)
        return len(cas)

    # -- reading for admins
    def authorities(self, db: Session, who: Principal) -> Sequence[CertificateAuthority]:
        require_role(who, "admin")
        return db.scalars(select(CertificateAuthority).order_by(CertificateAuthority.id)).all()

    def find_certificates(self, db: Session, who: Principal, wanted: CertificateFilter,
                          limit: int | None = None, cursor: str | None = None
                          ) -> Page[Certificate]:
        """A page of ledger entries, newest first, filtered. Every client's: admins; one
        client's: staff, and that client's own users."""
        if wanted.client_id is None:
            require_role(who, "admin")
        else:
            require_client_access(who, wanted.client_id)
        now = self._clock()
        stmt = select(Certificate)
        if wanted.client_id is not None:
            stmt = stmt.where(Certificate.client_id == wanted.client_id)
        live = Certificate.revoked_at.is_(None)
        if wanted.state == "revoked":
            stmt = stmt.where(Certificate.revoked_at.is_not(None))
        elif wanted.state == "valid":
            stmt = stmt.where(live, Certificate.not_after >= now)
        elif wanted.state == "expired":
            stmt = stmt.where(live, Certificate.not_after < now)
        if wanted.expires_within_days is not None:
            stmt = stmt.where(live, Certificate.not_after >= now, Certificate.not_after
                              < now + timedelta(days=wanted.expires_within_days))
        if wanted.search:
            text = wanted.search.lower()
            digits = text.replace(":", "").lstrip("0") or "0"
            stmt = stmt.where(func.lower(Certificate.subject).like(like_pattern(text), escape="\\")
                              | (Certificate.serial == digits)
                              | (Certificate.fingerprint == text.replace(":", "")))
        return newest_first(db, stmt, Certificate.id, check_limit(limit), cursor)

    def expiring(self, db: Session, who: Principal, days: int, limit: int = 10
                 ) -> Page[Certificate]:
        """Live certificates that expire within ``days`` (for the dashboard)."""
        return self.find_certificates(db, who, CertificateFilter(expires_within_days=days),
                                      limit=limit)

    def pem_with_chain(self, db: Session, who: Principal, cert_id: int) -> tuple[Certificate, str]:
        """A ledger entry and its certificate followed by its issuers', as PEM."""
        row = self.get(db, who, cert_id)
        ca = db.get(CertificateAuthority, row.ca_id) if row.ca_id is not None else None
        return row, row.cert_pem + "".join(self.chain(db, ca) if ca is not None else [])

    # -- the client's data (custody.tenancy.ClientData)
    def export_client(self, db: Session, client_id: int) -> dict[str, Any]:
        rows = db.scalars(select(Certificate).where(Certificate.client_id == client_id)
                          .order_by(Certificate.id)).all()
        return {"certificates": [{"id": c.id, "serial": c.serial, "subject": c.subject,
                                  "sans": c.sans, "not_before": iso(c.not_before),
                                  "not_after": iso(c.not_after), "key_origin": c.key_origin,
                                  "revoked_at": iso(c.revoked_at), "certificate": c.cert_pem}
                                 for c in rows]}

    def forget_client(self, db: Session, client_id: int) -> dict[str, int]:
        """For the client purge: a last CRL valid until its revoked certificates would have
        expired, then the issuing CA's key is destroyed; ledger rows go with the client
        (CRL entries stay, signed into that last CRL, until they expire)."""
        ca = db.scalar(select(CertificateAuthority).where(
            CertificateAuthority.client_id == client_id))
        counts = {"certificates": 0, "ca_keys": 0}
        bundles = db.scalars(select(Certificate).where(Certificate.client_id == client_id,
                                                       Certificate.bundle_path.is_not(None))).all()
        for row in bundles:
            self._destroy_bundle(db, row, "client purged")
        if ca is not None and ca.key_path is not None:
            last = max((e.expires_at for e in db.scalars(select(CrlEntry).where(
                CrlEntry.ca_id == ca.id))), default=self._clock())
            days = max(1, (last - self._clock()).days + 1)
            self.publish_crl(db, ca.id, days=days)
            self._ca.destroy(ca.key_path)
            ca.key_path = None
            ca.client_id = None
            counts["ca_keys"] = 1
        rows = db.scalars(select(Certificate).where(Certificate.client_id == client_id)).all()
        for row in rows:
            db.delete(row)
        counts["certificates"] = len(rows)
        return counts

    # -- reminders
    def expiry_notices(self, db: Session) -> int:
        """Remind verified technical contacts at 30, 14 and 3 days (configurable), once each."""
        now = self._clock()
        sent = 0
        horizon = now + timedelta(days=max(self._settings.notice_days))
        rows = db.scalars(select(Certificate).where(Certificate.revoked_at.is_(None),
                                                    Certificate.not_after > now,
                                                    Certificate.not_after <= horizon)).all()
        replaced = set(db.scalars(select(Certificate.replaces_id).where(
            Certificate.replaces_id.is_not(None))))
        for row in rows:
            if row.id in replaced:
                continue
            left = (row.not_after - now).days
            due = [d for d in self._settings.notice_days if left <= d and d not in row.notices_sent]
            if not due:
                continue
            for contact in mail_recipients(db, row.client_id, "technical"):
                self._mailer.send(Message(
                    to=contact.value, subject="A certificate expires soon",
                    text=(f"Hello,\n\nthe certificate {row.subject} (serial {row.serial}) "
                          f"expires on {row.not_after:%Y-%m-%d}, in {left} days.\n"
                          "Send us a new certificate signing request to renew it.\n")))
                sent += 1
            row.notices_sent = sorted(set(row.notices_sent) | set(due))
            self._audit.record(db, "scheduler", "cert.expiry_notice", f"certificate:{row.id}",
                               days=min(due))
        return sent

    def authority_pems(self, db: Session) -> Sequence[CertificateAuthority]:
        return db.scalars(select(CertificateAuthority).order_by(CertificateAuthority.id)).all()


def _missing(kind: str, object_id: int) -> NoReturn:
    raise NotFound(f"{kind} {object_id} does not exist")

