"""API tokens: named, expiring, listed with their last use, revocable; stored as hashes."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from custody.accounts.models import ApiToken, User
from custody.accounts.service import Principal, token_digest
from custody.audit.service import AuditLog
from custody.clock import Clock
from custody.errors import Conflict, Forbidden, InvalidInput, NotFound

TOKEN_PREFIX = "cst_"
# A token's last use is written at most this often: not one write per API call.
LAST_USED_PRECISION = timedelta(minutes=1)


def is_api_token(token: str) -> bool:
    """Whether ``token`` has the form of a person's API token (an alert source's or a
    node's has another)."""
    return token.startswith(TOKEN_PREFIX)


class TokenService:
    """Mint, look up, list and revoke API tokens. A token's secret is shown once."""

    def __init__(self, audit: AuditLog, clock: Clock, default_days: int) -> None:
        self._audit = audit
        self._clock = clock
        self._default_days = default_days

    def create(self, db: Session, actor: str, username: str, name: str = "",
               days: int | None = None) -> str:
        """Mint a token for ``username`` (at the machine: `custody token create`)."""
        user = db.scalar(select(User).where(User.username == username.strip().lower()))
        if user is None or user.deleted_at is not None:
            raise NotFound(f"no user named {username!r}")
        if user.disabled_at is not None:
            raise Conflict(f"{user.username} is disabled; enable them first "
                           "(`custody user enable`)")
        return self._mint(db, actor, user, name, days)[1]

    def create_own(self, db: Session, who: Principal, name: str, days: int | None = None
                   ) -> tuple[ApiToken, str]:
        """Mint a token for the caller; return the row and the secret (shown once)."""
        user = db.get(User, who.user_id)
        if user is None:
            raise NotFound("your account no longer exists")
        return self._mint(db, who.actor, user, name, days)

    def _mint(self, db: Session, actor: str, user: User, name: str, days: int | None
              ) -> tuple[ApiToken, str]:
        name = name.strip()
        if len(name) > 100:
            raise InvalidInput("name: at most 100 characters", field="name")
        days = self._default_days if days is None else days
        if not 1 <= days <= 3650:
            raise InvalidInput("days: a token lives 1 to 3650 days", field="days")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = self._clock()
        row = ApiToken(user_id=user.id, token_hash=token_digest(token), name=name,
                       created_at=now, expires_at=now + timedelta(days=days))
        db.add(row)
        db.flush()
        self._audit.record(db, actor, "token.create", f"user:{user.id}", token_id=row.id,
                           name=name, days=days)
        return row, token

    def authenticate(self, db: Session, token: str) -> tuple[User, ApiToken] | None:
        """The enabled user and the live token behind ``token``, or None."""
        if not is_api_token(token):
            return None
        now = self._clock()
        found = db.execute(select(User, ApiToken).join(ApiToken, ApiToken.user_id == User.id)
                           .where(ApiToken.token_hash == token_digest(token),
                                  ApiToken.revoked_at.is_(None),
                                  User.disabled_at.is_(None))).first()
        if found is None:
            return None
        user, row = found
        if row.expires_at is not None and row.expires_at <= now:
            return None
        if row.last_used_at is None or now - row.last_used_at >= LAST_USED_PRECISION:
            row.last_used_at = now
        return user, row

    def list(self, db: Session, who: Principal, everyone: bool = False) -> Sequence[ApiToken]:
        """The caller's tokens, or (admins, ``everyone``) all tokens, newest first."""
        stmt = select(ApiToken).order_by(ApiToken.id.desc())
        if everyone:
            if who.role != "admin":
                raise Forbidden("listing everyone's tokens needs the admin role")
        else:
            stmt = stmt.where(ApiToken.user_id == who.user_id)
        return db.scalars(stmt).all()

    def get(self, db: Session, who: Principal, token_id: int) -> ApiToken:
        """One token: the caller's own, or anyone's for an admin."""
        row = db.get(ApiToken, token_id)
        if row is None or (row.user_id != who.user_id and who.role != "admin"):
            raise NotFound(f"token {token_id} does not exist")
        return row

    def revoke(self, db: Session, who: Principal, token_id: int) -> ApiToken:
        """Revoke one token: the caller's own, or anyone's for an admin."""
        row = self.get(db, who, token_id)
        if row.revoked_at is None:
            row.revoked_at = self._clock()
            self._audit.record(db, who.actor, "token.revoke", f"user:{row.user_id}",
                               token_id=row.id)
        return row
