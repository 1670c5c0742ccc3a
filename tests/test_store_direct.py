"""Direct writes (kaimen.store.direct): the hot paths' small transactions, on SQLite and PostgreSQL.

What they must keep from the ORM path: the same stored values (an ORM read sees what a direct write
stored), atomic one-time claims under concurrency, each caller's own answer in a group commit, and on
SQLite never blocking the event loop on another writer's lock."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from kaimen.authz.once import DatabaseOnce
from kaimen.store.authz_models import Token, UsedOnce
from kaimen.store.db import Database
from kaimen.store.direct import (
    DatabaseBusy,
    SqliteDirect,
    Statement,
    sqlite_time,
    stored_json,
    stored_time,
)
from kaimen.store.types import utcnow

_INSERT_ONCE = "INSERT INTO used_once (key, expires_at) VALUES (:key, :expires_at)"


async def test_values_written_directly_read_back_equal_through_the_orm(database_url: str) -> None:
    db = Database(database_url)
    taipei = timezone(timedelta(hours=8))
    created = datetime(2026, 11, 26, 18, 30, 5, 0, tzinfo=taipei)  # zero microseconds: still written
    expires = datetime(2026, 11, 26, 10, 45, 0, 123456, tzinfo=UTC)
    try:
        await db.direct.run(
            [
                Statement(
                    "INSERT INTO tokens (digest, kind, grant_id, client_id, scope, jkt, details, created_at,"
                    " expires_at) VALUES (:digest, 'access', 'g', 'c', 'accounts', 'j', :details,"
                    " :created_at, :expires_at)",
                    {
                        "digest": "d" * 64,
                        "details": {"acr": "urn:openbanking:psd2:sca", "n": [1, 2]},
                        "created_at": created,
                        "expires_at": expires,
                    },
                )
            ]
        )
        async with db.read() as session:
            row = (await session.execute(select(Token))).scalar_one()
            # Text comparison on SQLite orders the stored values the same way as the datetimes.
            later = (
                await session.execute(
                    select(Token.digest).where(Token.expires_at > expires - timedelta(0, 0, 1))
                )
            ).all()
        (direct_read,) = await db.direct.rows(
            "SELECT created_at, expires_at, details, revoked_at FROM tokens WHERE digest = :digest",
            {"digest": "d" * 64},
        )
        assert stored_time(direct_read[0]) == created and stored_time(direct_read[1]) == expires
        assert stored_time(direct_read[1]).tzinfo is UTC  # type: ignore[union-attr]
        assert stored_json(direct_read[2]) == {"acr": "urn:openbanking:psd2:sca", "n": [1, 2]}
        assert stored_time(direct_read[3]) is None
        assert row.created_at == created and row.created_at.tzinfo is not None
        assert row.expires_at == expires
        assert row.details == {"acr": "urn:openbanking:psd2:sca", "n": [1, 2]}
        assert later == [("d" * 64,)]
    finally:
        await db.dispose()


def test_sqlite_time_is_what_sqlalchemy_stores() -> None:
    assert sqlite_time(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2026-01-02 03:04:05.000000"
    assert sqlite_time(datetime(2026, 1, 2, 11, 4, 5, 7, tzinfo=timezone(timedelta(hours=8)))) == (
        "2026-01-02 03:04:05.000007"
    )
    with pytest.raises(TypeError):
        sqlite_time(datetime(2026, 1, 2))  # naive: its zone is unknown


async def test_a_naive_datetime_is_refused(database_url: str) -> None:
    db = Database(database_url)
    try:
        with pytest.raises(ValueError, match="naive datetime refused"):
            await db.direct.run([Statement(_INSERT_ONCE, {"key": "k", "expires_at": datetime(2026, 1, 1)})])
    finally:
        await db.dispose()


async def test_a_value_is_claimed_once_among_many_concurrent_claims(database_url: str) -> None:
    """Two "workers" (two databases objects, two connections) and many tasks claim the same values at
    the same time: exactly one claim of each value wins."""
    first, second = Database(database_url), Database(database_url)
    try:
        stores = [DatabaseOnce(first), DatabaseOnce(second)]
        claims = [stores[n % 2].use("jti", f"value-{n % 5}", 60) for n in range(40)]
        results = await asyncio.gather(*claims)
        assert sum(results) == 5
        assert [sum(results[n] for n in range(40) if n % 5 == v) for v in range(5)] == [1] * 5
    finally:
        await first.dispose()
        await second.dispose()


async def test_an_expired_claim_is_taken_over_and_a_live_one_is_not(database_url: str) -> None:
    db = Database(database_url)
    try:
        once = DatabaseOnce(db)
        assert await once.use("jti", "a", 60)
        assert not await once.use("jti", "a", 60)
        async with db.write() as session:  # age the row past its lifetime
            row = (await session.execute(select(UsedOnce))).scalar_one()
            row.expires_at = utcnow() - timedelta(seconds=1)
        assert await once.use("jti", "a", 60)
        assert not await once.use("jti", "a", 60)
    finally:
        await db.dispose()


async def test_in_a_group_commit_a_failing_call_fails_alone(database_url: str) -> None:
    db = Database(database_url)
    try:
        await db.direct.run([Statement(_INSERT_ONCE, {"key": "taken", "expires_at": utcnow()})])
        outcomes = await asyncio.gather(
            db.direct.run([Statement(_INSERT_ONCE, {"key": "one", "expires_at": utcnow()})]),
            db.direct.run([Statement(_INSERT_ONCE, {"key": "taken", "expires_at": utcnow()})]),  # duplicate
            db.direct.run([Statement(_INSERT_ONCE, {"key": "two", "expires_at": utcnow()})]),
            return_exceptions=True,
        )
        assert outcomes[0] == [1] and outcomes[2] == [1]
        assert isinstance(outcomes[1], Exception) and "unique" in str(outcomes[1]).lower()
        async with db.read() as session:
            keys = set((await session.execute(select(UsedOnce.key))).scalars())
        assert keys == {"taken", "one", "two"}
    finally:
        await db.dispose()


async def test_sqlite_waits_for_another_writer_without_blocking_the_event_loop(sqlite_url: str) -> None:
    path = sqlite_url.split(":///", 1)[1]
    other = sqlite3.connect(path, isolation_level=None)
    db = Database(sqlite_url)
    try:
        other.execute("BEGIN IMMEDIATE")  # another process's write transaction holds the lock
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.001)

        ticking = asyncio.create_task(ticker())
        claim = asyncio.create_task(DatabaseOnce(db).use("jti", "waits", 60))
        await asyncio.sleep(0.2)
        assert not claim.done()
        assert ticks > 50  # the loop kept serving while the claim waited
        other.execute("COMMIT")
        assert await asyncio.wait_for(claim, 5)
        ticking.cancel()
    finally:
        other.close()
        await db.dispose()


async def test_sqlite_gives_up_with_database_busy_after_its_deadline(sqlite_url: str) -> None:
    path = sqlite_url.split(":///", 1)[1]
    other = sqlite3.connect(path, isolation_level=None)
    direct = SqliteDirect(path, busy_deadline=0.2)
    try:
        other.execute("BEGIN IMMEDIATE")
        started = time.monotonic()
        with pytest.raises(DatabaseBusy):
            await direct.run([Statement(_INSERT_ONCE, {"key": "k", "expires_at": utcnow()})])
        assert 0.2 <= time.monotonic() - started < 2
        other.execute("ROLLBACK")
        assert await direct.run([Statement(_INSERT_ONCE, {"key": "k", "expires_at": utcnow()})]) == [1]
    finally:
        other.close()
        await direct.close()
