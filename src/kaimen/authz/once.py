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

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from kaimen.store.authz_models import UsedOnce
from kaimen.store.db import Database
from kaimen.store.types import utcnow


class OnceStore(Protocol):
    async def use(self, namespace: str, value: str, ttl_seconds: int) -> bool: ...

    async def close(self) -> None: ...


def _key(namespace: str, value: str) -> str:
    # Hash the caller-chosen value: bounded length, nothing attacker-shaped in the key space.
    return f"{namespace}:{hashlib.sha256(value.encode()).hexdigest()}"


class DatabaseOnce:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._writes = 0

    async def use(self, namespace: str, value: str, ttl_seconds: int) -> bool:
        now = utcnow()
        key = _key(namespace, value)
        async with self.db.write() as session:
            dialect = session.get_bind().dialect.name
            insert = pg_insert if dialect == "postgresql" else sqlite_insert
            # An expired row for the same key may be reused; a live one may not.
            await session.execute(delete(UsedOnce).where(UsedOnce.key == key, UsedOnce.expires_at < now))
            result = await session.execute(
                insert(UsedOnce)
                .values(key=key, expires_at=now + timedelta(seconds=ttl_seconds))
                .on_conflict_do_nothing(index_elements=[UsedOnce.key])
            )
            fresh = bool(result.rowcount)  # type: ignore[attr-defined]
            self._writes += 1
            if self._writes % 1000 == 0:
                await session.execute(delete(UsedOnce).where(UsedOnce.expires_at < now))
        return fresh

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
