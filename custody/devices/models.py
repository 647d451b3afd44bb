"""Customer devices, egress profiles, access sessions and their encrypted transcripts.

Credentials live in the SecretStore, never here.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, String, Text, false, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from custody.clients.models import Engagement, engagement_devices
from custody.db import Base, UTCDateTime


class Device(Base):
    """A router or switch of a client, reached over SSH from one egress IP."""

    __tablename__ = "devices"
    # A name is unique among the client's live devices: a purged one's is free again.
    __table_args__ = (Index("uq_devices_client_live_name", "client_id", "name", unique=True,
                            sqlite_where=text("purged_at IS NULL"),
                            postgresql_where=text("purged_at IS NULL")),
                      # Lists go by name a page at a time: read in order, never sorted whole.
                      Index("ix_devices_name_id", "name", "id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    host: Mapped[str | None] = mapped_column(String(255), nullable=True)
    port: Mapped[int] = mapped_column(default=22)
    device_type: Mapped[str] = mapped_column(String(64))
    egress_ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    host_key: Mapped[str | None] = mapped_column(Text, nullable=True)
    host_key_pending: Mapped[str | None] = mapped_column(Text, nullable=True)
    host_key_mismatch_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    secret_path: Mapped[str | None] = mapped_column(String(255), nullable=True)
    access_state: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Set while custody rotates the credentials: session opens wait (custody.devices.rotation).
    rotating_since: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    engagements: Mapped[list[Engagement]] = relationship(
        secondary=engagement_devices, back_populates="devices"
    )


class EgressProfile(Base):
    """A fixed source address this installation connects to devices from."""

    __tablename__ = "egress_profiles"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    source_ip: Mapped[str] = mapped_column(String(64), unique=True)
    # The node that holds this address (sessions through it open there); None: any node.
    node: Mapped[str | None] = mapped_column(String(63), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ClientPolicy(Base):
    """How a client wants access to its devices governed (approval, extra denied commands)."""

    __tablename__ = "client_policies"

    client_id: Mapped[int] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), primary_key=True)
    require_approval: Mapped[bool] = mapped_column(default=False)
    approver_role: Mapped[str] = mapped_column(String(16), default="admin")
    deny_commands: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Names the client's certificates may carry: DNS suffixes ("example.com" allows
    # "vpn.example.com"), IP addresses and e-mail domains. Empty: the CN's name only.
    cert_names: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Alert addresses as Crypto-PAn pseudonyms: subnets stay recognisable, addresses do not.
    prefix_preserving_ips: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Names of the client's own that its alerts may mention (sites, people, brands): always
    # replaced, like its device and user names.
    alert_names: Mapped[list[str] | None] = mapped_column(JSON, nullable=True, default=list)
    # Who may open privileged (enable/sudo) sessions: "technician" (and admins), "admin", "none".
    privileged_role: Mapped[str] = mapped_column(String(16), default="technician",
                                                 server_default="technician")
    # Allow-list mode: only these command patterns run. None: every command not denied.
    allow_commands: Mapped[list[str] | None] = mapped_column(JSON, nullable=True, default=None)
    # What happens to a line the allow-list does not name: "refuse" or "confirm" (held for
    # an approver of this client's sessions).
    unlisted_action: Mapped[str] = mapped_column(String(16), default="refuse",
                                                 server_default="refuse")
    rotate_after_privileged: Mapped[bool] = mapped_column(default=False, server_default=false())
    rotate_every_days: Mapped[int | None] = mapped_column(nullable=True, default=None)


class SessionState(StrEnum):
    PENDING = "pending"  # waits for approval
    APPROVED = "approved"  # approved, not connected yet
    OPEN = "open"
    CLOSED = "closed"
    EXPIRED = "expired"
    FAILED = "failed"  # the connection was refused
    DENIED = "denied"


# States in which a session counts against the device's limit and keeps it from rotation.
LIVE_STATES: tuple[SessionState, ...] = (SessionState.PENDING, SessionState.APPROVED,
                                         SessionState.OPEN)


class AccessSession(Base):
    """A technician's time-limited, reasoned access to one device."""

    __tablename__ = "access_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), index=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    reason: Mapped[str] = mapped_column(String(200))
    ttl_seconds: Mapped[int]
    state: Mapped[str] = mapped_column(String(16), index=True)  # SessionState
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    approved_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    close_reason: Mapped[str | None] = mapped_column(String(200), nullable=True)
    source_ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    host_key_verified: Mapped[bool] = mapped_column(default=False)
    privileged: Mapped[bool] = mapped_column(default=False, server_default=false())
    # The node whose broker holds the live connection (set when it opens).
    node: Mapped[str | None] = mapped_column(String(63), nullable=True, index=True)

    device: Mapped[Device] = relationship()


class CommandApproval(Base):
    """A line held in an allow-list session until a second person approves it."""

    __tablename__ = "command_approvals"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(
        ForeignKey("access_sessions.id", ondelete="CASCADE"), index=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    command: Mapped[str] = mapped_column(Text)  # redacted
    state: Mapped[str] = mapped_column(String(16), index=True)  # ApprovalState
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class TranscriptChunk(Base):
    """One encrypted piece of a session transcript (secrets redacted before encryption)."""

    __tablename__ = "transcript_chunks"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(
        ForeignKey("access_sessions.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int]
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    direction: Mapped[str] = mapped_column(String(8))
    nonce: Mapped[bytes] = mapped_column(LargeBinary)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
