"""Encryption at rest for private keys and TOTP seeds (DESIGN.md: "encrypted at rest with a key from
settings"): AES-256-GCM from ``cryptography`` with a random 96-bit nonce per value, and the record's
identity as associated data so a sealed value cannot be moved to another record."""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from kaimen.settings import Mode, Settings
from kaimen.store.files import create_once

_VERSION = b"\x01"


class SealingKeyMismatch(RuntimeError):
    """Values sealed at rest (signing keys, the sandbox directory key) cannot be opened with this
    deployment's secret key: KAIMEN_SECRET_KEY changed, or differs between workers."""


class Sealer:
    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("the sealing key must be 32 bytes")
        self._aead = AESGCM(key)
        self._key = key

    def derive_key(self, purpose: str) -> bytes:
        """A 32-byte key for ``purpose`` (HKDF-SHA256, RFC 5869), the same in every worker that shares
        the sealing key, and independent of it and of every other purpose's key."""
        return HKDF(algorithm=SHA256(), length=32, salt=None, info=purpose.encode()).derive(self._key)

    def seal(self, plaintext: bytes, context: str) -> bytes:
        nonce = os.urandom(12)
        return _VERSION + nonce + self._aead.encrypt(nonce, plaintext, context.encode())

    def open(self, sealed: bytes, context: str) -> bytes:
        if sealed[:1] != _VERSION:
            raise ValueError("unknown sealed format")
        return self._aead.decrypt(sealed[1:13], sealed[13:], context.encode())


def _decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sealer_for(settings: Settings) -> Sealer:
    """The sealer of this deployment: KAIMEN_SECRET_KEY, or (embedded mode only) a key kept in the
    data dir, created with mode 0600 on first use."""
    if settings.secret_key is not None:
        return Sealer(_decode(settings.secret_key.get_secret_value()))
    if settings.mode is Mode.PRODUCTION:
        raise ValueError("KAIMEN_SECRET_KEY is required in production mode")
    path = Path(settings.data_dir) / "secret.key"
    if not path.exists():
        create_once(path, base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"="))
    return Sealer(_decode(path.read_text().strip()))
