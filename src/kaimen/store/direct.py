"""Small write transactions on the hot paths (one-time ``jti`` values, token rows, the audit chain),
without a thread hop.

On SQLite, aiosqlite runs every statement on a thread of its own: each statement is a hop there and
back, and under load each hop also waits for the GIL held by the busy event loop (Python's switch
interval is 5 ms). A two-statement transaction through it took about 3 ms of wall time
(bench/profile_token.py), where SQLite itself needs some 30 µs in WAL mode. So these transactions run
on the event loop's own thread, on one connection kept for them, and they never block the loop
waiting for a lock: the connection's busy timeout is 0, ``BEGIN IMMEDIATE`` takes the write lock up
front or fails at once, and a busy database (another connection of this process, or another process,
is writing) is retried after an ``asyncio.sleep`` with backoff, up to a deadline, then refused with
:class:`DatabaseBusy`. Statements run inside the lock are short and never wait for anything.

On PostgreSQL the same statements run straight through asyncpg instead, which hops no thread and
needs none of this (kaimen.store.direct_postgres). What both sides share stays here: the
:class:`Statement`, and the decoders of the values their ``rows`` return (:func:`stored_time`,
:func:`stored_json`).

Statements are plain SQL with ``:name`` parameters, written once for both databases (SQLite ≥ 3.24
and PostgreSQL share ``INSERT ... ON CONFLICT``). Values are stored exactly as the SQLAlchemy models
store them (:func:`sqlite_value`), so ORM reads of the same rows see the same values.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import orjson

from kaimen.store.wal import WAL_LIMIT_BYTES, WalCheckpoints

T = TypeVar("T")
log = logging.getLogger("kaimen.store")

BUSY_DEADLINE_SECONDS = 10.0
_FIRST_BACKOFF = 0.0005
_MAX_BACKOFF = 0.02
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


class DatabaseBusy(Exception):
    """The write lock stayed taken past the deadline."""


@dataclass(frozen=True, slots=True)
class Statement:
    sql: str  # ``:name`` parameters; the same text on SQLite and PostgreSQL
    params: Mapping[str, Any]


class _SqliteTime:
    """A UTC datetime as SQLAlchemy's SQLite dialect stores it (kaimen.store.types.UTCDateTime):
    naive ISO text with microseconds always written, so that text comparison orders them. The date
    and time of day are formatted once per second (strftime is most of the cost)."""

    def __init__(self, remembered: int = 256) -> None:
        self._prefixes: dict[int, str] = {}
        self._remembered = remembered

    def __call__(self, at: datetime) -> str:
        micros = (at - _EPOCH) // _MICROSECOND  # a naive datetime raises TypeError here
        second, fraction = divmod(micros, 1_000_000)
        prefix = self._prefixes.get(second)
        if prefix is None:
            if len(self._prefixes) >= self._remembered:
                self._prefixes.clear()
            prefix = self._prefixes[second] = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(second))
        return f"{prefix}.{fraction:06d}"


sqlite_time = _SqliteTime()


def sqlite_value(value: Any) -> Any:
    """A value as SQLAlchemy's SQLite dialect stores it: UTC datetimes as :func:`sqlite_time`, JSON
    as text."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: Kaimen stores UTC only")
        return sqlite_time(value)
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    return value


_Queued = tuple[Sequence[Statement], "asyncio.Future[list[int]]"]


def _fail(group: list[_Queued], error: BaseException) -> None:
    for _, future in group:
        if not future.done():
            future.set_exception(error)


def stored_time(value: Any) -> datetime | None:
    """A datetime column read by :meth:`rows`: SQLite's text (UTC, as :func:`sqlite_time` wrote it) or
    PostgreSQL's aware datetime, as an aware UTC datetime."""
    if value is None:
        return None
    if isinstance(value, str):
        # The offset appended rather than set with replace(tzinfo=...), which cost four times the
        # parse itself (this runs twice per entry of a transactions page).
        return datetime.fromisoformat(value + "+00:00")
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    raise TypeError(f"not a stored datetime: {type(value).__name__}")


def stored_json(value: Any) -> Any:
    """A JSON column read by :meth:`rows`: text on both databases (asyncpg's json codec), or already
    decoded."""
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def sqlite_settings(connection: Any) -> None:
    """What every Kaimen connection to a SQLite file sets (a sqlite3 connection, or the DBAPI connection
    SQLAlchemy's aiosqlite dialect hands its "connect" event): WAL, NORMAL sync, foreign keys, and the
    size the WAL file is cut back to when a writer starts it over (:data:`WAL_LIMIT_BYTES`).

    Switching to WAL takes the database's write lock, and a connection opening while another wrote got
    "database is locked" at once (no busy wait); the file is WAL from its first connection or
    `kaimen db upgrade` on, so the mode is read first and switched only when it is not."""
    cursor = connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode")
        if cursor.fetchone()[0] != "wal":
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA journal_size_limit={WAL_LIMIT_BYTES}")
    finally:
        cursor.close()


def _is_busy(error: sqlite3.OperationalError) -> bool:
    return getattr(error, "sqlite_errorcode", None) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED) or (
        "locked" in str(error)
    )


