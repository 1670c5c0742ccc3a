"""Migration 0020 (passkeys.backup_eligible) on a database that already holds a passkey: the row is
kept, its flag is unknown (NULL, recorded at the passkey's next use: kaimen.identity.passkeys), and a
downgrade takes the column away again. On SQLite and, when KAIMEN_TEST_DATABASE_URL is set, PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import text

from kaimen.store.db import Database
from kaimen.store.migrate import alembic_config, upgrade
from tests.support import TEST_DATABASE_URL, create_postgres_database, drop_postgres_database

BEFORE = "0019"


@pytest.fixture(params=["sqlite", "postgres"])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database no migration has run on yet."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
        return
    if not TEST_DATABASE_URL:
        pytest.skip("PostgreSQL not available: set KAIMEN_TEST_DATABASE_URL to run this test")
    url = asyncio.run(create_postgres_database(TEST_DATABASE_URL))
    try:
        yield url.replace("postgresql://", "postgresql+asyncpg://", 1)
    finally:
        asyncio.run(drop_postgres_database(TEST_DATABASE_URL, url))


async def _run(url: str, statement: str, **params: Any) -> list[Any]:
    db = Database(url)
    try:
        async with db.write() as session:
            result = await session.execute(text(statement), params)
            return list(result.all()) if result.returns_rows else []
    finally:
        await db.dispose()


def test_a_passkey_registered_before_0020_keeps_its_row_with_the_flag_unknown(
    empty_database_url: str,
) -> None:
    url = empty_database_url
    upgrade(url, BEFORE)
    asyncio.run(
        _run(
            url,
            "INSERT INTO customers (id, username, display_name, password_hash, totp_last_step,"
            " failed_logins, locks, created_at)"
            " VALUES ('cus_1', 'alice', 'Alice', 'x', 0, 0, 0, CURRENT_TIMESTAMP)",
        )
    )
    asyncio.run(
        _run(
            url,
            "INSERT INTO passkeys (id, customer_id, credential_id, public_key, sign_count, created_at)"
            " VALUES ('pk_1', 'cus_1', :credential, :key, 7, CURRENT_TIMESTAMP)",
            credential=b"\x01\x02",
            key=b"\x03",
        )
    )
    upgrade(url)
    rows = asyncio.run(_run(url, "SELECT id, sign_count, backup_eligible FROM passkeys"))
    assert [tuple(row) for row in rows] == [("pk_1", 7, None)]

    command.downgrade(alembic_config(url), BEFORE)
    rows = asyncio.run(_run(url, "SELECT * FROM passkeys"))
    assert [row.id for row in rows] == ["pk_1"]
    assert "backup_eligible" not in rows[0]._fields
