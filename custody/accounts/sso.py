"""Staff single sign-on: what custody does with an identity provider's verified answer.

The protocol (OpenID Connect, authorization code flow with PKCE; the ID token's
signature, issuer, audience, nonce and expiry) is checked by the web adapter through
Authlib. What reaches this module is the verified ID token's claims; here they become
a custody user: matched by issuer and subject, given the role their groups map to,
created on first sign-in if allowed, and refused when custody says no (a disabled user,
no mapped group, an admin without a second factor at the provider).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import partial
from typing import Any, NoReturn

from sqlalchemy import select
from sqlalchemy.orm import Session

from custody.accounts.models import User
from custody.accounts.roles import Role
from custody.accounts.service import deleted_subject
from custody.audit.service import AuditLog
from custody.clock import Clock
from custody.config import SsoSettings
from custody.db import write_kept
from custody.errors import Unauthorized

UNUSABLE_PASSWORD = "!"  # no argon2 hash: no password verifies against it
RANK = {Role.ADMIN: 2, Role.TECHNICIAN: 1}


class SingleSignOn:
    """Turn verified ID-token claims into a signed-in staff user, or refuse naming why."""

    def __init__(self, settings: SsoSettings, audit: AuditLog, clock: Clock) -> None:
        self._settings = settings
        self._audit = audit
        self._clock = clock

    @property
    def enabled(self) -> bool:
        return self._settings.enabled

    @property
    def label(self) -> str:
        return self._settings.label

    def sign_in(self, db: Session, claims: Mapping[str, Any]) -> User:
        """The user these claims identify; refusals are audited (and kept on rollback)."""
        subject = f"{claims['iss']}|{claims['sub']}"
        role = self.role_for(claims)
        if role is None:
            self._refuse(db, subject, "no_role", "your account at the identity provider is in no "
                         "group that custody maps to a role; ask an admin to map one "
                         "(sso.roles)")
        if role == Role.ADMIN and not self._strong(claims):
            self._refuse(db, subject, "no_second_factor", "admins must sign in with a second "
                         "factor at the identity provider (it reported "
                         f"amr={list(claims.get('amr') or [])})")
        user = db.scalar(select(User).where(User.sso_subject == subject))
        if user is None and db.scalar(select(User.id).where(
                User.sso_subject == deleted_subject(subject))) is not None:
            self._refuse(db, subject, "deleted", "your custody account was deleted; ask an "
                         "admin if you need access again")
        if user is None:
            if not self._settings.create_users:
                self._refuse(db, subject, "no_account", "no custody account is linked to your "
                             "identity provider account; ask an admin")
            user = self._create(db, subject, role, claims)
        if user.disabled_at is not None:
            self._refuse(db, subject, "disabled", "your custody account is disabled")
        if user.role != role:
            self._audit.record(db, "sso", "user.role", f"user:{user.id}", before=user.role,
                               after=role, source="identity provider groups")
            user.role = role
        user.failed_logins, user.last_failed_at = 0, None
        self._audit.record(db, f"user:{user.id}", "login", f"user:{user.id}", method="sso",
                           amr=list(claims.get("amr") or []))
        return user

    def role_for(self, claims: Mapping[str, Any]) -> Role | None:
        """The highest role any of the person's groups maps to."""
        groups = claims.get(self._settings.groups_claim) or []
        if isinstance(groups, str):
            groups = [groups]
        roles = [Role(self._settings.roles[g]) for g in groups
                 if isinstance(g, str) and g in self._settings.roles]
        return max(roles, key=RANK.__getitem__) if roles else None

    def _strong(self, claims: Mapping[str, Any]) -> bool:
        wanted_amr, wanted_acr = set(self._settings.admin_amr), set(self._settings.admin_acr)
        if not wanted_amr and not wanted_acr:
            return True
        amr = claims.get("amr") or []
        return bool(wanted_amr & set(amr if isinstance(amr, list) else [])) or \
            claims.get("acr") in wanted_acr

    def _create(self, db: Session, subject: str, role: Role, claims: Mapping[str, Any]) -> User:
        base = _username(claims)
        name, n = base, 1
        while db.scalar(select(User.id).where(User.username == name)) is not None:
            n += 1
            name = f"{base}-{n}"
        email = claims.get("email") if claims.get("email_verified") is True else None
        user = User(username=name, password_hash=UNUSABLE_PASSWORD, role=role, client_id=None,
                    must_change_password=False, created_at=self._clock(), sso_subject=subject,
                    email=email if isinstance(email, str) and len(email) <= 254 else None,
                    email_verified_at=self._clock() if email else None)
        db.add(user)
        db.flush()
        self._audit.record(db, "sso", "user.create", f"user:{user.id}", role=role,
                           source="identity provider")
        return user

    def _refuse(self, db: Session, subject: str, why: str, message: str) -> NoReturn:
        write_kept(db, partial(_audit_refusal, self._audit, subject=subject, why=why))
        raise Unauthorized(message)


def _audit_refusal(audit: AuditLog, db: Session, subject: str, why: str) -> None:
    audit.record(db, "sso", "login.sso_refused", subject[:200], why=why)


def _username(claims: Mapping[str, Any]) -> str:
    """A custody user name from the provider's preferred name or e-mail."""
    raw = claims.get("preferred_username") or claims.get("email") or claims["sub"]
    name = re.sub(r"[^a-z0-9._@-]+", "-", str(raw).strip().lower()).strip("-._@")[:140]
    return name if len(name) >= 2 else f"sso-{name or 'user'}"
