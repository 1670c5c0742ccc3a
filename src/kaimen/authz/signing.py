"""The server's signing keys: PS256 (RSA-PSS) and ES256 (P-256), created on first start, private parts
sealed at rest (kaimen.authz.sealing).

Rotation (``kaimen keys rotate``): a new key is published in the JWKS at once but only used for
signing from ``activates_at`` (so relying parties that cache the JWKS have fetched it first); the old
key stays published until ``retired_at``, when everything it signed has expired. Every worker sees a
rotation on its next JWKS read or signature (:meth:`SigningKeys.refresh`).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidTag
from joserfc import jwt
from joserfc.jwk import ECKey, KeyParameters, KeySet, RSAKey
from sqlalchemy import select, text, update

from kaimen.authz.sealing import Sealer, SealingKeyMismatch
from kaimen.store.authz_models import SigningKey
from kaimen.store.db import Database
from kaimen.store.models import Generation
from kaimen.store.types import utcnow
from kaimen.store.watch import Watcher, bump

ALGORITHMS = ("PS256", "ES256")
GENERATION = "signing_keys"
# /oauth2/jwks's Cache-Control max-age: how long a relying party may go on using a JWKS it fetched, so
# the least time a new key must be published before it signs (kaimen keys rotate --publish-for).
JWKS_MAX_AGE_SECONDS = 300


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


def _is_active(activates_at: datetime, retired_at: datetime | None, now: datetime) -> bool:
    return activates_at <= now and (retired_at is None or retired_at > now)


async def _lock_keys(session: Any, db: Database) -> None:
    """Serialise key creation: workers starting together on a fresh database, or a rotation racing
    them, each decide what to create from what they see (SQLite's write transaction takes its lock up
    front; PostgreSQL needs the table lock)."""
    if not db.is_sqlite:
        await session.execute(text("LOCK TABLE signing_keys IN SHARE ROW EXCLUSIVE MODE"))


async def _algorithms_in_use(session: Any, now: datetime) -> set[str]:
    """The algorithms with a key that signs now (SigningKeys.current would find it)."""
    rows = await session.execute(select(SigningKey.alg, SigningKey.activates_at, SigningKey.retired_at))
    return _active_algorithms(rows, now)


def _active_algorithms(keys: Iterable[Any], now: datetime) -> set[str]:
    """Of ``keys`` (rows with ``alg``, ``activates_at`` and ``retired_at``), the algorithms with one
    that signs now."""
    return {key.alg for key in keys if _is_active(key.activates_at, key.retired_at, now)}


async def _read_generation(session: Any) -> int | None:
    value: int | None = (
        await session.execute(select(Generation.value).where(Generation.name == GENERATION))
    ).scalar_one_or_none()
    return value


@dataclass(frozen=True)
class NewKey:
    kid: str
    alg: str
    activates_at: datetime
    replaces: tuple[str, ...]  # the kids it retires (published until activates_at + keep_old_for)


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
        self.watcher = watcher
        self._keys: list[_Loaded] = []
        self._stale = True
        self._generation: int | None = None  # the counter as the last load read it
        if watcher is not None:
            watcher.on_change(GENERATION, self._mark_stale)

    def _mark_stale(self) -> None:
        self._stale = True

    async def ensure(self) -> None:
        """Create a key, active at once, for each algorithm that has none active (first start; or a
        database whose only keys are announced but not yet active, or all retired): the server never
        starts unable to sign."""
        async with self.db.write() as session:
            await _lock_keys(session, self.db)
            now = utcnow()
            in_use = await _algorithms_in_use(session, now)
            missing = [alg for alg in ALGORITHMS if alg not in in_use]
            for alg in missing:
                self._add(session, alg, activates_at=now)
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
        # Fresh from here on: a change notified while this reads marks the keys stale again, so the
        # next refresh reloads rather than keep a read that may have missed it.
        self._stale = False
        try:
            self._keys, self._generation = await self._read()
        except BaseException:
            self._stale = True
            raise

    async def _read(self) -> tuple[list[_Loaded], int | None]:
        async with self.db.read() as session:
            generation = await _read_generation(session)  # before the rows: never newer than them
            query = select(SigningKey).order_by(SigningKey.created_at)
            rows = (await session.execute(query)).scalars().all()
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
        return loaded, generation

    async def refresh(self) -> None:
        """Reload when the keys changed since the last load, so the JWKS and every signature see a
        rotation (``kaimen keys rotate``, another worker) on their next call, as other cached data does
        (kaimen.store.watch): poll the watcher first (SQLite: another process's commit is seen only
        when someone looks; PostgreSQL's NOTIFY needs no poll), and while it cannot vouch for memory
        (PostgreSQL listener down) compare the counter in the database, one small read."""
        watcher = self.watcher
        if watcher is not None:
            watcher.poll()
            if not watcher.healthy and not self._stale:
                async with self.db.read() as session:
                    if await _read_generation(session) != self._generation:
                        self._stale = True
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
        active = [k for k in self._keys if k.alg == alg and _is_active(k.activates_at, k.retired_at, now)]
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
) -> list[NewKey]:
    """New PS256 and ES256 keys, used from ``now + publish_for``; the keys they replace stay published
    until ``keep_old_for`` after that (the longest lifetime of anything they signed).

    An algorithm with no key active now (a rotation before the first start, or after a rotation whose
    keys are not active yet on a fresh database) gets its new key active at once: nothing signs with
    it yet, so there is no cached JWKS to wait for, and waiting would leave the server unable to sign.
    The callers' minimums (kaimen.cli.keys) keep ``publish_for`` and ``keep_old_for`` meaningful."""
    if publish_for < timedelta(0) or keep_old_for < timedelta(0):
        raise ValueError("publish_for and keep_old_for cannot be negative")
    keys = SigningKeys(db, sealer)
    now = utcnow()
    new: list[NewKey] = []
    async with db.write() as session:
        await _lock_keys(session, db)
        # Every worker opens every stored key (SigningKeys.load): keys sealed under another secret
        # would make each of them fail on its next reload, and every restart after. Refuse before
        # anything is written, with the message a worker would give.
        stored = list((await session.execute(select(SigningKey))).scalars())
        for row in stored:
            _open(sealer, row)
        in_use = _active_algorithms(stored, now)
        for alg in ALGORITHMS:
            activates_at = now + publish_for if alg in in_use else now
            # The old keys sign until the new one activates; what they signed last expires after that.
            retired = await session.execute(
                update(SigningKey)
                .where(SigningKey.alg == alg, SigningKey.retired_at.is_(None))
                .values(retired_at=activates_at + keep_old_for)
                .returning(SigningKey.kid)
            )
            replaces = tuple(retired.scalars())
            kid = keys._add(session, alg, activates_at=activates_at)
            new.append(NewKey(kid, alg, activates_at, replaces))
        await bump(session, GENERATION)
    return new
