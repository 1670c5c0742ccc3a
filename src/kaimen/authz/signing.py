"""The server's signing keys: PS256 (RSA-PSS) and ES256 (P-256), created on first start, private parts
sealed at rest (kaimen.authz.sealing).

Rotation (``kaimen keys rotate``): a new key is published in the JWKS at once but only used for
signing from ``activates_at`` (so relying parties that cache the JWKS have fetched it first); the old
key stays published until ``retired_at``, when everything it signed has expired.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidTag
from joserfc import jwt
from joserfc.jwk import ECKey, KeyParameters, KeySet, RSAKey
from sqlalchemy import select, text, update

from kaimen.authz.sealing import Sealer
from kaimen.store.authz_models import SigningKey
from kaimen.store.db import Database
from kaimen.store.types import utcnow
from kaimen.store.watch import Watcher, bump

ALGORITHMS = ("PS256", "ES256")
GENERATION = "signing_keys"


class SealingKeyMismatch(RuntimeError):
    """The stored signing keys cannot be opened with this deployment's secret key."""


def _generate(alg: str, kid: str) -> RSAKey | ECKey:
    parameters: KeyParameters = {"kid": kid, "alg": alg, "use": "sig"}
    if alg == "PS256":
        return RSAKey.generate_key(2048, parameters=parameters, private=True)
    return ECKey.generate_key("P-256", parameters=parameters, private=True)


def _open(sealer: Sealer, row: SigningKey) -> bytes:
    """The private key's PEM; SealingKeyMismatch when ``sealer`` is not the one that sealed it."""
    try:
        return sealer.open(row.private_sealed, f"signing-key:{row.kid}")
    except InvalidTag:
        raise SealingKeyMismatch(
            f"signing key {row.kid} was sealed with another secret key: every worker of one "
            "deployment needs the same KAIMEN_SECRET_KEY"
        ) from None


@dataclass(frozen=True)
class _Loaded:
    kid: str
    alg: str
    key: RSAKey | ECKey
    activates_at: datetime
    retired_at: datetime | None


class SigningKeys:
    def __init__(self, db: Database, sealer: Sealer, watcher: Watcher | None = None) -> None:
        self.db = db
        self.sealer = sealer
        self._keys: list[_Loaded] = []
        self._stale = True
        if watcher is not None:
            watcher.on_change(GENERATION, self._mark_stale)

    def _mark_stale(self) -> None:
        self._stale = True

    async def ensure(self) -> None:
        """Create one key per algorithm when none exists (first start)."""
        async with self.db.write() as session:
            if not self.db.is_sqlite:
                # Workers starting together on a fresh database: the first creates the keys, the others
                # wait here and then see them (SQLite's write transaction takes its lock up front).
                await session.execute(text("LOCK TABLE signing_keys IN SHARE ROW EXCLUSIVE MODE"))
            present = set((await session.execute(select(SigningKey.alg))).scalars())
            missing = [alg for alg in ALGORITHMS if alg not in present]
            for alg in missing:
                self._add(session, alg, activates_at=utcnow())
            if missing:
                await bump(session, GENERATION)
        await self.load()

    def _add(self, session: Any, alg: str, *, activates_at: datetime) -> str:
        kid = secrets.token_urlsafe(12)
        key = _generate(alg, kid)
        private = key.as_bytes(private=True)
        session.add(
            SigningKey(
                kid=kid,
                alg=alg,
                public_jwk=key.as_dict(private=False),
                private_sealed=self.sealer.seal(private, f"signing-key:{kid}"),
                activates_at=activates_at,
            )
        )
        return kid

    async def load(self) -> None:
        async with self.db.read() as session:
            rows = (await session.execute(select(SigningKey).order_by(SigningKey.created_at))).scalars().all()
        loaded = []
        for row in rows:
            pem = _open(self.sealer, row)
            parameters: KeyParameters = {"kid": row.kid, "alg": row.alg, "use": "sig"}
            key = (
                RSAKey.import_key(pem, parameters)
                if row.alg == "PS256"
                else ECKey.import_key(pem, parameters)
            )
            loaded.append(_Loaded(row.kid, row.alg, key, row.activates_at, row.retired_at))
        self._keys = loaded
        self._stale = False

    async def refresh(self) -> None:
        if self._stale:
            await self.load()

    def jwks(self) -> dict[str, Any]:
        """Every published key: active, announced, or retired but not yet past ``retired_at``."""
        now = utcnow()
        keys = [
            k.key.as_dict(private=False) for k in self._keys if k.retired_at is None or k.retired_at > now
        ]
        return {"keys": keys}

    def current(self, alg: str) -> RSAKey | ECKey:
        """The newest key of ``alg`` that is already active."""
        now = utcnow()
        active = [
            k
            for k in self._keys
            if k.alg == alg and k.activates_at <= now and (k.retired_at is None or k.retired_at > now)
        ]
        if not active:
            raise LookupError(f"no active {alg} signing key")
        return max(active, key=lambda k: k.activates_at).key

    def sign(self, claims: dict[str, Any], alg: str, *, typ: str | None = None) -> str:
        key = self.current(alg)
        header: dict[str, Any] = {"alg": alg, "kid": key.kid}
        if typ:
            header["typ"] = typ
        return jwt.encode(header, claims, key, algorithms=[alg])

    def key_set(self) -> KeySet:
        return KeySet([k.key for k in self._keys])


async def rotate(
    db: Database, sealer: Sealer, *, publish_for: timedelta, keep_old_for: timedelta
) -> list[str]:
    """New PS256 and ES256 keys, used from ``now + publish_for``; the keys they replace stay published
    until ``keep_old_for`` after that (the longest lifetime of anything they signed)."""
    keys = SigningKeys(db, sealer)
    now = utcnow()
    activates_at = now + publish_for
    new: list[str] = []
    async with db.write() as session:
        # Every worker opens every stored key (SigningKeys.load): keys sealed under another secret
        # would make each of them fail on its next reload, and every restart after. Refuse before
        # anything is written, with the message a worker would give.
        for row in (await session.execute(select(SigningKey))).scalars():
            _open(sealer, row)
        await session.execute(
            update(SigningKey)
            .where(SigningKey.retired_at.is_(None))
            .values(retired_at=activates_at + keep_old_for)
        )
        for alg in ALGORITHMS:
            new.append(keys._add(session, alg, activates_at=activates_at))
        await bump(session, GENERATION)
    return new
