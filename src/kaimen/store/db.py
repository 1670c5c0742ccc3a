"""Async database access for SQLite (embedded default) and PostgreSQL (production).

SQLite runs in WAL mode; every write transaction starts with ``BEGIN IMMEDIATE`` so it takes the write
lock up front (no upgrade deadlock between two readers turning writers), on a single pooled
connection per process.

SQLite reads run on the event loop's own thread, through a synchronous engine: in WAL mode a reader
never waits for a writer, and the small indexed reads Kaimen makes take microseconds, while each of
aiosqlite's thread hops took a few hundred (an idle read session with one SELECT cost ~1.1 ms, the same
read on the loop ~5 µs). :class:`LoopReadSession` offers the AsyncSession methods reads use.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import AsyncAdaptedQueuePool, QueuePool

from kaimen.store.direct import SqliteDirect, sqlite_settings
from kaimen.store.direct_postgres import PostgresDirect

# What runs a prebuilt SQLAlchemy Core statement: a unit of work's session, or the connection of
# :meth:`Database.transaction`.
Executor = AsyncSession | AsyncConnection


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
        sqlite_settings(dbapi_connection)
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def _sqlite_loop_read_engine(path: str) -> Engine:
    """Read connections used only on the event loop's thread. A short busy timeout: in WAL mode a
    read only waits in rare cases (WAL recovery), and it must not hold the loop for long then."""
    engine = create_engine(f"sqlite:///{path}", poolclass=QueuePool, pool_size=4, max_overflow=4)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=200")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN")  # one snapshot for every statement of the read

    return engine


class LoopReadSession:
    """The read methods of AsyncSession (``execute``, ``scalars``, ``scalar``, ``get``) over a
    synchronous Session, run on the event loop's thread. Their results are the same buffered Result
    objects AsyncSession returns."""

    def __init__(self, session: Session) -> None:
        self._session = session

    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        return self._session.execute(*args, **kwargs)

    async def scalars(self, *args: Any, **kwargs: Any) -> Any:
        return self._session.scalars(*args, **kwargs)

    async def scalar(self, *args: Any, **kwargs: Any) -> Any:
        return self._session.scalar(*args, **kwargs)

    async def get(self, *args: Any, **kwargs: Any) -> Any:
        return self._session.get(*args, **kwargs)

    def get_bind(self) -> Any:
        return self._session.get_bind()


class Database:
    """The engines and session factories of one process."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self._loop_reads: sessionmaker[Session] | None = None
        if self.is_sqlite:
            self.read_engine = _sqlite_engine(url, write=False)
            self.write_engine = _sqlite_engine(url, write=True)
            self._loop_read_engine = _sqlite_loop_read_engine(url.split(":///", 1)[1])
            self._loop_reads = sessionmaker(self._loop_read_engine, expire_on_commit=False)
        else:
            # No pre-ping: asyncpg's costs three round trips (BEGIN, ";", ROLLBACK) on every checkout.
            # A connection that died with the server fails its first statement instead; SQLAlchemy then
            # invalidates the whole pool, so one call answers 503 (kaimen.gateway.boundary) and the
            # next one reconnects (tests/test_faults_postgres.py).
            self.write_engine = create_async_engine(url, pool_size=pool_size, max_overflow=pool_size)
            # Reads run in autocommit: no BEGIN and ROLLBACK around a single SELECT. Under PostgreSQL's
            # READ COMMITTED every statement takes its own snapshot inside a transaction too, so a
            # read-only unit of work sees exactly what it saw before. Same pool as the writes.
            self.read_engine = self.write_engine.execution_options(isolation_level="AUTOCOMMIT")
        self._read = async_sessionmaker(self.read_engine, expire_on_commit=False)
        self._write = async_sessionmaker(self.write_engine, expire_on_commit=False)
        # Small write transactions on the hot paths (kaimen.store.direct, kaimen.store.direct_postgres).
        self.direct: SqliteDirect | PostgresDirect
        if self.is_sqlite:
            self.direct = SqliteDirect(url.split(":///", 1)[1])
        else:
            dialect = self.write_engine.sync_engine.dialect
            _, connect = dialect.create_connect_args(self.write_engine.url)
            self.direct = PostgresDirect(connect, max_size=pool_size)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A read-only unit of work (rolled back at the end). On SQLite it runs on the loop's thread
        (:class:`LoopReadSession`); typed as AsyncSession for the methods both offer."""
        if self._loop_reads is not None:
            with self._loop_reads() as session:
                yield cast(AsyncSession, LoopReadSession(session))
            return
        async with self._read() as session:
            yield session

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A write transaction: committed when the block ends, rolled back if it raises."""
        async with self._write() as session, session.begin():
            yield session

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction on one connection, for SQLAlchemy Core statements only (no ORM unit of
        work, no identity map: the hot paths' writes): committed when the block ends, rolled back if
        it raises. It begins as :meth:`write` does (``BEGIN IMMEDIATE`` on SQLite)."""
        async with self.write_engine.begin() as conn:
            yield conn

    async def dispose(self) -> None:
        await self.direct.close()
        if self._loop_reads is not None:
            self._loop_read_engine.dispose()
        if self.is_sqlite:
            await self.read_engine.dispose()
        await self.write_engine.dispose()  # on PostgreSQL the read engine shares its pool
