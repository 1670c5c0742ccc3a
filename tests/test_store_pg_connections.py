"""The pool behind PostgresDirect (kaimen.store.pg_connections): last in, first out, never more than
its size, and a connection goes back only after a call that ended normally or with an ordinary server
error, outside a transaction."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg  # type: ignore[import-untyped]
import pytest

from kaimen.store.direct_postgres import _healthy_after
from kaimen.store.pg_connections import ConnectionPool
from tests.conftest import _postgres_or_skip


@pytest.fixture
async def pool() -> AsyncIterator[ConnectionPool]:
    url = _postgres_or_skip()
    pool = ConnectionPool({"dsn": url}, max_size=2, reusable=_healthy_after)
    try:
        yield pool
    finally:
        await pool.close()


async def _backend(pool: ConnectionPool, sleep: float = 0.0) -> int:
    async with pool.connection() as conn:
        pid: int = await conn.fetchval("SELECT pg_backend_pid() FROM pg_sleep($1)", sleep)
        return pid


async def test_a_connection_is_used_again(pool: ConnectionPool) -> None:
    first = await _backend(pool)
    assert await _backend(pool) == first


async def test_never_more_connections_than_its_size(pool: ConnectionPool) -> None:
    pids = await asyncio.gather(*(_backend(pool, 0.05) for _ in range(6)))
    assert len(set(pids)) == 2


async def test_an_ordinary_server_error_keeps_the_connection(pool: ConnectionPool) -> None:
    first = await _backend(pool)
    with pytest.raises(asyncpg.exceptions.DivisionByZeroError):
        async with pool.connection() as conn:
            await conn.fetchval("SELECT 1 / 0")
    assert await _backend(pool) == first


async def test_a_cancelled_call_drops_its_connection(pool: ConnectionPool) -> None:
    first = await _backend(pool)
    call = asyncio.ensure_future(_backend(pool, 5))
    await asyncio.sleep(0.2)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert await _backend(pool) != first


async def test_a_connection_left_in_a_transaction_is_dropped(pool: ConnectionPool) -> None:
    async with pool.connection() as conn:
        first = await conn.fetchval("SELECT pg_backend_pid()")
        await conn.execute("BEGIN")
    assert await _backend(pool) != first


async def test_a_closed_pool_hands_out_nothing(pool: ConnectionPool) -> None:
    await _backend(pool)
    await pool.close()
    with pytest.raises(RuntimeError, match="closed"):
        await _backend(pool)
