"""Users, logins with lockout and optional TOTP, and hashed API tokens."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import pyotp
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from custody.accounts.models import ApiToken, User
from custody.accounts.passwords import Passwords, generate_password
from custody.accounts.roles import ROLES, is_staff
from custody.audit.service import AuditLog
from custody.clients.models import Client
from custody.clock import Clock, iso
from custody.db import rows_changed, write_kept
from custody.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from custody.secrets import SecretNotFound, SecretStore, client_path, provider_path

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{1,149}$")
TOKEN_PREFIX = "cst_"
LOGIN_FAILED = "invalid username, password or code"


@dataclass(frozen=True)
class Principal:
    """Who is making a request: enough to check role and tenant, nothing secret."""

    user_id: int
    username: str
    role: str
    client_id: int | None

    @property
    def is_staff(self) -> bool:
        return is_staff(self.role)

    @classmethod
    def operator(cls, tool: str) -> Principal:
        """An admin acting through ``tool`` (the CLI, the demo) on the host: no user account,
        so no user id (ids start at 1); the audit log names the tool instead."""
        return cls(0, tool, "admin", None)

    @property
    def actor(self) -> str:
        # Ids, not names: the chain is immutable, and it must outlive the people in it (P10).
        return f"user:{self.user_id}" if self.user_id else self.username


def principal_of(user: User) -> Principal:
    return Principal(user.id, user.username, user.role, user.client_id)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class AccountService:
    """Create users and tokens; authenticate passwords, codes and bearer tokens."""

    def __init__(self, secrets_store: SecretStore, audit: AuditLog, clock: Clock,
                 lockout_threshold: int, lockout_minutes: int,
                 passwords: Passwords | None = None) -> None:
        self._secrets = secrets_store
        self._passwords = passwords or Passwords()
        self._audit = audit
        self._clock = clock
        self._threshold = lockout_threshold
        self._lockout = timedelta(minutes=lockout_minutes)

    # -- the client's data (custody.tenancy.ClientData)
    def export_client(self, db: Session, client_id: int) -> dict[str, Any]:
        users = db.scalars(select(User).where(User.client_id == client_id).order_by(User.id)).all()
        return {"users": [{"id": u.id, "username": u.username, "created_at": iso(u.created_at),
                           "totp_enabled": u.totp_secret_path is not None} for u in users]}

    def forget_client(self, db: Session, client_id: int) -> dict[str, int]:
        return {"users": rows_changed(db, delete(User).where(User.client_id == client_id))}

    def list_users(self, db: Session, who: Principal) -> Sequence[User]:
        if who.role != "admin":  # (custody.tenancy imports this module: no require_role here)
            raise Forbidden("this needs the admin role")
        return db.scalars(select(User).order_by(User.role, User.username)).all()

    def me(self, db: Session, who: Principal) -> User:
        """The caller's own account."""
        user = db.get(User, who.user_id)
        if user is None:
            raise NotFound("your account no longer exists")
        return user

    def create_user(self, db: Session, actor: str, username: str, role: str,
                    client_id: int | None = None, password: str | None = None
                    ) -> tuple[User, str | None]:
        """Create a user; return it and the generated one-time password if none was given."""
        username = username.strip().lower()
        if not USERNAME.match(username):
            raise InvalidInput("username must be 2-150 characters: lowercase letters, digits, . _ @ -",
                               field="username")
        if role not in ROLES:
            raise InvalidInput(f"role must be one of {', '.join(ROLES)}", field="role")
        if role == "client":
            if client_id is None:
                raise InvalidInput("a client user needs --client (the client's id)")
            if db.get(Client, client_id) is None:
                raise NotFound(f"client {client_id} does not exist")
        elif client_id is not None:
            raise InvalidInput(f"a {role} belongs to the provider, not to a client")
        if db.scalar(select(User.id).where(User.username == username)) is not None:
            raise Conflict(f"username {username!r} is taken")
        generated = None
        if password is None:
            generated = password = generate_password()
        user = User(username=username, password_hash=self._passwords.hash(password), role=role,
                    client_id=client_id, must_change_password=generated is not None,
                    created_at=self._clock())
        db.add(user)
        db.flush()
        self._audit.record(db, actor, "user.create", f"user:{user.id}", role=role,
                           client_id=client_id)
        return user, generated

    def authenticate(self, db: Session, username: str, password: str,
                     totp_code: str | None = None) -> User:
        """Check a password (and TOTP code when enrolled); count failures and lock out."""
        now = self._clock()
        user = db.scalar(select(User).where(User.username == username.strip().lower()))
        ok = self._passwords.verify(user.password_hash if user else None, password)
        if user is None:
            raise Unauthorized(LOGIN_FAILED)
        if user.locked_until is not None and user.locked_until > now:
            raise Unauthorized("too many failed attempts; the account is locked for a while")
        if ok and user.totp_secret_path is not None:
            ok = totp_code is not None and self._totp(user).verify(totp_code, valid_window=1)
        if not ok:
            write_kept(db, partial(self._count_failure, user_id=user.id, now=now))
            raise Unauthorized(LOGIN_FAILED)
        user.failed_logins = 0
        user.locked_until = None
        if self._passwords.needs_rehash(user.password_hash):
            user.password_hash = self._passwords.hash(password)
        self._audit.record(db, f"user:{user.id}", "login", f"user:{user.id}")
        return user

    def _count_failure(self, db: Session, user_id: int, now: datetime) -> None:
        """One more failed login; enough of them lock the account for a while."""
        user = db.get(User, user_id)
        if user is None:
            return
        user.failed_logins += 1
        if user.failed_logins >= self._threshold:
            user.locked_until = now + self._lockout
            user.failed_logins = 0
            self._audit.record(db, f"user:{user.id}", "login.locked", f"user:{user.id}")
        else:
            self._audit.record(db, f"user:{user.id}", "login.failed", f"user:{user.id}")

    def change_password(self, db: Session, user: User, current: str, new: str) -> None:
        if not self._passwords.verify(user.password_hash, current):
            raise InvalidInput("the current password is wrong")
        if current == new:
            raise InvalidInput("the new password must differ from the current one")
        user.password_hash = self._passwords.hash(new)
        user.must_change_password = False
        self._audit.record(db, f"user:{user.id}", "user.password_change", f"user:{user.id}")

    def _totp_path(self, user: User) -> str:
        if user.client_id is not None:
            return client_path(user.client_id, "users", str(user.id), "totp")
        return provider_path("users", str(user.id), "totp")

    def _totp(self, user: User) -> pyotp.TOTP:
        if user.totp_secret_path is None:
            raise Conflict("this account has no TOTP enrolment")
        return pyotp.TOTP(self._secrets.get(user.totp_secret_path)["seed"].reveal())

    def start_totp(self, user: User) -> str:
        """Store a new TOTP seed (not yet active) and return its provisioning URI."""
        seed = pyotp.random_base32()
        self._secrets.put(self._totp_path(user) + "-pending", {"seed": seed})
        return pyotp.TOTP(seed).provisioning_uri(name=user.username, issuer_name="custody")

    def confirm_totp(self, db: Session, user: User, code: str) -> None:
        """Activate the pending seed once the user proves their authenticator has it."""
        pending = self._totp_path(user) + "-pending"
        try:
            seed = self._secrets.get(pending)["seed"].reveal()
        except SecretNotFound:
            raise InvalidInput("start TOTP enrolment first (POST /api/v1/me/totp)") from None
        if not pyotp.TOTP(seed).verify(code, valid_window=1):
            raise InvalidInput("the code does not match; check the authenticator's clock")
        self._secrets.put(self._totp_path(user), {"seed": seed})
        self._secrets.destroy(pending)
        user.totp_secret_path = self._totp_path(user)
        self._audit.record(db, f"user:{user.id}", "user.totp_enable", f"user:{user.id}")

    def create_token(self, db: Session, actor: str, username: str, name: str = "") -> str:
        """Mint an API token for ``username``; only its hash is stored."""
        user = db.scalar(select(User).where(User.username == username.strip().lower()))
        if user is None:
            raise NotFound(f"no user named {username!r}")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        row = ApiToken(user_id=user.id, token_hash=token_digest(token), name=name,
                       created_at=self._clock())
        db.add(row)
        db.flush()
        self._audit.record(db, actor, "token.create", f"user:{user.id}", token_id=row.id)
        return token

    def user_for_token(self, db: Session, token: str) -> User | None:
        if not token.startswith(TOKEN_PREFIX):
            return None
        return db.scalar(select(User).join(ApiToken, ApiToken.user_id == User.id).where(
            ApiToken.token_hash == token_digest(token), ApiToken.revoked_at.is_(None)))
