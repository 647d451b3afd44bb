"""The nodes of one installation, and the CA that vouches for them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from custody.db import Base, UTCDateTime


class Node(Base):
    """A `custody serve` process: its name, where its broker listens, when it was last heard."""

    __tablename__ = "nodes"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    address: Mapped[str | None] = mapped_column(String(255), nullable=True)  # host:port
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # A one-time join token: only its SHA-256 is kept, until it is used or expires.
    join_token_hash: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)
    join_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # The serial number (hex) of the one certificate this node may present.
    cert_serial: Mapped[str | None] = mapped_column(String(64), nullable=True)
    cert_not_after: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Each start of the node is a new instance: sessions of an older one are gone.
    instance: Mapped[str | None] = mapped_column(String(32), nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class NodeAuthority(Base):
    """The node CA's certificate (one row). Its key is in the secret store; it signs node
    certificates only, never a client's CA, so no client certificate can pass as a node."""

    __tablename__ = "node_authority"

    id: Mapped[int] = mapped_column(primary_key=True)
    cert_pem: Mapped[str] = mapped_column(Text)
    key_ref: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
