"""Customer devices: inventory fields; credentials live in the SecretStore, never here."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from custody.clients.models import Engagement, engagement_devices
from custody.db import Base, UTCDateTime


class Device(Base):
    """A router or switch of a client, reached over SSH from one egress IP."""

    __tablename__ = "devices"
    __table_args__ = (UniqueConstraint("client_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    host: Mapped[str | None] = mapped_column(String(255), nullable=True)
    port: Mapped[int] = mapped_column(default=22)
    device_type: Mapped[str] = mapped_column(String(64))
    egress_ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    host_key: Mapped[str | None] = mapped_column(Text, nullable=True)
    secret_path: Mapped[str | None] = mapped_column(String(255), nullable=True)
    access_state: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    engagements: Mapped[list[Engagement]] = relationship(
        secondary=engagement_devices, back_populates="devices"
    )
