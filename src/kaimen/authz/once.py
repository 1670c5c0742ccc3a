"""One-time values across every worker: client-assertion and DPoP ``jti`` (RFC 7523 §3 item 7,
RFC 9449 §11.1), registration nonces.

``use(namespace, value, ttl)`` answers True exactly once per (namespace, value) within ``ttl`` seconds,
atomically in the shared store: Redis ``SET key 1 NX EX ttl`` in production (DESIGN.md: short-window
replay caches may live in Redis; after a Redis restart a proof or assertion still inside its lifetime
could be replayed once, which the README states), otherwise an INSERT into ``used_once`` whose primary
key makes the second use fail.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any, Protocol

from kaimen.store.db import Database
from kaimen.store.direct import Statement
from kaimen.store.types import utcnow


class OnceStore(Protocol):
    async def use(self, namespace: str, value: str, ttl_seconds: int) -> bool: ...

    async def close(self) -> None: ...


def _key(namespace: str, value: str) -> str:
    # Hash the caller-chosen value: bounded length, nothing attacker-shaped in the key space.
    return f"{namespace}:{hashlib.sha256(value.encode()).hexdigest()}"


# One statement, atomic on both databases: a new key is inserted; an expired row for the same key
# is taken over (its lifetime is over, so the value may be used again); a live row is left alone and
# the statement changes no row.
_CLAIM = (
    "INSERT INTO used_once (key, expires_at) VALUES (:key, :expires_at) ON CONFLICT (key)"
    " DO UPDATE SET expires_at = excluded.expires_at WHERE used_once.expires_at < :now"
)
_SWEEP = "DELETE FROM used_once WHERE expires_at < :now"
SWEEP_EVERY = 1000


class DatabaseOnce:
    """``used_once`` rows, written by small direct transactions (kaimen.store.direct): this runs
    twice per token request and once per DPoP-protected call."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._writes = 0

    async def use(self, namespace: str, value: str, ttl_seconds: int) -> bool:
        now = utcnow()
        key = _key(namespace, value)
        statements = [
            Statement(_CLAIM, {"key": key, "now": now, "expires_at": now + timedelta(seconds=ttl_seconds)})
        ]
        self._writes += 1
        if self._writes % SWEEP_EVERY == 0:
            statements.append(Statement(_SWEEP, {"now": now}))
        counts = await self.db.direct.run(statements)
        return counts[0] == 1

    async def close(self) -> None:
        return None


class RedisOnce:
    def __init__(self, url: str) -> None:
        from redis.asyncio import Redis

        self.redis: Any = Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)

    async def use(self, namespace: str, value: str, ttl_seconds: int) -> bool:
        # SET NX is atomic in Redis: exactly one caller gets True. A Redis error propagates, and the
        # caller refuses the request (temporarily_unavailable) rather than accept a possible replay.
        return bool(
            await self.redis.set("kaimen:once:" + _key(namespace, value), b"1", nx=True, ex=ttl_seconds)
        )

    async def close(self) -> None:
        await self.redis.aclose()


def build_once_store(redis_url: str | None, db: Database) -> OnceStore:
    return RedisOnce(redis_url) if redis_url else DatabaseOnce(db)
