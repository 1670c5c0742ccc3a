"""Password hashes: Argon2id (RFC 9106) through argon2-cffi, whose verification runs in time that does
not depend on where a guess first differs.

An unknown username must cost what a known one costs, or the answer time tells an attacker which
usernames exist: ``verify_dummy`` checks the guess against a hash of a random secret nobody knows.
"""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError


class Passwords:
    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        # argon2-cffi's defaults are RFC 9106's second recommended option (Argon2id, t=3, 64 MiB).
        self.hasher = hasher or PasswordHasher()
        self._dummy: str | None = None

    def hash(self, password: str) -> str:
        return self.hasher.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        try:
            return self.hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def verify_dummy(self, password: str) -> None:
        """Spend the time a real verification costs, for a username that does not exist."""
        if self._dummy is None:
            self._dummy = self.hasher.hash(secrets.token_urlsafe(32))
        self.verify(self._dummy, password)

    def needs_rehash(self, password_hash: str) -> bool:
        return self.hasher.check_needs_rehash(password_hash)
