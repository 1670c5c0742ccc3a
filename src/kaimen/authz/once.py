"""One-time values across every worker: client-assertion and DPoP ``jti`` (RFC 7523 §3 item 7,
RFC 9449 §11.1), registration nonces.

``use(namespace, value, ttl)`` answers True exactly once per (namespace, value) within ``ttl`` seconds,
atomically in the store every worker shares: Redis ``SET key 1 NX EX ttl`` in production (DESIGN.md:
short-window replay caches may live in Redis; after a Redis restart a proof or assertion still inside
its lifetime could be replayed once, which the README states); in embedded mode's one process, memory
(DESIGN.md: "in-process ... replay caches"); with PostgreSQL but no Redis, an upsert into
``used_once`` whose primary key makes the second use fail.
"""

from __future__ import annotations

import functools
import hashlib
import heapq
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Protocol

from kaimen.settings import MAX_CONCURRENT_REQUESTS
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


@functools.cache
def _claiming(read: str) -> str:
    """The claim and ``read`` as one statement. ``read`` is a constant of the code (its values are
    parameters), so each is put together once."""
    return (
        f"WITH claimed AS ({_CLAIM} RETURNING 1) SELECT claim.fresh, earlier.*"  # noqa: S608
        f" FROM (SELECT count(*) AS fresh FROM claimed) AS claim LEFT JOIN ({read}) AS earlier ON true"
    )


def _claim(namespace: str, value: str, ttl_seconds: int) -> Statement:
    now = utcnow()
    expires_at = now + timedelta(seconds=ttl_seconds)
    return Statement(_CLAIM, {"key": _key(namespace, value), "now": now, "expires_at": expires_at})


class DatabaseOnce:
    """``used_once`` rows, written by small direct transactions (kaimen.store.direct): this runs
    twice per token request and once per DPoP-protected call."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._writes = 0

    @property
    def reads_alongside(self) -> bool:
        """Whether :meth:`use_reading` is one round trip: PostgreSQL (SQLite takes no INSERT in a WITH)."""
        return not self.db.is_sqlite

    async def use(self, namespace: str, value: str, ttl_seconds: int) -> bool:
        claim = _claim(namespace, value, ttl_seconds)
        statements = [claim]
        if self._sweep_due():
            statements.append(Statement(_SWEEP, {"now": claim.params["now"]}))
        counts = await self.db.direct.run(statements)
        return counts[0] == 1

    async def use_reading(
        self, namespace: str, value: str, ttl_seconds: int, sql: str, params: dict[str, Any]
    ) -> tuple[bool, list[tuple[Any, ...]]]:
        """``use`` and a read in one round trip (PostgreSQL only, :attr:`reads_alongside`): whether the
        value was fresh, and the rows of ``sql``, a SELECT whose first column is never NULL. The claim
        is a data-modifying WITH, which PostgreSQL runs exactly once and to completion whatever the
        SELECT reads (PostgreSQL manual, "Data-Modifying Statements in WITH"), and as atomically as
        on its own; the read is left-joined to the claim's count, so that an empty read still brings
        the count back."""
        if not self.reads_alongside:
            raise RuntimeError("use_reading needs PostgreSQL")
        claim = _claim(namespace, value, ttl_seconds)
        if claim.params.keys() & params.keys():
            raise ValueError("the read's parameters must not reuse the claim's names")
        rows = await self.db.direct.rows(_claiming(sql), {**claim.params, **params})
        if self._sweep_due():
            await self.db.direct.run([Statement(_SWEEP, {"now": claim.params["now"]})])
        fresh = rows[0][0] == 1
        return fresh, [row[1:] for row in rows if row[1] is not None]

    def _sweep_due(self) -> bool:
        self._writes += 1
        return self._writes % SWEEP_EVERY == 0

    async def close(self) -> None:
        return None


class MemoryOnce:
    """Embedded mode's replay cache (DESIGN.md: one process, replay caches in process; settings refuse
    more than one worker without Redis). The event loop runs one step at a time, so the check and
    the insert below cannot interleave with another caller's.

    Values are only remembered after the caller verified a signature (a registered client's key for
    an assertion; a proof bound to an access token or presented by an authenticated client), and
    each is forgotten when its lifetime ends; ``max_entries`` caps memory: past it, new values are
    refused (``use`` answers False, and the caller refuses the request) rather than forgetting live
    ones, which would open them to replay. A restart forgets everything, with the same exposure as
    a Redis restart (README).

    Lifetimes end in the order of a heap of (expiry, key): each call forgets the values whose time is
    up, and only those. A scan of the whole map every few thousand uses cost far more: at 2,000
    tokens a second (two values each: a DPoP jti lives 125 s, an assertion's up to its exp) it held
    some 400,000 entries, and each scan stalled the event loop for about 100 ms, once a second."""

    def __init__(self, *, max_entries: int = 1_000_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_entries = max_entries
        self._clock = clock
        self._expiry: dict[str, float] = {}
        self._deadlines: list[tuple[float, str]] = []  # a heap: one entry per key of _expiry

    async def use(self, namespace: str, value: str, ttl_seconds: int) -> bool:
        now = self._clock()
        self._forget_until(now)
        key = _key(namespace, value)
        expiry = self._expiry
        if key in expiry or len(expiry) >= self.max_entries:
            return False
        until = now + ttl_seconds
        expiry[key] = until
        heapq.heappush(self._deadlines, (until, key))
        return True

    def _forget_until(self, now: float) -> None:
        deadlines, expiry = self._deadlines, self._expiry
        while deadlines and deadlines[0][0] <= now:
            del expiry[heapq.heappop(deadlines)[1]]

    async def close(self) -> None:
        self._expiry.clear()
        self._deadlines.clear()


class RedisOnce:
    def __init__(self, url: str, *, max_connections: int = MAX_CONCURRENT_REQUESTS) -> None:
        """``max_connections``: the requests one worker works on at once (KAIMEN_MAX_CONCURRENT_REQUESTS),
        each of which holds at most one connection: redis-py's pool refuses past its limit."""
        from redis.asyncio import Redis

        self.redis: Any = Redis.from_url(
            url, socket_connect_timeout=0.5, socket_timeout=0.5, max_connections=max_connections
        )

    async def use(self, namespace: str, value: str, ttl_seconds: int) -> bool:
        # SET NX is atomic in Redis: exactly one caller gets True. A Redis error propagates, and the
        # caller refuses the request (temporarily_unavailable) rather than accept a possible replay.
        return bool(
            await self.redis.set("kaimen:once:" + _key(namespace, value), b"1", nx=True, ex=ttl_seconds)
        )

    async def close(self) -> None:
        await self.redis.aclose()


def build_once_store(
    redis_url: str | None, db: Database, *, max_connections: int = MAX_CONCURRENT_REQUESTS
) -> OnceStore:
    """Redis when configured (every worker shares it); embedded SQLite's one process keeps them in
    memory; PostgreSQL without Redis in the database."""
    if redis_url:
        return RedisOnce(redis_url, max_connections=max_connections)
    return MemoryOnce() if db.is_sqlite else DatabaseOnce(db)
