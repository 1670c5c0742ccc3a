"""API keys: how they look, how they are made and how they are checked (issue 2, "TPP registry").

A key is ``kmn_<lookup prefix>_<secret>``:

- the lookup prefix is 16 hex digits (64 random bits); it is stored in its own unique column and
  finds the key's row, and it may be shown to operators (it proves nothing on its own);
- the secret is 256 random bits from :mod:`secrets` ("≥ 256 random bits"), URL-safe base64;
- only the SHA-256 of the whole key is stored ("stored as a hash"). A slow password hash is not
  needed: with 256 random bits there is nothing to guess, so one SHA-256 is as strong and keeps the
  gateway's hot path fast. Digests are compared with :func:`hmac.compare_digest` (constant time).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

SCHEME = "kmn"
PREFIX_HEX_DIGITS = 16
SECRET_BYTES = 32  # 256 bits
_HEAD = len(SCHEME) + 1  # "kmn_"
_PREFIX_END = _HEAD + PREFIX_HEX_DIGITS
KEY_LENGTH = _PREFIX_END + 1 + 43  # base64url of 32 bytes is 43 characters

# Anything that looks like a Kaimen key, wherever it appears (used to refuse keys in query strings).
LOOKS_LIKE_KEY = re.compile(rf"{SCHEME}_[0-9a-f]{{{PREFIX_HEX_DIGITS}}}_")


@dataclass(frozen=True, slots=True)
class NewKey:
    plaintext: str
    prefix: str
    digest: str


def digest_of(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def generate() -> NewKey:
    prefix = secrets.token_hex(PREFIX_HEX_DIGITS // 2)
    plaintext = f"{SCHEME}_{prefix}_{secrets.token_urlsafe(SECRET_BYTES)}"
    return NewKey(plaintext=plaintext, prefix=prefix, digest=digest_of(plaintext))


def prefix_of(api_key: str) -> str | None:
    """The lookup prefix of a well-formed key, or None: a malformed key never reaches the database."""
    if len(api_key) != KEY_LENGTH or not api_key.startswith(SCHEME + "_") or api_key[_PREFIX_END] != "_":
        return None
    return api_key[_HEAD:_PREFIX_END]


def digest_matches(api_key: str, stored_digest: str) -> bool:
    return hmac.compare_digest(digest_of(api_key), stored_digest)


def new_id(kind: str) -> str:
    """A random, unguessable id such as ``app_3f9c...`` (128 bits)."""
    return f"{kind}_{secrets.token_hex(16)}"
