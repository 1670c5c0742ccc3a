"""A scratch PostgreSQL database for one benchmark run: created on the server a URL names, dropped
afterwards (bench/accounts_bench.py, bench/profile_accounts.py)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterator

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/"


def plain_url(url: str) -> str:
    """The URL as asyncpg takes it (no SQLAlchemy driver suffix)."""
    scheme, rest = url.split("://", 1)
    return "postgresql://" + rest if scheme.startswith("postgres") else url


def _with_database(url: str, name: str) -> str:
    """``url`` naming database ``name`` instead of the one it names (if any)."""
    _, rest = plain_url(url).split("://", 1)
    authority, _, _ = rest.partition("/")
    return f"postgresql+asyncpg://{authority}/{name}"


def reachable(url: str, timeout: float = 3.0) -> str | None:
    """None when the server answers; else why not, in a few words."""
    import asyncpg

    async def probe() -> None:
        conn = await asyncpg.connect(plain_url(url), timeout=timeout)
        await conn.close()

    try:
        asyncio.run(probe())
    except Exception as error:  # any failure to connect means: skip PostgreSQL
        return f"{type(error).__name__}: {error}"
    return None


@contextlib.contextmanager
def scratch_database(url: str) -> Iterator[str]:
    """A fresh, empty database on the server ``url`` names; yields its SQLAlchemy URL; drops it."""
    import asyncpg

    name = "kaimen_bench_" + uuid.uuid4().hex[:12]

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(plain_url(url))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield _with_database(url, name)
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
