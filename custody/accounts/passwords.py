"""Password hashing (argon2id) and generation."""

from __future__ import annotations

import secrets
from functools import cached_property

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from custody.errors import InvalidInput

MIN_LENGTH = 12


class Passwords:
    """Hash and check passwords with argon2id.

    The default uses the library's current recommended parameters. Tests that do not test
    hashing inject ``Passwords.cheap()``: the same algorithm, a thousandth of the work.
    """

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher()

    @classmethod
    def cheap(cls) -> Passwords:
        return cls(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))

    @cached_property
    def _dummy_hash(self) -> str:
        """Verified against when the username is unknown, so both paths take the same time
        (made on first use: importing this module hashes nothing)."""
        return self._hasher.hash("not-a-real-password-" + secrets.token_hex(8))

    def hash(self, password: str) -> str:
        check_strength(password)
        return self._hasher.hash(password)

    def verify(self, stored_hash: str | None, password: str) -> bool:
        """Return True if ``password`` matches. No hash, or one that is not a hash (a
        deleted or single sign-on user's), still costs one full verification."""
        try:
            return (self._hasher.verify(stored_hash or self._dummy_hash, password)
                    and stored_hash is not None)
        except InvalidHashError:
            self.verify(None, password)
            return False
        except VerificationError:
            return False

    def needs_rehash(self, stored_hash: str) -> bool:
        return self._hasher.check_needs_rehash(stored_hash)


def generate_password() -> str:
    return secrets.token_urlsafe(15)


def check_strength(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise InvalidInput(f"password must be at least {MIN_LENGTH} characters long", field="password")
    if len(password) > 1024:
        raise InvalidInput("password must be at most 1024 characters long", field="password")
