"""Tenants and what belongs to them: clients, contacts, engagements."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import JSON, BigInteger, Column, ForeignKey, String, Table, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from custody.db import Base, UTCDateTime

if TYPE_CHECKING:
    from custody.devices.models import Device

engagement_devices = Table(
    "engagement_devices",
    Base.metadata,
    Column("engagement_id", ForeignKey("engagements.id", ondelete="CASCADE"), primary_key=True),
    Column("device_id", ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True),
)


class Client(Base):
    """A customer of the provider: the tenant every other record belongs to."""

    __tablename__ = "clients"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Data-subject requests: restriction/objection stops alert mail; erasure, once an admin
    # confirms it, makes the client purge due at once.
    processing_restricted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    erasure_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    erasure_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    purge_notice_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Drawn anew by the database (triggers, migration 0017) whenever one of the client's
    # devices, users or contacts is added, renamed or removed: alert ingest keeps the
    # client's known names until it changes.
    names_version: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class Contact(Base):
    """An e-mail address or phone number of a client, with the purposes it agreed to."""

    __tablename__ = "contacts"
    __table_args__ = (UniqueConstraint("client_id", "kind", "value"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(8))
    value: Mapped[str] = mapped_column(String(320))
    purposes: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Engagement(Base):
    """A job or service order: paid and warranty dates drive the purge (DESIGN §4)."""

    __tablename__ = "engagements"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    warranty_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    devices: Mapped[list[Device]] = relationship(
        secondary=engagement_devices, back_populates="engagements"
    )
