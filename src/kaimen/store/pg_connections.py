"""The connections of kaimen.store.direct_postgres: a small pool of asyncpg connections.

asyncpg's own pool cost 25 to 40 µs of CPU per checkout and release (its release runs under
``asyncio.shield`` with callbacks and timers of its own), more than a one-row read itself takes, and
an AIS call on PostgreSQL checks out four times (a local server, uvloop, measured side by side with
one bare connection). This pool does only what these statements need:

- at most ``max_size`` connections, handed out last in, first out (the busiest stay warm), waiting
  callers queued in order;
- a connection goes back only when its call ended normally or with an ordinary server error, outside
  a transaction; any other failure (the connection lost, the call cancelled) discards it, and drops
  every other connection too: a lost connection most often means the server restarted. Idle ones go at
  once, those in use when they come back (a generation number tells them apart);
- nothing is reset on release: the statements change no session state (see PostgresDirect).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any


class ConnectionPool:
    def __init__(
        self, connect: Mapping[str, Any], *, max_size: int, reusable: Callable[[BaseException], bool]
    ) -> None:
        """``connect``: asyncpg.connect's arguments; ``reusable(error)``: whether a connection whose
        call raised ``error`` may be used again."""
        if max_size < 1:
            raise ValueError("a pool needs room for one connection at least")
        self._connect = dict(connect)
        self._reusable = reusable
        self._slots = asyncio.Semaphore(max_size)
        self._idle: list[tuple[Any, int]] = []  # (connection, generation), the most recent last
        self._generation = 0
        self._closed = False

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[Any]:
        await self._slots.acquire()
        try:
            conn, generation = await self._take()
        except BaseException:
            self._slots.release()
            raise
        keep = True
        try:
            yield conn
        except BaseException as error:
            if not self._reusable(error):
                keep = False
                self.expire()
            raise
        finally:
            self._give_back(conn, generation, keep)
            self._slots.release()

    async def _take(self) -> tuple[Any, int]:
        if self._closed:
            raise RuntimeError("the connection pool is closed")
        while self._idle:
            conn, generation = self._idle.pop()
            if generation == self._generation and not conn.is_closed():
                return conn, generation
            conn.terminate()
        import asyncpg  # type: ignore[import-untyped]

        generation = self._generation
        return await asyncpg.connect(**self._connect), generation

    def _give_back(self, conn: Any, generation: int, keep: bool) -> None:
        if (
            keep
            and not self._closed
            and generation == self._generation
            and not conn.is_closed()
            and not conn.is_in_transaction()
        ):
            self._idle.append((conn, generation))
        else:
            conn.terminate()  # no round trip: the connection is broken or no longer wanted

    def expire(self) -> None:
        """Drop every connection: the idle ones now, those in use when they come back."""
        self._generation += 1
        idle, self._idle = self._idle, []
        for conn, _ in idle:
            conn.terminate()

    async def close(self) -> None:
        """Close the idle connections (those in use are dropped when they come back)."""
        self._closed = True
        idle, self._idle = self._idle, []
        for conn, _ in idle:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), timeout=1)
