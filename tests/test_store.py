"""Storage: migrations, UTC datetimes and write transactions on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from contextlib import closing
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select, text

from kaimen.store.db import Database
from kaimen.store.migrate import current_head, upgrade
from kaimen.store.models import Generation, Organisation
from kaimen.store.watch import bump


async def test_migrations_reach_head(database_url: str) -> None:
    db = Database(database_url)
    try:
        async with db.read() as session:
            version = (await session.execute(text("SELECT version_num FROM alembic_version"))).scalar_one()
        assert version == current_head()
    finally:
        await db.dispose()


async def test_datetimes_come_back_aware_and_in_utc(database_url: str) -> None:
    db = Database(database_url)
    taipei = timezone(timedelta(hours=8))
    written = datetime(2026, 11, 26, 18, 30, 5, 123456, tzinfo=taipei)
    try:
        async with db.write() as session:
            session.add(Organisation(id="org-utc", name="UTC Ltd", created_at=written))
        async with db.read() as session:
            read = (await session.execute(select(Organisation.created_at))).scalar_one()
        assert read.tzinfo is not None
        assert read.utcoffset() == timedelta(0)
        assert read == written
        assert read == datetime(2026, 11, 26, 10, 30, 5, 123456, tzinfo=UTC)
    finally:
        await db.dispose()


async def test_naive_datetime_is_refused(database_url: str) -> None:
    db = Database(database_url)
    try:
        with pytest.raises(Exception, match="naive datetime refused"):
            async with db.write() as session:
                session.add(Organisation(id="org-naive", name="Naive", created_at=datetime(2026, 1, 1)))
                await session.flush()
    finally:
        await db.dispose()


async def test_concurrent_write_transactions_serialise_without_lost_updates(database_url: str) -> None:
    """Read-modify-write under concurrency: every increment lands (SQLite: BEGIN IMMEDIATE takes the
    write lock before the read; PostgreSQL: the UPDATE ... RETURNING is atomic)."""
    db = Database(database_url)
    try:

        async def one() -> None:
            async with db.write() as session:
                await bump(session, "test")

        await asyncio.gather(*(one() for _ in range(40)))
        async with db.read() as session:
            value = (
                await session.execute(select(Generation.value).where(Generation.name == "test"))
            ).scalar_one()
        assert value == 40
    finally:
        await db.dispose()


async def test_write_rolls_back_when_the_block_raises(database_url: str) -> None:
    db = Database(database_url)
    try:
        with pytest.raises(RuntimeError):
            async with db.write() as session:
                session.add(Organisation(id="org-rollback", name="Rollback Ltd"))
                await session.flush()
                raise RuntimeError("abort")
        async with db.read() as session:
            assert (await session.execute(select(Organisation))).first() is None
    finally:
        await db.dispose()


def test_a_migrated_sqlite_file_is_in_wal_mode_before_anything_serves_it(tmp_path: Path) -> None:
    """``kaimen db upgrade`` leaves the file in WAL mode, so no connection of the service has to switch
    it (switching takes the write lock: two connections opening together got "database is locked")."""
    import sqlite3

    path = tmp_path / "fresh.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_sqlite_runs_in_wal_mode(sqlite_url: str) -> None:
    import sqlite3

    async def touch() -> None:
        db = Database(sqlite_url)
        async with db.write() as session:
            await bump(session, "wal")
        await db.dispose()

    asyncio.run(touch())
    path = sqlite_url.split(":///", 1)[1]
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_migrations_match_the_models(database_url: str) -> None:
    """Every table and column of the models exists as the migrations made it (no drift)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from kaimen.store import authz_models, identity_models  # noqa: F401  (register their tables)
    from kaimen.store.models import Base

    async def diff() -> list[object]:
        db = Database(database_url)
        try:
            async with db.read_engine.connect() as conn:
                return await conn.run_sync(
                    lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata)
                )
        finally:
            await db.dispose()

    assert asyncio.run(diff()) == []


# The lookups by consent id that the partial indexes (migrations 0015 and 0019) must still serve: the
# revocation of a consent's tokens, a payment's trail, the dashboard's "last used".
CONSENT_LOOKUPS = [
    ("ix_tokens_consent_id",
     "UPDATE tokens SET revoked_at = created_at WHERE consent_id = 'c1' AND revoked_at IS NULL"),
    ("ix_tokens_consent_id", "SELECT digest FROM tokens WHERE consent_id = 'c1' ORDER BY created_at"),
    ("ix_audit_records_consent_id", "SELECT seq FROM audit_records WHERE consent_id = 'c1'"),
    ("ix_audit_records_consent_id",
     "SELECT consent_id, max(at) FROM audit_records WHERE consent_id IN ('c1', 'c2') GROUP BY consent_id"),
]  # fmt: skip


@pytest.mark.parametrize(("index", "statement"), CONSENT_LOOKUPS)
async def test_lookups_by_consent_use_the_partial_indexes(
    database_url: str, index: str, statement: str
) -> None:
    """The consent indexes hold only rows that carry a consent; an equality on consent_id implies that,
    so both databases still plan these statements on the index (PostgreSQL with sequential scans
    priced out, as they would be on a table of any size)."""
    db = Database(database_url)
    try:
        async with db.write() as session:
            if db.is_sqlite:
                plan = (await session.execute(text("EXPLAIN QUERY PLAN " + statement))).all()
            else:
                await session.execute(text("SET LOCAL enable_seqscan = off"))
                plan = (await session.execute(text("EXPLAIN " + statement))).all()
            await session.rollback()
    finally:
        await db.dispose()
    assert index in " ".join(str(column) for row in plan for column in row)


async def test_reads_on_postgresql_run_outside_a_transaction(database_url: str) -> None:
    """A read is one round trip on PostgreSQL: no BEGIN before it and no ROLLBACK after it (autocommit),
    for ORM read sessions and for kaimen.store.direct's reads alike; writes stay transactions."""
    if database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL only: SQLite reads run on the loop's own connection (LoopReadSession)")
    db = Database(database_url)
    try:
        async with db.read() as session:
            assert (await session.execute(text("SELECT 1"))).scalar_one() == 1
            raw = await (await session.connection()).get_raw_connection()
            assert raw.driver_connection is not None
            assert not raw.driver_connection.is_in_transaction()
        async with db.read_engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
            raw = await conn.get_raw_connection()
            assert raw.driver_connection is not None
            assert not raw.driver_connection.is_in_transaction()
        assert await db.direct.rows("SELECT CAST(:n AS integer)", {"n": 2}) == [(2,)]
        async with db.write() as session:
            await session.execute(text("SELECT 1"))
            raw = await (await session.connection()).get_raw_connection()
            assert raw.driver_connection is not None
            assert raw.driver_connection.is_in_transaction()
    finally:
        await db.dispose()
