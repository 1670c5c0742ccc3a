"""The direct statements of kaimen.store.direct on PostgreSQL: sent straight through asyncpg, on a
pool of its own (:class:`PostgresDirect`). asyncpg hops no thread, so none of the SQLite side's
machinery (one connection on the loop's thread, busy retries, group commit) has a counterpart here.

The statements are the same :class:`~kaimen.store.direct.Statement` values as on SQLite, their
``:name`` parameters numbered for asyncpg (:func:`_positional`), their values stored as the
SQLAlchemy models store them (:func:`postgres_value`).
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson

from kaimen.store.direct import Statement
from kaimen.store.pg_connections import ConnectionPool


def postgres_value(value: Any) -> Any:
    """A value as asyncpg takes it for the models' columns: aware datetimes as they are, JSON as
    text."""
    if isinstance(value, datetime) and value.tzinfo is None:
        raise ValueError("naive datetime refused: Kaimen stores UTC only")
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()  # asyncpg's json codec takes text
    return value


# ``:name`` parameters as SQLAlchemy's text() finds them (not ``::type`` casts, not ``\\:``).
_PARAMETER = re.compile(r"(?<![:\w\\]):(\w+)(?!:)")


@functools.cache
def _positional(sql: str) -> tuple[str, tuple[str, ...]]:
    """``sql`` with asyncpg's ``$1``, ``$2``, ... in place of its ``:name`` parameters, and the names in
    that order (a name used twice is one parameter). Statements are constants of the code, so this
    is worked out once for each."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    return _PARAMETER.sub(number, sql), tuple(names)


def _healthy_after(error: BaseException) -> bool:
    """Whether the connection an asyncpg call failed on can go back to the pool: only when the server
    answered with an ordinary error (a constraint, a bad statement). A dropped or refused connection
    (SQLSTATE class 08, the 57P shutdown states, an OS or client-side error) or a cancelled call
    leaves it unusable."""
    from asyncpg.exceptions import PostgresError  # type: ignore[import-untyped]

    sqlstate = getattr(error, "sqlstate", None) or ""
    return isinstance(error, PostgresError) and not sqlstate.startswith(("08", "57P"))


async def _execute(raw: Any, statement: Statement) -> int:
    """Run one statement; the number of rows it changed, from asyncpg's command tag ("UPDATE 1",
    "INSERT 0 1", "DELETE 3")."""
    query, names = _positional(statement.sql)
    tag: str = await raw.execute(query, *[postgres_value(statement.params[name]) for name in names])
    count = tag.rpartition(" ")[2]
    return int(count) if count.isdigit() else 0


class PostgresDirect:
    """Statements sent straight through a pool of asyncpg connections of their own: SQLAlchemy's
    execution layer (compilation cache, result wrapping, the greenlet hand-over) cost about as much
    CPU as asyncpg's own work for these one-statement reads and small writes, which run on every
    token and API-key check and several times per payment on PostgreSQL: a one-row read took 260 µs
    of the process's CPU through it and 160 µs without (uvloop, local server). Even a checkout from
    SQLAlchemy's pool cost a dozen greenlet switches and an isolation-level round of events per
    statement, about 200 µs of CPU per AIS call of four statements (bench/profile_accounts.py
    --database-url), and asyncpg's own pool cost as much again per checkout; so the connections are
    asyncpg's, in a small pool of Kaimen's (kaimen.store.pg_connections), opened on first use with
    the engine's connect arguments and as large as its pool.

    A released connection is not reset (asyncpg's pool would send ``RESET ALL``, ``UNLISTEN *`` and
    more: a round trip per statement): these statements change no session state (no ``SET``, no
    ``LISTEN``, no session-level advisory lock: the audit chain's is ``pg_advisory_xact_lock``, gone at
    commit or rollback; no cursor), and a connection released inside a transaction is dropped.

    Parameters are the same ``:name`` ones as on SQLite, numbered for asyncpg once per statement
    (:func:`_positional`); asyncpg prepares and caches each statement per connection."""

    def __init__(self, connect: Mapping[str, Any], *, max_size: int) -> None:
        self._pool = ConnectionPool(connect, max_size=max_size, reusable=_healthy_after)

    async def run(self, statements: Sequence[Statement]) -> list[int]:
        if len(statements) == 1:  # atomic on its own: no BEGIN and COMMIT round trips
            async with self._pool.connection() as conn:
                return [await _execute(conn, statements[0])]
        async with self.transaction() as conn:
            return [await _execute(conn, statement) for statement in statements]

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Any]:
        """An asyncpg connection in a transaction, for work that needs the connection itself (a read
        inside the transaction, ``executemany``): committed when the block ends, rolled back if it
        raises. Its statements take asyncpg's ``$n`` parameters."""
        async with self._pool.connection() as conn, conn.transaction():
            yield conn

    async def rows(self, sql: str, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        query, names = _positional(sql)
        async with self._pool.connection() as conn:
            records = await conn.fetch(query, *[postgres_value(params[name]) for name in names])
        return [tuple(record) for record in records]

    async def close(self) -> None:
        await self._pool.close()
