"""The one-time stores (kaimen.authz.once): which store each configuration gets, and the embedded
mode's in-process store, which must refuse a value until its lifetime ends and never forget a live
one to make room."""

from __future__ import annotations

import asyncio

import pytest

from kaimen.authz.once import DatabaseOnce, MemoryOnce, RedisOnce, build_once_store
from kaimen.store.db import Database
from kaimen.store.direct import Statement
from kaimen.store.types import utcnow


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_value_is_used_once_within_its_lifetime_and_again_after() -> None:
    clock = Clock()
    once = MemoryOnce(clock=clock)
    assert await once.use("dpop", "jkt:jti-1", 60)
    assert not await once.use("dpop", "jkt:jti-1", 60)
    assert await once.use("client_assertion", "jkt:jti-1", 60)  # namespaces are apart
    clock.now += 59.9
    assert not await once.use("dpop", "jkt:jti-1", 60)
    clock.now += 0.2
    assert await once.use("dpop", "jkt:jti-1", 60)


async def test_concurrent_uses_of_one_value_have_one_winner() -> None:
    once = MemoryOnce()
    results = await asyncio.gather(*(once.use("dpop", "same", 60) for _ in range(50)))
    assert results.count(True) == 1


async def test_when_full_new_values_are_refused_and_live_ones_never_forgotten() -> None:
    clock = Clock()
    once = MemoryOnce(max_entries=3, clock=clock)
    assert [await once.use("dpop", f"v{n}", 60) for n in range(4)] == [True, True, True, False]
    assert not await once.use("dpop", "v0", 60)  # still remembered: no replay to make room
    clock.now += 61  # every value's lifetime is over: swept, room again
    assert await once.use("dpop", "v3", 60)
    assert await once.use("dpop", "v0", 60)


async def test_values_are_forgotten_as_their_lifetimes_end_and_no_later() -> None:
    """Memory holds the live values only, at every moment: none outlives its lifetime waiting for a
    periodic sweep; one used again after its lifetime is remembered for its new one."""
    clock = Clock()
    once = MemoryOnce(clock=clock)
    for n in range(5000):
        assert await once.use("dpop", f"v{n}", 10)
        clock.now += 0.01  # 1,000 uses per lifetime: at most 1,001 alive at once
        assert len(once._expiry) <= 1001
    clock.now += 10
    assert await once.use("dpop", "v0", 10)  # v0 expired long ago: allowed, with a new lifetime
    assert len(once._expiry) == 1
    clock.now += 9.9
    assert not await once.use("dpop", "v0", 10)


async def test_each_configuration_gets_its_store(sqlite_url: str, database_url: str) -> None:
    sqlite, other = Database(sqlite_url), Database(database_url)
    try:
        assert isinstance(build_once_store(None, sqlite), MemoryOnce)
        redis = build_once_store("redis://127.0.0.1:6379/0", sqlite, max_connections=7)
        assert isinstance(redis, RedisOnce)
        # One connection per request a worker works on (KAIMEN_MAX_CONCURRENT_REQUESTS), not
        # redis-py's default of 100, past which its pool refuses.
        assert redis.redis.connection_pool.max_connections == 7
        await redis.close()
        expected = MemoryOnce if other.is_sqlite else DatabaseOnce
        assert isinstance(build_once_store(None, other), expected)
    finally:
        await sqlite.dispose()
        await other.dispose()


_READ = "SELECT id, name FROM organisations WHERE id = :id"


async def test_a_claim_and_a_read_share_one_statement_and_the_claim_stays_one_time(
    database_url: str,
) -> None:
    """PostgreSQL without Redis: a DPoP proof's jti is used up in the same round trip as the access
    token's liveness read (kaimen.gateway.dpop_auth). The claim keeps its one-time rule, and a read
    that finds nothing still brings the claim's outcome back."""
    db = Database(database_url)
    try:
        once = DatabaseOnce(db)
        if db.is_sqlite:
            assert not once.reads_alongside  # SQLite takes no INSERT inside a WITH
            with pytest.raises(RuntimeError, match="needs PostgreSQL"):
                await once.use_reading("dpop", "v", 60, _READ, {"id": "org-1"})
            return
        await db.direct.run(
            [
                Statement(
                    "INSERT INTO organisations (id, name, created_at) VALUES (:id, :name, :at)",
                    {"id": "org-1", "name": "TPP One Ltd", "at": utcnow()},
                )
            ]
        )
        assert await once.use_reading("dpop", "v", 60, _READ, {"id": "org-1"}) == (
            True,
            [("org-1", "TPP One Ltd")],
        )
        assert await once.use_reading("dpop", "v", 60, _READ, {"id": "org-1"}) == (
            False,
            [("org-1", "TPP One Ltd")],
        )
        assert not await once.use("dpop", "v", 60)  # the same row as use() claims
        assert await once.use_reading("dpop", "w", 60, _READ, {"id": "none"}) == (True, [])
        assert await once.use_reading("dpop", "w", 60, _READ, {"id": "none"}) == (False, [])
        results = await asyncio.gather(
            *(once.use_reading("dpop", "raced", 60, _READ, {"id": "org-1"}) for _ in range(20))
        )
        assert [fresh for fresh, _ in results].count(True) == 1
        with pytest.raises(ValueError, match="must not reuse"):
            await once.use_reading("dpop", "x", 60, _READ, {"key": "clash"})
    finally:
        await db.dispose()
