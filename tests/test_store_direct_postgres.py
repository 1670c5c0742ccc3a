"""What PostgresDirect adds to the direct statements of tests/test_store_direct.py: it sends them
straight through asyncpg (kaimen.store.direct_postgres), so the ``:name`` parameters shared with
SQLite are numbered for asyncpg, a row count comes from the command tag, several statements are one
transaction, and a connection that fails is not handed out again."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import asyncpg  # type: ignore[import-untyped]
import pytest

from kaimen.store.db import Database
from kaimen.store.direct import Statement
from kaimen.store.direct_postgres import PostgresDirect, _positional
from kaimen.store.types import utcnow
from tests.conftest import _asyncpg, _postgres_or_skip
from tests.support import create_postgres_database, drop_postgres_database

_INSERT_ONCE = "INSERT INTO used_once (key, expires_at) VALUES (:key, :expires_at)"
_COUNT = "SELECT count(*) FROM used_once WHERE key LIKE :prefix"


@pytest.fixture
def postgres_url(migrated_postgres: str | None) -> Iterator[str]:
    """A migrated, empty PostgreSQL database (the SQLite side has no PostgresDirect)."""
    base = _postgres_or_skip()
    url = asyncio.run(create_postgres_database(base, template=migrated_postgres))
    try:
        yield _asyncpg(url)
    finally:
        asyncio.run(drop_postgres_database(base, url))


def test_parameters_are_numbered_in_order_of_first_use() -> None:
    sql = "SELECT 1 FROM t WHERE a = :key AND b = :now AND c = :key"
    assert _positional(sql) == ("SELECT 1 FROM t WHERE a = $1 AND b = $2 AND c = $1", ("key", "now"))


def test_casts_times_and_escaped_colons_are_not_parameters() -> None:
    # As in SQLAlchemy's text(): a name directly followed by "::" is not a parameter either (write
    # CAST(:v AS text)).
    sql = r"SELECT x::text, '12:30', '\:x' WHERE t = :t AND u = CAST(:v AS text)"
    expected = r"SELECT x::text, '12:30', '\:x' WHERE t = $1 AND u = CAST($2 AS text)"
    assert _positional(sql) == (expected, ("t", "v"))


async def test_statements_of_one_call_commit_together_or_not_at_all(postgres_url: str) -> None:
    db = Database(postgres_url)
    try:
        now = utcnow()
        first = Statement(_INSERT_ONCE, {"key": "atomic:a", "expires_at": now})
        clash = Statement(_INSERT_ONCE, {"key": "atomic:a", "expires_at": now})  # primary key taken
        with pytest.raises(asyncpg.exceptions.UniqueViolationError):
            await db.direct.run([first, clash])
        assert (await db.direct.rows(_COUNT, {"prefix": "atomic:%"}))[0][0] == 0
        second = Statement(_INSERT_ONCE, {"key": "atomic:b", "expires_at": now})
        assert await db.direct.run([first, second]) == [1, 1]
        assert (await db.direct.rows(_COUNT, {"prefix": "atomic:%"}))[0][0] == 2
    finally:
        await db.dispose()


async def _terminate(postgres_url: str, pids: set[int]) -> None:
    """Another session ends those backends, as a restart or a network cut would."""
    other = await asyncpg.connect(postgres_url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        for pid in pids:
            await other.execute("SELECT pg_terminate_backend($1)", pid)
    finally:
        await other.close()


async def _backends_of_calls(direct: PostgresDirect, calls: int) -> tuple[set[int], int]:
    """The backends ``calls`` one-row reads ran on, and how many of the reads failed."""
    seen: set[int] = set()
    failures = 0
    for _ in range(calls):
        try:
            seen.add((await direct.rows("SELECT pg_backend_pid()", {}))[0][0])
        except Exception:  # a dead connection fails its one call (how depends on timing)
            failures += 1
    return seen, failures


async def test_a_connection_that_fails_is_discarded_and_the_next_call_works(postgres_url: str) -> None:
    db = Database(postgres_url)
    try:
        direct = db.direct
        assert isinstance(direct, PostgresDirect)
        (pid,) = (await direct.rows("SELECT pg_backend_pid()", {}))[0]
        await _terminate(postgres_url, {pid})
        seen, failures = await _backends_of_calls(direct, 3)
        assert failures <= 1
        assert seen and pid not in seen
    finally:
        await db.dispose()


async def test_when_the_server_drops_every_connection_at_most_one_call_fails(postgres_url: str) -> None:
    db = Database(postgres_url)
    try:
        direct = db.direct
        assert isinstance(direct, PostgresDirect)

        async def backend() -> int:
            rows = await direct.rows("SELECT pg_backend_pid(), pg_sleep(0.05)", {})
            return int(rows[0][0])

        pids = set(await asyncio.gather(*(backend() for _ in range(3))))  # three pooled connections
        assert len(pids) == 3
        await _terminate(postgres_url, pids)
        seen, failures = await _backends_of_calls(direct, 6)
        assert failures <= 1
        assert seen and not seen & pids
    finally:
        await db.dispose()
