"""Sliding-window counters per customer and per TPP, shared by every worker (DESIGN.md runtime modes):

- Redis when ``KAIMEN_REDIS_URL`` is set: per key a sorted set (score: the time in ms; member: a random
  id and the amount) and a running sum, updated and read for every window in one atomic Lua call, one
  round trip;
- PostgreSQL without Redis: ``risk_velocity_events`` rows, the keys locked with transaction-scoped
  advisory locks so concurrent workers count each other exactly;
- embedded SQLite mode (one process, DESIGN.md): memory.

``hit`` records this assessment in every window and answers each window's count and sum, this one
included. A window covers (at - seconds, at]. Times come from the caller (the engine's clock), so
workers' clocks must agree, as they must for every other time Kaimen compares.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import text

from kaimen.risk.facts import Tally
from kaimen.settings import MAX_CONCURRENT_REQUESTS
from kaimen.store.db import Database

REDIS_CONNECT_TIMEOUT = 0.25
REDIS_SOCKET_TIMEOUT = 0.5
SWEEP_EVERY = 500


class VelocityUnavailable(Exception):
    """The shared counter store could not be reached."""


@dataclass(frozen=True, slots=True)
class Window:
    key: str
    seconds: int


class VelocityStore(Protocol):
    async def hit(self, windows: Sequence[Window], at: datetime, amount_minor: int) -> list[Tally]: ...

    async def close(self) -> None: ...


class MemoryVelocity:
    """Embedded mode's counters: one process (settings refuse more workers without Redis). Every
    ``SWEEP_EVERY`` hits, keys whose every event has left its window are forgotten."""

    def __init__(self) -> None:
        self._events: dict[str, deque[tuple[datetime, int]]] = {}
        self._windows: dict[str, int] = {}
        self._hits = 0

    async def hit(self, windows: Sequence[Window], at: datetime, amount_minor: int) -> list[Tally]:
        tallies = []
        for window in windows:
            events = self._events.setdefault(window.key, deque())
            self._windows[window.key] = window.seconds
            since = at - timedelta(seconds=window.seconds)
            while events and events[0][0] <= since:
                events.popleft()
            events.append((at, amount_minor))
            inside = [amount for moment, amount in events if moment > since]
            tallies.append(Tally(len(inside), sum(inside)))
        self._hits += 1
        if self._hits % SWEEP_EVERY == 0:
            self._sweep(at)
        return tallies

    def _sweep(self, at: datetime) -> None:
        for key in [
            key
            for key, events in self._events.items()
            if not events or events[-1][0] <= at - timedelta(seconds=self._windows[key])
        ]:
            del self._events[key]
            del self._windows[key]

    async def close(self) -> None:
        self._events.clear()
        self._windows.clear()


# KEYS: per window, its sorted set (score: time in ms; member: "id:amount") and its running sum.
# ARGV: now (ms), member id, amount, then each window's length (ms). Expired members are read (to take
# their amounts off the sum) and removed, so each call costs O(log n) plus the expired ones, never a
# scan of the window. Both keys expire a window after the last hit.
_HIT = """
local now = tonumber(ARGV[1])
local amount = tonumber(ARGV[3])
local member = ARGV[2] .. ':' .. ARGV[3]
local out = {}
for i = 1, #KEYS, 2 do
  local events, sum = KEYS[i], KEYS[i + 1]
  local window = tonumber(ARGV[3 + (i + 1) / 2])
  local cutoff = now - window
  local total = tonumber(redis.call('GET', sum) or '0')
  local expired = redis.call('ZRANGEBYSCORE', events, '-inf', cutoff)
  for _, m in ipairs(expired) do
    total = total - tonumber(string.match(m, ':(%-?%d+)$'))
  end
  if #expired > 0 then
    redis.call('ZREMRANGEBYSCORE', events, '-inf', cutoff)
  end
  redis.call('ZADD', events, now, member)
  total = total + amount
  redis.call('SET', sum, string.format('%d', total), 'PX', window)
  redis.call('PEXPIRE', events, window)
  out[#out + 1] = redis.call('ZCARD', events)
  out[#out + 1] = total
end
return out
"""


class RedisVelocity:
    def __init__(
        self, url: str, *, key_prefix: str = "kaimen:risk:", max_connections: int = MAX_CONCURRENT_REQUESTS
    ) -> None:
        from redis.asyncio import Redis

        self.redis: Any = Redis.from_url(
            url,
            socket_connect_timeout=REDIS_CONNECT_TIMEOUT,
            socket_timeout=REDIS_SOCKET_TIMEOUT,
            max_connections=max_connections,  # one per request a worker works on (kaimen.settings)
        )
        self.key_prefix = key_prefix
        self._script = self.redis.register_script(_HIT)

    async def hit(self, windows: Sequence[Window], at: datetime, amount_minor: int) -> list[Tally]:
        from redis.exceptions import RedisError

        now_ms = int(at.timestamp() * 1000)
        keys = []
        for window in windows:
            keys += [self.key_prefix + window.key, self.key_prefix + window.key + ":sum"]
        args: list[int | str] = [now_ms, uuid.uuid4().hex, amount_minor]
        args += [window.seconds * 1000 for window in windows]
        try:
            flat = await self._script(keys=keys, args=args)
        except (RedisError, OSError) as error:
            raise VelocityUnavailable(str(error)) from error
        return [Tally(int(flat[i]), int(flat[i + 1])) for i in range(0, len(flat), 2)]

    async def close(self) -> None:
        await self.redis.aclose()


_INSERT = text("INSERT INTO risk_velocity_events (key, at, amount_minor) VALUES (:key, :at, :amount)")
_SWEEP = text("DELETE FROM risk_velocity_events WHERE at <= :before")
# pg_advisory_xact_lock: held to the end of the transaction; keys are taken in sorted order so two
# workers locking the same keys never deadlock.
_LOCK = text("SELECT pg_advisory_xact_lock(:lock)")


def _lock_id(key: str) -> int:
    return int.from_bytes(hashlib.sha256(b"kaimen.risk:" + key.encode()).digest()[:8], "big", signed=True)


class DatabaseVelocity:
    """``risk_velocity_events``, one transaction per hit: lock the keys (PostgreSQL), insert, count."""

    def __init__(self, db: Database, *, longest_window_seconds: int) -> None:
        self.db = db
        self.longest = timedelta(seconds=longest_window_seconds)
        self._hits = 0

    async def hit(self, windows: Sequence[Window], at: datetime, amount_minor: int) -> list[Tally]:
        conditions = " OR ".join(f"(key = :k{n} AND at > :s{n})" for n in range(len(windows)))
        count = text(
            f"SELECT key, count(*), coalesce(sum(amount_minor), 0) FROM risk_velocity_events "  # noqa: S608
            f"WHERE {conditions} GROUP BY key"
        )
        params: dict[str, Any] = {}
        for n, window in enumerate(windows):
            params[f"k{n}"] = window.key
            params[f"s{n}"] = at - timedelta(seconds=window.seconds)
        self._hits += 1
        async with self.db.write() as session:
            if not self.db.is_sqlite:
                for lock in sorted({_lock_id(window.key) for window in windows}):
                    await session.execute(_LOCK, {"lock": lock})
            stored_at = _bind(at, self.db)
            for key in {window.key for window in windows}:
                await session.execute(_INSERT, {"key": key, "at": stored_at, "amount": amount_minor})
            bound = {name: _bind(value, self.db) for name, value in params.items()}
            found = {row[0]: Tally(int(row[1]), int(row[2])) for row in await session.execute(count, bound)}
            if self._hits % SWEEP_EVERY == 0:
                await session.execute(_SWEEP, {"before": _bind(at - self.longest, self.db)})
        return [found.get(window.key, Tally(0, 0)) for window in windows]

    async def close(self) -> None:
        return None


def _bind(value: Any, db: Database) -> Any:
    """Plain-SQL values stored as the models store them (kaimen.store.direct,
    kaimen.store.direct_postgres)."""
    from kaimen.store.direct import sqlite_value
    from kaimen.store.direct_postgres import postgres_value

    return sqlite_value(value) if db.is_sqlite else postgres_value(value)


def build_velocity_store(
    redis_url: str | None,
    db: Database,
    *,
    longest_window_seconds: int,
    max_connections: int = MAX_CONCURRENT_REQUESTS,
) -> VelocityStore:
    """Redis when configured (every worker shares it); embedded SQLite's one process keeps them in
    memory; PostgreSQL without Redis in the database."""
    if redis_url:
        return RedisVelocity(redis_url, max_connections=max_connections)
    if db.is_sqlite:
        return MemoryVelocity()
    return DatabaseVelocity(db, longest_window_seconds=longest_window_seconds)
