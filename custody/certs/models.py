"""Certificate authorities, the certificate ledger and CRL entries."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from custody.db import Base, UTCDateTime


class CertificateAuthority(Base):
    """The provider's root CA, or one client's issuing CA (its key is in the SecretStore)."""

    __tablename__ = "certificate_authorities"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int | None] = mapped_column(
        ForeignKey("clients.id", ondelete="SET NULL"), nullable=True, unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # root | issuing
    name: Mapped[str] = mapped_column(String(200))
    cert_pem: Mapped[str] = mapped_column(Text)
    key_path: Mapped[str | None] = mapped_column(String(255), nullable=True)
    not_after: Mapped[datetime] = mapped_column(UTCDateTime())
    crl_number: Mapped[int] = mapped_column(default=0)
    crl_der: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True, deferred=True)
    crl_next_update: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Certificate(Base):
    """One certificate handed to (or tracked for) a client. We keep no private key of it."""

    __tablename__ = "certificates"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), index=True)
    ca_id: Mapped[int | None] = mapped_column(
        ForeignKey("certificate_authorities.id", ondelete="SET NULL"), nullable=True)
    serial: Mapped[str] = mapped_column(String(64), index=True)
    fingerprint: Mapped[str] = mapped_column(String(64), index=True)
    subject: Mapped[str] = mapped_column(String(500))
    sans: Mapped[list[str]] = mapped_column(JSON)
    not_before: Mapped[datetime] = mapped_column(UTCDateTime())
    not_after: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    key_origin: Mapped[str] = mapped_column(String(16))  # csr | generated | imported
    cert_pem: Mapped[str] = mapped_column(Text)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    handed_over_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    handed_over_to: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="SET NULL"), nullable=True)
    handover_method: Mapped[str | None] = mapped_column(String(32), nullable=True)
    bundle_path: Mapped[str | None] = mapped_column(String(255), nullable=True)
    download_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revocation_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    replaces_id: Mapped[int | None] = mapped_column(
        ForeignKey("certificates.id", ondelete="SET NULL"), nullable=True)
    notices_sent: Mapped[list[int]] = mapped_column(JSON, default=list)


class CrlEntry(Base):
    """Serial and revocation date only: kept until the certificate would have expired,
    even after its client is purged (DESIGN §4)."""

    __tablename__ = "crl_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    ca_id: Mapped[int] = mapped_column(ForeignKey("certificate_authorities.id", ondelete="CASCADE"),
                                       index=True)
    serial: Mapped[str] = mapped_column(String(64))
    revoked_at: Mapped[datetime] = mapped_column(UTCDateTime())
    reason: Mapped[str] = mapped_column(String(32))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
