"""Async database access for SQLite (embedded default) and PostgreSQL (production).

SQLite runs in WAL mode; every write transaction starts with ``BEGIN IMMEDIATE`` so it takes the write
lock up front (no upgrade deadlock between two readers turning writers), on a single pooled
connection per process; reads run on their own pool and never block on a writer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool

from kaimen.store.direct import PostgresDirect, SqliteDirect


def _sqlite_engine(url: str, *, write: bool) -> AsyncEngine:
    engine = create_async_engine(
        url,
        poolclass=AsyncAdaptedQueuePool,
        pool_size=1 if write else 4,
        max_overflow=0 if write else 4,
        connect_args={"timeout": 30},
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event decide how each transaction starts.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


class Database:
    """The engines and session factories of one process."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            self.read_engine = _sqlite_engine(url, write=False)
            self.write_engine = _sqlite_engine(url, write=True)
        else:
            self.read_engine = create_async_engine(
                url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
            )
            self.write_engine = self.read_engine
        self._read = async_sessionmaker(self.read_engine, expire_on_commit=False)
        self._write = async_sessionmaker(self.write_engine, expire_on_commit=False)
        # Small write transactions on the hot paths (kaimen.store.direct).
        self.direct: SqliteDirect | PostgresDirect = (
            SqliteDirect(url.split(":///", 1)[1]) if self.is_sqlite else PostgresDirect(self.write_engine)
        )

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A read-only unit of work (rolled back at the end)."""
        async with self._read() as session:
            yield session

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A write transaction: committed when the block ends, rolled back if it raises."""
        async with self._write() as session, session.begin():
            yield session

    async def dispose(self) -> None:
        self.direct.close()
        await self.read_engine.dispose()
        if self.write_engine is not self.read_engine:
            await self.write_engine.dispose()
