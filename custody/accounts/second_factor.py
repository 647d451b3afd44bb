"""The second factor: TOTP enrolment (with the password), codes good once, recovery
codes shown once and stored as hashes, and removal by an admin."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime

import pyotp
from sqlalchemy.orm import Session

from custody.accounts.models import User
from custody.accounts.passwords import Passwords
from custody.accounts.service import Principal, token_digest
from custody.audit.service import AuditLog
from custody.clock import Clock
from custody.db import after_commit, lock_rows
from custody.errors import Conflict, Forbidden, InvalidInput, NotFound
from custody.secrets import SecretNotFound, SecretStore, client_path, provider_path

RECOVERY_CODES = 10


class SecondFactor:
    """TOTP and recovery codes for one installation."""

    def __init__(self, secrets_store: SecretStore, audit: AuditLog, clock: Clock,
                 passwords: Passwords, required_roles: Sequence[str]) -> None:
        self._secrets = secrets_store
        self._audit = audit
        self._clock = clock
        self._passwords = passwords
        self._roles = tuple(required_roles)

    def required(self, user: User) -> bool:
        """Whether the user's role requires TOTP and they have not enrolled yet. Single
        sign-on users prove a second factor to their identity provider (sso.admin_amr)."""
        return (user.role in self._roles and user.totp_secret_path is None
                and user.sso_subject is None)

    def verify(self, db: Session, user: User, code: str) -> bool:
        """A current TOTP code not used before, or an unused recovery code. The user's row
        is locked first: two logins racing cannot both spend one code."""
        lock_rows(db, User, User.id == user.id)
        code = code.strip().replace(" ", "")
        if code.isdigit() and len(code) == 6:
            step = _totp_step(self._totp(user), code, self._clock())
            if step is None or (user.totp_last_step is not None and step <= user.totp_last_step):
                return False  # wrong, or replayed within its window
            user.totp_last_step = step
            return True
        digest = token_digest(code.lower())
        if user.recovery_codes and digest in user.recovery_codes:
            user.recovery_codes = [c for c in user.recovery_codes if c != digest]
            self._audit.record(db, f"user:{user.id}", "login.recovery_code", f"user:{user.id}",
                               left=len(user.recovery_codes))
            return True
        return False

    def _totp_path(self, user: User) -> str:
        if user.client_id is not None:
            return client_path(user.client_id, "users", str(user.id), "totp")
        return provider_path("users", str(user.id), "totp")

    def _totp(self, user: User) -> pyotp.TOTP:
        if user.totp_secret_path is None:
            raise Conflict("this account has no TOTP enrolment")
        return pyotp.TOTP(self._secrets.get(user.totp_secret_path)["seed"].reveal())

    def start(self, user: User, fresh: bool = True) -> str:
        """Store a new TOTP seed (not yet active) and return its provisioning URI; with
        ``fresh`` False, the pending one if there is one (a mistyped code keeps the seed)."""
        pending = self._totp_path(user) + "-pending"
        seed = None
        if not fresh:
            try:
                seed = self._secrets.get(pending)["seed"].reveal()
            except SecretNotFound:
                pass
        if seed is None:
            seed = pyotp.random_base32()
            self._secrets.put(pending, {"seed": seed})
        return pyotp.TOTP(seed).provisioning_uri(name=user.username, issuer_name="custody")

    def confirm(self, db: Session, user: User, code: str, password: str) -> list[str]:
        """Activate the pending seed once the user proves their authenticator has it and
        gives their password (a stolen cookie or token alone cannot swap the second
        factor); return new recovery codes (shown once, stored only as hashes)."""
        if user.sso_subject is not None:
            raise Conflict("you sign in through your identity provider: its second factor "
                           "is the one that counts")
        if not self._passwords.verify(user.password_hash, password):
            raise InvalidInput("password: your current password is needed to change the "
                               "second factor", field="password")
        pending = self._totp_path(user) + "-pending"
        try:
            seed = self._secrets.get(pending)["seed"].reveal()
        except SecretNotFound:
            raise InvalidInput("start TOTP enrolment first (POST /api/v1/me/totp)") from None
        if _totp_step(pyotp.TOTP(seed), code, self._clock()) is None:
            raise InvalidInput("the code does not match; check the authenticator's clock",
                               field="code")
        self._secrets.put(self._totp_path(user), {"seed": seed})
        self._secrets.destroy(pending)
        user.totp_secret_path = self._totp_path(user)
        user.totp_last_step = None
        codes = [secrets.token_hex(5) for _ in range(RECOVERY_CODES)]
        user.recovery_codes = [token_digest(c) for c in codes]
        self._audit.record(db, f"user:{user.id}", "user.totp_enable", f"user:{user.id}")
        return codes

    def reset(self, db: Session, who: Principal, user_id: int) -> User:
        """Remove a user's second factor (a lost phone): they enrol again at next login if
        their role requires it."""
        if who.role != "admin":
            raise Forbidden("this needs the admin role")
        user = db.get(User, user_id)
        if user is None:
            raise NotFound(f"user {user_id} does not exist")
        if user.totp_secret_path is not None:
            self.destroy(db, user)
            user.totp_secret_path, user.recovery_codes = None, None
            self._audit.record(db, who.actor, "user.totp_reset", f"user:{user.id}")
        return user

    def destroy(self, db: Session, user: User) -> None:
        """Destroy the seed and any pending one, once the unit commits."""
        paths = [self._totp_path(user), self._totp_path(user) + "-pending"]

        def destroy() -> None:
            for path in paths:
                try:
                    self._secrets.destroy(path)
                except SecretNotFound:
                    pass

        after_commit(db, destroy)


def _totp_step(totp: pyotp.TOTP, code: str, now: datetime) -> int | None:
    """The time step ``code`` belongs to (the current one or a neighbour), or None."""
    step = totp.timecode(now)
    for candidate in (step, step - 1, step + 1):
        if secrets.compare_digest(totp.generate_otp(candidate), code):
            return candidate
    return None
