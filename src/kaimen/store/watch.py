"""Tell every worker at once that shared state changed, so per-process caches never serve stale data.

Each kind of shared state (``registry``: applications and API keys; ``products``: Product API data)
has a counter in the ``generations`` table, bumped by :func:`bump` in the same transaction as the
change itself. Workers keep caches and drop them when the counter moves:

- SQLite (embedded, one host): ``PRAGMA data_version`` changes whenever another connection (another
  process included, e.g. the ``kaimen tpp`` command) commits; only then is the counter table read. The
  check is a few microseconds and runs once per turn of the event loop, before the first cached lookup
  of that turn, so a change is seen by the very next request (:class:`SqliteWatcher` says why).
- PostgreSQL (production, many hosts): ``bump`` also sends ``NOTIFY kaimen_generations``, which
  PostgreSQL delivers on commit and only on commit. Each worker LISTENs on a dedicated connection;
  while that connection is down the watcher reports itself unhealthy and callers bypass their caches
  (read the database every time) until it is back, so no change can be missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections import defaultdict
from collections.abc import Callable
from typing import Any, Protocol

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from kaimen.settings import Settings
from kaimen.store.db import Database
from kaimen.store.direct import SqliteDirect
from kaimen.store.models import Generation

log = logging.getLogger("kaimen.store.watch")

CHANNEL = "kaimen_generations"
Callback = Callable[[], None]


async def bump(session: AsyncSession, name: str) -> int:
    """Advance ``name``'s counter inside the caller's write transaction; returns the new value.

    One atomic upsert, so two first-time bumps racing on PostgreSQL cannot both insert."""
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    upsert = (
        insert(Generation)
        .values(name=name, value=1)
        .on_conflict_do_update(index_elements=[Generation.name], set_={"value": Generation.value + 1})
        .returning(Generation.value)
    )
    value: int = (await session.execute(upsert)).scalar_one()
    if dialect == "postgresql":
        await session.execute(
            text("SELECT pg_notify(:channel, :payload)"), {"channel": CHANNEL, "payload": f"{name}:{value}"}
        )
    return value


class Watcher(Protocol):
    healthy: bool

    def on_change(self, name: str, callback: Callback) -> None: ...

    def poll(self) -> None: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class _Base:
    def __init__(self) -> None:
        self.healthy = True
        self._callbacks: dict[str, list[Callback]] = defaultdict(list)
        self._seen: dict[str, int] = {}

    def on_change(self, name: str, callback: Callback) -> None:
        self._callbacks[name].append(callback)

    def _apply(self, values: dict[str, int]) -> None:
        for name, value in values.items():
            if self._seen.get(name) != value:
                self._seen[name] = value
                for callback in self._callbacks.get(name, ()):
                    callback()

    def _fire_all(self) -> None:
        for callbacks in self._callbacks.values():
            for callback in callbacks:
                callback()


class SqliteWatcher(_Base):
    """``connection``, when given, is the process's direct-write connection (kaimen.store.direct):
    ``PRAGMA data_version`` does not move for a connection's own commits, and that connection's
    commits (tokens, one-time values, audit records) never bump a generation, so polling on it skips
    re-reading the counters after each of them. Every other connection's commit, in this process or
    another, still moves it.

    One read per turn of the event loop, not per call. What must hold is that a call whose request
    arrived after a change was committed sees it. The server (granian) hands each arriving request to
    the loop with ``call_soon_threadsafe``, and a call's code only ever runs in the loop's ready
    callbacks (task steps), which the loop runs first in, first out. A poll queues the callback that
    marks its reading stale *before* it reads; a step that still finds the reading fresh was queued
    before that marker, so its request arrived before the read began, and any change committed before
    that request was sent was committed before the read too (commit < send < arrival < read). A step
    queued after the marker finds the reading stale and reads again. Under load one read serves every
    call of a turn; it cost ~5 µs per call on the gateway's hot path (bench/gateway.py --py-spy).
    Outside a running loop every poll reads."""

    def __init__(self, path: str, connection: Callable[[], sqlite3.Connection] | None = None) -> None:
        super().__init__()
        self.path = path
        self._shared = connection
        self._conn: sqlite3.Connection | None = None
        self._version: int | None = None
        # The loop whose current turn has read (see the class docstring), else None.
        self._fresh_in: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        if self._shared is not None:
            self._conn = self._shared()
        else:
            self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._conn.execute("PRAGMA busy_timeout=1000")
        self.poll()

    def poll(self) -> None:
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        # Fresh only for the loop that read: a loop closed before its marker ran leaves nothing behind.
        if loop is not None and self._fresh_in is loop:
            return
        conn = self._conn
        if conn is None:
            return
        if loop is not None:
            self._fresh_in = loop
            loop.call_soon(self._expire)  # queued before the read (see the class docstring)
        try:
            version = conn.execute("PRAGMA data_version").fetchone()[0]
            if version == self._version:
                return
            self._version = version
            rows = conn.execute("SELECT name, value FROM generations").fetchall()
        except sqlite3.Error:
            log.warning("sqlite generation check failed; dropping caches")
            self._version = None
            self._fresh_in = None
            self._fire_all()
            return
        self._apply(dict(rows))

    def _expire(self) -> None:
        self._fresh_in = None

    async def stop(self) -> None:
        if self._conn is not None and self._shared is None:
            self._conn.close()
        self._conn = None


class PostgresWatcher(_Base):
    RETRY_SECONDS = 1.0

    def __init__(self, dsn: str, db: Database) -> None:
        super().__init__()
        self.dsn = dsn
        self.db = db
        self.healthy = False
        self._task: asyncio.Task[None] | None = None
        self._lost = asyncio.Event()

    def poll(self) -> None:
        """Nothing to do: notifications arrive on their own."""

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="kaimen-generation-watcher")
        # Give the first connection a moment, so a fresh worker starts with working caches.
        for _ in range(50):
            if self.healthy:
                break
            await asyncio.sleep(0.02)

    async def _run(self) -> None:
        import asyncpg  # type: ignore[import-untyped]

        while True:
            conn: Any = None
            try:
                conn = await asyncpg.connect(self.dsn, timeout=5)
                self._lost.clear()
                conn.add_termination_listener(lambda _c: self._on_lost())
                await conn.add_listener(CHANNEL, self._on_notify)
                # Anything committed while we were not listening: read the counters now.
                async with self.db.read() as session:
                    rows = (await session.execute(select(Generation.name, Generation.value))).all()
                self._apply({name: value for name, value in rows})
                self.healthy = True
                await self._lost.wait()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("generation listener down: %s", type(exc).__name__)
            finally:
                self._on_lost()
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await conn.close(timeout=1)
            await asyncio.sleep(self.RETRY_SECONDS)

    def _on_lost(self) -> None:
        if self.healthy:
            log.warning("generation listener lost; caches bypassed until it is back")
        self.healthy = False
        self._fire_all()
        self._lost.set()

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        name, _, value = payload.rpartition(":")
        with contextlib.suppress(ValueError):
            self._apply({name: int(value)})

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


def build_watcher(settings: Settings, db: Database) -> SqliteWatcher | PostgresWatcher:
    url = settings.sqlalchemy_url
    if settings.is_sqlite:
        direct = db.direct
        shared = direct.connection if isinstance(direct, SqliteDirect) else None
        return SqliteWatcher(url.split(":///", 1)[1], shared)
    return PostgresWatcher("postgresql://" + url.split("://", 1)[1], db)
