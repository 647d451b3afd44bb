"""Users from creation to deletion, and logins with backoff (the second factor is
custody.accounts.second_factor's)."""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from math import ceil
from typing import TYPE_CHECKING, Any, Protocol

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from custody.accounts.backoff import AddressBackoff
from custody.accounts.models import ApiToken, User, WebSession
from custody.accounts.passwords import Passwords, generate_password
from custody.accounts.roles import ROLES, STAFF, is_staff
from custody.audit.service import AuditLog
from custody.clients.models import Client
from custody.clock import Clock, iso
from custody.config import SecuritySettings, SsoSettings
from custody.db import before_io, lock_rows, rows_changed, write_kept
from custody.errors import (
    Conflict,
    CustodyError,
    Forbidden,
    InvalidInput,
    NotFound,
    TooManyAttempts,
    Unauthorized,
)
from custody.mail import Mailer, Message
from custody.secrets import SecretStore

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{1,149}$")
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
LOGIN_FAILED = "invalid username, password or code"
log = logging.getLogger("custody.accounts")

if TYPE_CHECKING:  # it imports this module (Principal)
    from custody.accounts.second_factor import SecondFactor


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


class UserActivity(Protocol):
    """A domain's part in offboarding: what a disabled user leaves running there."""

    def end_user_activity(self, db: Session, user_id: int, reason: str) -> dict[str, int]:
        """Close the user's live work and cancel what waits on them; say how much."""
        ...