class SqliteDirect:
    """One connection per process, used only from the event loop's thread."""

    def __init__(
        self,
        path: str,
        *,
        busy_deadline: float = BUSY_DEADLINE_SECONDS,
        wal_limit_bytes: int = WAL_LIMIT_BYTES,
    ) -> None:
        self.path = path
        self.busy_deadline = busy_deadline
        self.checkpoints = WalCheckpoints(path, limit_bytes=wal_limit_bytes)
        self._conn: sqlite3.Connection | None = None
        self._queue: list[_Queued] = []
        self._flusher: asyncio.Task[None] | None = None

    def connection(self) -> sqlite3.Connection:
        """The connection, opened on first use (the generation watcher polls on it too)."""
        return self._connection()

    def _connection(self) -> sqlite3.Connection:
        conn = self._conn
        if conn is None:
            if self.checkpoints.closed:  # opened again after close: checkpoints again too
                self.checkpoints = WalCheckpoints(self.path, limit_bytes=self.checkpoints.limit_bytes)
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            try:
                conn.execute("PRAGMA busy_timeout=0")
                sqlite_settings(conn)
                # Checkpoints (copying the WAL back, with an fsync) run on a thread of their own,
                # never in a commit on the event loop (kaimen.store.wal).
                conn.execute("PRAGMA wal_autocheckpoint=0")
                conn.execute(f"PRAGMA journal_size_limit={int(self.checkpoints.limit_bytes)}")
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return conn

    def _begin(self) -> sqlite3.Connection:
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        return conn

    async def _when_free(self, attempt: Callable[[], T]) -> T:
        """``attempt()``, tried again after an ``asyncio.sleep`` with backoff while the database is
        busy (never blocking the loop), up to the deadline; then DatabaseBusy."""
        deadline = time.monotonic() + self.busy_deadline
        backoff = _FIRST_BACKOFF
        while True:
            try:
                return attempt()
            except sqlite3.OperationalError as error:
                if not _is_busy(error):
                    raise
                if time.monotonic() >= deadline:
                    raise DatabaseBusy("the database stayed locked by another writer") from error
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, _MAX_BACKOFF)

    async def transaction(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` in one ``BEGIN IMMEDIATE`` transaction: committed when it returns, rolled
        back if it raises. ``work`` is synchronous and must not wait for anything."""
        await self.checkpoints.writable()  # a checkpoint restarting the WAL goes first
        conn = await self._when_free(self._begin)
        try:
            result = work(conn)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        self.checkpoints.committed()
        return result

    async def run(self, statements: Sequence[Statement]) -> list[int]:
        """Every statement in one transaction; their row counts.

        Group commit: the calls made while the event loop runs one round of callbacks share one
        transaction (each commit writes WAL frames, which costs more than the statements). They
        share its outcome too: if one call's statements fail, the transaction is rolled back and
        every call of the group runs again on its own, so each gets its own answer."""
        future: asyncio.Future[list[int]] = asyncio.get_running_loop().create_future()
        self._queue.append((statements, future))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush())
        return await future

    @staticmethod
    def _execute(conn: sqlite3.Connection, statements: Sequence[Statement]) -> list[int]:
        counts = []
        for statement in statements:
            params = {name: sqlite_value(value) for name, value in statement.params.items()}
            counts.append(conn.execute(statement.sql, params).rowcount)
        return counts

    def _execute_group(self, group: list[_Queued], conn: sqlite3.Connection) -> list[list[int]]:
        return [self._execute(conn, statements) for statements, _ in group]

    async def _flush(self) -> None:
        group: list[_Queued] = []
        try:
            while self._queue:
                group, self._queue = self._queue, []
                try:
                    results = await self.transaction(functools.partial(self._execute_group, group))
                except DatabaseBusy as error:
                    _fail(group, error)
                    continue
                except Exception as error:
                    if len(group) == 1:
                        _fail(group, error)
                    else:
                        await self._one_by_one(group)
                    continue
                for (_, future), counts in zip(group, results, strict=True):
                    if not future.done():
                        future.set_result(counts)
        finally:
            self._flusher = None
            # Only when cancelled (shutdown): nobody is left waiting.
            for _, future in group + self._queue:
                if not future.done():
                    future.cancel()
            self._queue = []

    async def _one_by_one(self, group: list[_Queued]) -> None:
        for statements, future in group:
            try:
                counts = await self.transaction(functools.partial(self._execute, statements=statements))
            except Exception as error:
                _fail([(statements, future)], error)
            else:
                if not future.done():
                    future.set_result(counts)

    async def rows(self, sql: str, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """A read (its own implicit read transaction: in WAL mode it waits for no writer). Values
        come back as stored: decode datetimes with :func:`stored_time` and JSON with
        :func:`stored_json`."""
        values = {name: sqlite_value(value) for name, value in params.items()}
        return await self._when_free(lambda: self._connection().execute(sql, values).fetchall())

    async def close(self) -> None:
        self.checkpoints.close()
        if self._conn is not None:
            self._conn.close()
            self._conn = None
