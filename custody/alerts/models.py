"""Alert sources, pseudonymized notifications and the outbox of e-mails to send."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from custody.db import Base, UTCDateTime


class AlertSource(Base):
    """A monitoring system allowed to post alerts, with its bearer token (hash only)."""

    __tablename__ = "alert_sources"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # alertmanager | zabbix | generic
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    client_id: Mapped[int | None] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Notification(Base):
    """One alert as stored: pseudonymized before it was written (P5)."""

    __tablename__ = "notifications"
    # A group's alerts, in order: flap counting and folding read only their own group
    # (always with the client: no index on the group alone).
    __table_args__ = (Index("ix_notifications_client_group", "client_id", "group_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int | None] = mapped_column(
        ForeignKey("alert_sources.id", ondelete="SET NULL"), nullable=True)
    client_id: Mapped[int | None] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), nullable=True, index=True)
    dedup_key: Mapped[str] = mapped_column(String(64), unique=True)
    group_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    alertname: Mapped[str] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class OutboxMessage(Base):
    """An e-mail waiting to go to one verified contact; retried with backoff."""

    __tablename__ = "outbox"
    __table_args__ = (
        # A group's pending e-mail to a contact, found from the group's alerts.
        Index("ix_outbox_notification_contact", "notification_id", "contact_id", "state"),
        # A contact's e-mails of the last hour, counted against the hourly cap.
        Index("ix_outbox_contact_created", "contact_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    notification_id: Mapped[int | None] = mapped_column(
        ForeignKey("notifications.id", ondelete="CASCADE"), nullable=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), index=True)  # pending | sent | failed
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(300), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