class AccountService:
    """Users from creation to deletion; logins with backoff, TOTP and recovery codes."""

    def __init__(self, secrets_store: SecretStore, audit: AuditLog, clock: Clock,
                 settings: SecuritySettings, mailer: Mailer, second_factor: SecondFactor,
                 passwords: Passwords | None = None,
                 activity: Sequence[UserActivity] = (),
                 sso: SsoSettings | None = None,
                 signing_key: bytes = b"", public_url: str = "",
                 pause: Callable[[float], None] = time.sleep) -> None:
        self._secrets = secrets_store
        self._passwords = passwords or Passwords()
        self._audit = audit
        self._clock = clock
        self._settings = settings
        self._mailer = mailer
        self._activity = tuple(activity)
        self._sso = sso
        self._email_signer = URLSafeTimedSerializer(signing_key or secrets.token_bytes(32),
                                                    salt="staff-email-verify")
        self._public_url = public_url.rstrip("/")
        self.pause = pause  # public: tests watch it
        self._window = timedelta(minutes=settings.lockout_minutes)
        self.backoff = AddressBackoff(settings.lockout_threshold, self._window)
        self.second_factor = second_factor

    # -- the client's data (custody.tenancy.ClientData)
    def export_client(self, db: Session, client_id: int) -> dict[str, Any]:
        users = db.scalars(select(User).where(User.client_id == client_id).order_by(User.id)).all()
        return {"users": [{"id": u.id, "username": u.username, "created_at": iso(u.created_at),
                           "totp_enabled": u.totp_secret_path is not None} for u in users]}

    def forget_client(self, db: Session, client_id: int) -> dict[str, int]:
        return {"users": rows_changed(db, delete(User).where(User.client_id == client_id))}

    def list_users(self, db: Session, who: Principal) -> Sequence[User]:
        _require_admin(who)
        return db.scalars(select(User).order_by(User.role, User.username)).all()

    def get_user(self, db: Session, who: Principal, user_id: int) -> User:
        _require_admin(who)
        user = db.get(User, user_id)
        if user is None:
            raise NotFound(f"user {user_id} does not exist")
        return user

    def find_user(self, db: Session, who: Principal, username: str) -> User:
        """A user by name (the CLI names people, the API numbers them)."""
        _require_admin(who)
        user = db.scalar(select(User).where(User.username == username.strip().lower()))
        if user is None:
            raise NotFound(f"no user named {username!r}")
        return user

    def me(self, db: Session, who: Principal) -> User:
        """The caller's own account."""
        user = db.get(User, who.user_id)
        if user is None:
            raise NotFound("your account no longer exists")
        return user

    def active_user(self, db: Session, user_id: int) -> User | None:
        """The user behind a web session, if still enabled."""
        user = db.get(User, user_id)
        return user if user is not None and user.disabled_at is None else None

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

    # -- offboarding
    def disable_user(self, db: Session, who: Principal, user_id: int) -> dict[str, int]:
        """Lock a person out now: tokens revoked, web sessions ended, live device sessions
        closed and pending requests cancelled. Return what was ended."""
        user = self.get_user(db, who, user_id)
        if user.id == who.user_id:
            raise Conflict("you cannot disable your own account; ask another admin")
        self._keep_an_admin(db, user)
        ended = self._lock_out(db, user, f"user disabled by {who.username}")
        if user.disabled_at is None:
            user.disabled_at = self._clock()
        self._audit.record(db, who.actor, "user.disable", f"user:{user.id}", **ended)
        return ended

    def enable_user(self, db: Session, who: Principal, user_id: int) -> User:
        """Let a disabled user sign in again (their old tokens stay revoked)."""
        user = self.get_user(db, who, user_id)
        if user.deleted_at is not None:
            raise Conflict(f"user {user_id} was deleted; create a new account instead")
        if user.disabled_at is not None:
            user.disabled_at = None
            user.failed_logins, user.last_failed_at = 0, None
            self._audit.record(db, who.actor, "user.enable", f"user:{user.id}")
        return user

    def delete_user(self, db: Session, who: Principal, user_id: int) -> dict[str, int]:
        """Disable, then remove the person's data; the row stays as the audit log's actor id."""
        user = self.get_user(db, who, user_id)
        if user.id == who.user_id:
            raise Conflict("you cannot delete your own account; ask another admin")
        self._keep_an_admin(db, user)
        ended = self._lock_out(db, user, f"user deleted by {who.username}")
        self.second_factor.destroy(db, user)
        now = self._clock()
        user.username = f"deleted#{user.id}"  # '#' is in no name anyone can choose
        user.password_hash = "!"  # no password verifies against this
        user.totp_secret_path = user.email = user.email_verified_at = None
        user.recovery_codes = None
        # The provider's subject is kept only as a hash: the person signing in there again
        # must not come back as a new user.
        user.sso_subject = deleted_subject(user.sso_subject) if user.sso_subject else None
        user.can_read_transcripts = False
        user.disabled_at = user.disabled_at or now
        user.deleted_at = now
        ended["tokens_deleted"] = rows_changed(db, delete(ApiToken).where(
            ApiToken.user_id == user.id))
        self._audit.record(db, who.actor, "user.delete", f"user:{user.id}", **ended)
        return ended

    def _lock_out(self, db: Session, user: User, reason: str) -> dict[str, int]:
        ended = {
            "tokens_revoked": self._revoke_tokens(db, user.id),
            "web_sessions_ended": self._end_web_sessions(db, user.id),
        }
        for domain in self._activity:
            ended.update(domain.end_user_activity(db, user.id, reason))
        return ended

    def _revoke_tokens(self, db: Session, user_id: int) -> int:
        return rows_changed(db, update(ApiToken).where(
            ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
            .values(revoked_at=self._clock()))

    def _keep_an_admin(self, db: Session, user: User) -> None:
        if user.role != "admin" or user.disabled_at is not None:
            return
        # Two admins removing each other at once: the second waits, then counts again.
        lock_rows(db, User, User.role == "admin", User.disabled_at.is_(None))
        others = db.scalar(select(func.count(User.id)).where(
            User.role == "admin", User.disabled_at.is_(None), User.id != user.id))
        if not others:
            raise Conflict("this is the last enabled admin; make another admin first")

    def set_role(self, db: Session, who: Principal, user_id: int, role: str) -> User:
        """Move a staff user between admin and technician (takes effect on their next request)."""
        user = self.get_user(db, who, user_id)
        if role not in STAFF or not user.is_staff:
            raise InvalidInput("role: staff users are admin or technician; a client's users "
                               "stay client users", field="role")
        if user.role != role:
            if role != "admin":
                self._keep_an_admin(db, user)
            self._audit.record(db, who.actor, "user.role", f"user:{user.id}",
                               before=user.role, after=role)
            user.role = role
        return user

    def set_transcript_permission(self, db: Session, who: Principal, user_id: int,
                                  allowed: bool) -> User:
        """Grant or withdraw a technician's permission to read transcripts."""
        user = self.get_user(db, who, user_id)
        if user.role != "technician" and allowed:
            raise InvalidInput("only technicians hold this permission (admins always may read "
                               "transcripts, client users never)", field="can_read_transcripts")
        if user.can_read_transcripts != allowed:
            user.can_read_transcripts = allowed
            self._audit.record(db, who.actor, "user.transcripts_permission", f"user:{user.id}",
                               allowed=allowed)
        return user

    # -- web sessions
    def _end_web_sessions(self, db: Session, user_id: int, keep: str | None = None) -> int:
        stmt = delete(WebSession).where(WebSession.user_id == user_id)
        if keep is not None:
            stmt = stmt.where(WebSession.id_hash != keep)
        return rows_changed(db, stmt)

    def log_out_everywhere(self, db: Session, who: Principal, keep: str | None = None) -> int:
        """End every web session of the caller (but ``keep``, the one asking)."""
        ended = self._end_web_sessions(db, who.user_id, keep)
        self._audit.record(db, who.actor, "user.logout_everywhere", f"user:{who.user_id}",
                           web_sessions_ended=ended)
        return ended

    def sweep_web_sessions(self, db: Session) -> int:
        """Delete expired web session rows (a scheduled job)."""
        return rows_changed(db, delete(WebSession).where(WebSession.expires_at <= self._clock()))

    # -- logging in
    def authenticate(self, db: Session, username: str, password: str,
                     totp_code: str | None = None, address: str | None = None) -> User:
        """Check a password (and second factor when enrolled).

        Failures slow the failing address down for this username (in memory), and count
        against the account; an account under attack makes every login wait a moment and
        warns the admins, but its owner's right password and code still let them in.
        Known, unknown and disabled users get the same answer."""
        now = self._clock()
        name = username.strip().lower()[:150]
        if address is not None:
            wait = self.backoff.wait(address, name, now)
            if wait > timedelta(0):
                raise TooManyAttempts(f"too many failed attempts from your address; try "
                                      f"again in {ceil(wait.total_seconds())} s")
        user = db.scalar(select(User).where(User.username == name)) \
            if USERNAME.match(name) else None
        if self._under_attack(user, name, now):
            self.pause(self._settings.attack_delay_seconds)
        ok = self._passwords.verify(user.password_hash if user else None, password)
        if user is None or user.disabled_at is not None:
            ok = False
        elif ok and user.totp_secret_path is not None:
            ok = totp_code is not None and self.second_factor.verify(db, user, totp_code)
        if not ok or user is None:
            if address is not None:
                self.backoff.failed(address, name, now)
            if user is not None:
                notice = write_kept(db, partial(self._count_failure, user_id=user.id, now=now))
                if notice:
                    self._warn_admins(db, name)
            raise Unauthorized(LOGIN_FAILED)
        if address is not None:
            self.backoff.succeeded(address, name)
        self._check_local_password_allowed(db, user)
        user.failed_logins, user.last_failed_at = 0, None
        if self._passwords.needs_rehash(user.password_hash):
            user.password_hash = self._passwords.hash(password)
        self._audit.record(db, f"user:{user.id}", "login", f"user:{user.id}")
        return user

    def _check_local_password_allowed(self, db: Session, user: User) -> None:
        """With single sign-on, staff passwords may be switched off; the break-glass admins
        keep theirs, and each use of one is audited and announced."""
        if self._sso is None or not self._sso.enabled or not user.is_staff:
            return
        if user.username in self._sso.break_glass:
            self._audit.record(db, f"user:{user.id}", "login.break_glass", f"user:{user.id}")
            self._announce(db, f"custody: break-glass login by {user.username}",
                           f"{user.username} signed in with a local password instead of single "
                           "sign-on (the break-glass account). If this was not planned, "
                           "disable the account and change its password.\n")
        elif not self._sso.local_passwords:
            raise Unauthorized(f"staff sign in with {self._sso.label} here (single sign-on)")

    def _under_attack(self, user: User | None, name: str, now: datetime) -> bool:
        """An account failing from many addresses (counted in the database, for every
        node); any name failing here (counted in memory, so unknown names pause alike)."""
        if self.backoff.name_failures(name, now) >= self._settings.lockout_threshold:
            return True
        return (user is not None and user.failed_logins >= self._settings.lockout_threshold
                and user.last_failed_at is not None and now - user.last_failed_at < self._window)

    def _count_failure(self, db: Session, user_id: int, now: datetime) -> bool:
        """One more failed login; return whether the admins should now be warned."""
        user = db.get(User, user_id)
        if user is None:
            return False
        if user.last_failed_at is None or now - user.last_failed_at >= self._window:
            user.failed_logins = 0  # an old run of failures is forgiven
        user.failed_logins += 1
        user.last_failed_at = now
        self._audit.record(db, f"user:{user.id}", "login.failed", f"user:{user.id}",
                           failures=user.failed_logins)
        if user.failed_logins < self._settings.lockout_threshold or (
                user.attack_noticed_at is not None
                and now - user.attack_noticed_at < self._window):
            return False
        user.attack_noticed_at = now
        self._audit.record(db, f"user:{user.id}", "login.under_attack", f"user:{user.id}",
                           failures=user.failed_logins)
        return True

    def _warn_admins(self, db: Session, username: str) -> None:
        self._announce(
            db, f"custody: repeated failed logins for {username}",
            f"The account {username} has had {self._settings.lockout_threshold} or more failed "
            f"logins within {self._settings.lockout_minutes} minutes. The addresses they came "
            "from now wait longer between tries; the account itself stays usable.\n\nIf this "
            "was not its owner, check the audit log (login.failed) and consider disabling the "
            "account or changing its password.\n")

    def _announce(self, db: Session, subject: str, text: str) -> None:
        """Mail a security notice; outside the transaction, and never failing the login."""
        recipients = self.security_recipients(db)
        before_io(db)
        for to in recipients:
            try:
                self._mailer.send(Message(to=to, subject=subject, text=text))
            except CustodyError as exc:
                log.error("a security notice could not be sent: %s", exc)

    def security_recipients(self, db: Session) -> list[str]:
        """Where security notices go: ``security.notify_email``, else admins' verified e-mail."""
        if self._settings.notify_email:
            return [self._settings.notify_email]
        return list(db.scalars(select(User.email).where(
            User.role == "admin", User.disabled_at.is_(None), User.email.is_not(None),
            User.email_verified_at.is_not(None))))

    # -- passwords
    def change_password(self, db: Session, user: User, current: str, new: str,
                        keep_session: str | None = None) -> int:
        """Change one's own password; every other web session of the user ends."""
        if not self._passwords.verify(user.password_hash, current):
            raise InvalidInput("the current password is wrong", field="current")
        if current == new:
            raise InvalidInput("the new password must differ from the current one", field="new")
        user.password_hash = self._passwords.hash(new)
        user.must_change_password = False
        ended = self._end_web_sessions(db, user.id, keep_session)
        self._audit.record(db, f"user:{user.id}", "user.password_change", f"user:{user.id}",
                           web_sessions_ended=ended)
        return ended

    def reset_password(self, db: Session, who: Principal, user_id: int) -> str:
        """Give a user a new one-time password (shown once); all their web sessions end."""
        user = self.get_user(db, who, user_id)
        if user.deleted_at is not None:
            raise Conflict(f"user {user_id} was deleted")
        generated = generate_password()
        user.password_hash = self._passwords.hash(generated)
        user.must_change_password = True
        ended = self._end_web_sessions(db, user.id)
        # A reset answers a suspected compromise: the tokens go too.
        revoked = self._revoke_tokens(db, user.id)
        self._audit.record(db, who.actor, "user.password_reset", f"user:{user.id}",
                           web_sessions_ended=ended, tokens_revoked=revoked)
        return generated

    # -- e-mail (security notices, approval requests)
    def set_email(self, db: Session, who: Principal, email: str | None) -> bool:
        """Set (or clear) the caller's e-mail address; it is used once confirmed through
        the link mailed to it (the same double opt-in as contacts). Return whether the
        link went out."""
        user = self.me(db, who)
        if not user.is_staff:
            raise Forbidden("client users are reached through their client's contacts")
        address = (email or "").strip().lower() or None
        if address is not None and not EMAIL.match(address):
            raise InvalidInput("email: an address like name@example.net", field="email")
        user.email, user.email_verified_at = address, None
        self._audit.record(db, who.actor, "user.email", f"user:{user.id}", set=bool(address))
        if address is None:
            return False
        token = self._email_signer.dumps([user.id, token_digest(address)])
        link = f"{self._public_url}/account/email/verify/{token}"
        before_io(db)
        try:
            self._mailer.send(Message(
                to=address, subject="custody: confirm your e-mail address",
                text=(f"{user.username} asked custody to send security notices and approval "
                      f"requests to this address. Confirm it here:\n\n{link}\n\nIf that "
                      "was not you, ignore this message: nothing is sent here until it is "
                      "confirmed.\n")))
        except CustodyError as exc:
            log.warning("the e-mail confirmation for user %s was not sent: %s", user.id, exc)
            return False
        return True

    def verify_email(self, db: Session, token: str) -> User:
        """Confirm a staff user's address from the mailed link."""
        hours = self._settings.verification_link_hours
        try:
            user_id, digest = self._email_signer.loads(token, max_age=hours * 3600)
        except SignatureExpired:
            raise InvalidInput("this confirmation link has expired; set the address again "
                               "on your account page") from None
        except (BadSignature, ValueError, TypeError):
            raise InvalidInput("this confirmation link is not valid") from None
        user = db.get(User, user_id)
        if user is None or user.email is None or token_digest(user.email) != digest:
            raise InvalidInput("this confirmation link is not valid (the address changed?)")
        if user.email_verified_at is None:
            user.email_verified_at = self._clock()
            self._audit.record(db, f"user:{user.id}", "user.email_verify", f"user:{user.id}")
        return user


def deleted_subject(subject: str) -> str:
    """What a deleted single sign-on user keeps of their provider subject: its hash."""
    return "deleted:" + hashlib.sha256(subject.encode()).hexdigest()


def _require_admin(who: Principal) -> None:
    if who.role != "admin":  # (custody.tenancy imports this module: no require_role here)
        raise Forbidden("this needs the admin role")
