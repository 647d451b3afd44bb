"""Users, API tokens and server-side web sessions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from custody.accounts.roles import is_staff
from custody.db import Base, UTCDateTime


class User(Base):
    """A person who logs in: provider staff (admin, technician) or a client's user."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(150), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    client_id: Mapped[int | None] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), nullable=True, index=True
    )
    totp_secret_path: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # Failed logins from any address, and when the last one was: the account's backoff.
    failed_logins: Mapped[int] = mapped_column(default=0)
    last_failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    attack_noticed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    must_change_password: Mapped[bool] = mapped_column(default=False)
    # Reading transcripts is a permission of its own; admins always hold it.
    can_read_transcripts: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # A disabled user's tokens and sessions stop working at once; a deleted one is
    # disabled with its personal data gone, its id kept for the audit log.
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # The time step of the last TOTP code accepted: a code is good once.
    totp_last_step: Mapped[int | None] = mapped_column(nullable=True)
    # SHA-256 of each unused recovery code (random, so a fast hash is enough).
    recovery_codes: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # The identity provider's subject for a staff user who signs in with single sign-on.
    sso_subject: Mapped[str | None] = mapped_column(String(255), nullable=True, unique=True)

    @property
    def is_staff(self) -> bool:
        return is_staff(self.role)

    @property
    def active(self) -> bool:
        return self.disabled_at is None

    @property
    def state(self) -> str:
        """active, disabled or deleted (a deleted user is disabled too)."""
        return "deleted" if self.deleted_at else "disabled" if self.disabled_at else "active"


class ApiToken(Base):
    """A bearer token for the API, stored only as its SHA-256 hash."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class WebSession(Base):
    """Server-side state behind the one session cookie; the cookie holds only a random id."""

    __tablename__ = "web_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=True, index=True
    )
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
