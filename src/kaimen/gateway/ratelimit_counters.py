"""Sliding-window counters behind the rate limits: the gateway's per-API limits
(kaimen.gateway.ratelimit) and the login throttle per client IP (kaimen.identity.throttle) both count
with a :class:`Limiter`, and each decides for itself what a count means for its call.

Counters live in process memory in embedded mode (:class:`LocalCounters`) and in Redis (``limits``'
storage) when ``KAIMEN_REDIS_URL`` is set, so a limit holds across every worker. A store that cannot
be reached raises :class:`StoreDown` and is left alone for a while; what a call does without it is
the caller's decision (``KAIMEN_REDIS_DOWN``).

Strategy: sliding-window counter. It keeps two integers per key (a moving window keeps one entry per
request, so a 1200/minute limit costs 1200 entries per caller) and updates them in one atomic Lua call
on Redis, yet it does not allow the double burst a fixed window allows across a window boundary: the
previous window's count is weighted by how much of it still overlaps the sliding window.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, cast

from limits import parse
from limits.aio.storage import RedisStorage, Storage
from limits.aio.storage.redis.redispy import RedispyBridge
from limits.errors import StorageError
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from kaimen.gateway.ratelimit_redis import RedisCounters
from kaimen.settings import Settings

# Redis must answer quickly or be treated as down: a rate limiter that waits on a dead store stalls
# every request behind it. No retries (redis-py retries 3 times by default).
REDIS_CONNECT_TIMEOUT = 0.25
REDIS_SOCKET_TIMEOUT = 0.5
# After a failure the store is not asked again for this long, so a blackholed Redis costs one timeout
# per interval, not one per request; after it the next call tries again (recovery needs no restart).
RETRY_INTERVAL_SECONDS = 1.0


class StoreDown(Exception):
    """The rate-limit store could not be reached."""


class Verdict(NamedTuple):
    """One limit's answer (a tuple: it is made twice per call on the gateway's hot path). ``reset`` is
    worked out only for the verdict that is reported, from the window the counter was read in."""

    allowed: bool
    limit: int
    remaining: int
    rate: Rate
    window: tuple[int, float, int, float]  # previous, previous_ttl, current, current_ttl

    @property
    def reset(self) -> int:
        """Delta seconds until quota is freed (at least 1)."""
        return max(1, math.ceil(seconds_until_freed(self.rate, *self.window)))

    def fields(self) -> list[tuple[bytes, bytes]]:
        return [
            (b"ratelimit-limit", str(self.limit).encode()),
            (b"ratelimit-remaining", str(self.remaining).encode()),
            (b"ratelimit-reset", str(self.reset).encode()),
        ]


@dataclass(frozen=True, slots=True)
class Rate:
    amount: int
    window: int  # seconds
    label: str  # part of the counter key: a changed rate starts counting afresh

    @classmethod
    def parse(cls, text: str) -> Rate:
        rate = _PARSED.get(text)
        if rate is None:
            item = parse(text)
            label = f"{item.amount}/{item.multiples}/{item.GRANULARITY.name}"
            rate = _PARSED[text] = cls(item.amount, item.get_expiry(), label)
        return rate

    def counter_key(self, kind: str, api: str, who: str) -> str:
        """The key of ``who``'s counter of ``kind`` on ``api`` at this rate, in memory and in Redis."""
        return f"{kind}/{api}/{who}/{self.label}"


# Rate strings come from settings only, so this holds a handful of entries.
_PARSED: dict[str, Rate] = {}


def seconds_until_freed(
    rate: Rate, previous: int, previous_ttl: float, current: int, current_ttl: float
) -> float:
    """When the weighted count next drops by one: a previous-window hit ages out every
    ``window / previous`` seconds; the current window's hits start to age when it becomes previous."""
    soonest = math.inf
    if previous:
        soonest = previous_ttl % (rate.window / previous)
    if current:
        soonest = min(soonest, current_ttl % rate.window)
    return 0.0 if soonest is math.inf else soonest


class LocalCounters:
    """Sliding-window counters in this process (embedded mode: one process serves every request).

    The same algorithm and the same (previous, previous_ttl, current, current_ttl) view as the
    ``limits`` storages, without their per-call locks and awaits: measured on the gateway's hot path,
    ``limits``' async memory storage cost ~9 µs per limit and this ~1 µs (bench/profile_gateway.py). The
    event loop runs one step at a time, so a read-modify-write here needs no lock. Counters of windows
    that have ended are swept when the table grows.
    """

    SWEEP_AT = 100_000

    def __init__(self) -> None:
        self._windows: dict[str, list[int]] = {}  # key -> [window index, previous count, current count]

    def hit(self, key: str, amount: int, window: int) -> tuple[bool, tuple[int, float, int, float]]:
        now = time.time()
        index = int(now // window)
        entry = self._windows.get(key)
        if entry is None or entry[0] < index - 1:
            previous = current = 0
        elif entry[0] == index - 1:
            previous, current = entry[2], 0
        else:
            previous, current = entry[1], entry[2]
        remaining_in_window = (1 - (now / window) % 1) * window
        previous_ttl = remaining_in_window if previous else 0.0
        allowed = math.floor(previous * previous_ttl / window + current) + 1 <= amount
        if allowed:
            current += 1
        if entry is None:
            if len(self._windows) >= self.SWEEP_AT:
                self._sweep(index)
            self._windows[key] = [index, previous, current]
        else:
            entry[0], entry[1], entry[2] = index, previous, current
        return allowed, (previous, previous_ttl, current, remaining_in_window + window)

    def _sweep(self, index: int) -> None:
        # Only counters of the current or the previous window still count; this compares window indexes
        # of every rate at once, which keeps more than needed for long windows, never less.
        self._windows = {k: v for k, v in self._windows.items() if v[0] >= index - 1}


class Limiter:
    """Sliding-window counters in process memory or in a ``limits`` RedisStorage; a store failure
    becomes StoreDown.

    Keys are built once per call and the counters asked directly: the generic strategy object
    rebuilds the key and re-reads the window, which tripled the cost of an in-memory check on the
    gateway's hot path. On Redis every limit of a call is counted in one round trip
    (kaimen.gateway.ratelimit_redis).
    """

    def __init__(
        self, storage: Storage | LocalCounters, *, retry_interval: float = RETRY_INTERVAL_SECONDS
    ) -> None:
        self.local = storage if isinstance(storage, LocalCounters) else None
        if self.local is None and not isinstance(storage, RedisStorage):
            raise TypeError(f"{type(storage).__name__} is neither in-process counters nor Redis")
        self.storage: Any = storage
        self.redis = RedisCounters(storage) if isinstance(storage, RedisStorage) else None
        self.retry_interval = retry_interval
        # Memory storage cannot fail; catching nothing there keeps real bugs loud.
        self._failures: tuple[type[BaseException], ...] = (
            (StorageError, *_as_tuple(storage.base_exceptions)) if isinstance(storage, RedisStorage) else ()
        )
        self._down_until = 0.0

    async def hit(self, rate_text: str, kind: str, api: str, who: str) -> Verdict:
        return (await self.hit_all(((rate_text, kind, api, who),)))[0]

    async def hit_all(self, limits: Sequence[tuple[str, str, str, str]]) -> list[Verdict]:
        """Count one call against each ``(rate, kind, api, who)`` in order, up to and with the first
        refusal: a refused call is not counted by the limits after it. One verdict per limit taken."""
        local = self.local
        if local is None:
            return await self._hit_redis(limits)
        verdicts = []
        for rate_text, kind, api, who in limits:  # the embedded gateway's hot path: kept plain
            rate = Rate.parse(rate_text)
            allowed, window = local.hit(rate.counter_key(kind, api, who), rate.amount, rate.window)
            verdicts.append(self._verdict(rate, allowed, window))
            if not allowed:
                break
        return verdicts

    async def _hit_redis(self, limits: Sequence[tuple[str, str, str, str]]) -> list[Verdict]:
        if self._down_until and time.monotonic() < self._down_until:
            raise StoreDown
        assert self.redis is not None
        rates = [Rate.parse(rate_text) for rate_text, _, _, _ in limits]
        counts = [
            (rate.counter_key(kind, api, who), rate.amount, rate.window)
            for rate, (_, kind, api, who) in zip(rates, limits, strict=True)
        ]
        try:
            answers = await self.redis.hit_all(counts)
        except self._failures as exc:
            self._down_until = time.monotonic() + self.retry_interval
            raise StoreDown from exc
        self._down_until = 0.0
        return [
            self._verdict(rate, allowed, window)
            for rate, (allowed, window) in zip(rates, answers, strict=False)
        ]

    @staticmethod
    def _verdict(rate: Rate, allowed: bool, window: tuple[int, float, int, float]) -> Verdict:
        previous, previous_ttl, current, _ = window
        remaining = rate.amount - math.floor(previous * previous_ttl / rate.window + current)
        return Verdict(allowed, rate.amount, remaining if remaining > 0 else 0, rate, window)

    async def close(self) -> None:
        if isinstance(self.storage, RedisStorage):
            client: Any = cast(RedispyBridge, self.storage.bridge).get_connection()
            await client.aclose()


def _as_tuple(exceptions: Any) -> tuple[type[BaseException], ...]:
    return exceptions if isinstance(exceptions, tuple) else (exceptions,)


def _redis_storage(url: str, key_prefix: str, max_connections: int) -> RedisStorage:
    scheme, rest = url.split("://", 1)
    uri = "async+redis+unix://" + rest if scheme == "unix" else f"async+{scheme}://{rest}"
    client_options: dict[str, Any] = {
        "socket_connect_timeout": REDIS_CONNECT_TIMEOUT,
        "socket_timeout": REDIS_SOCKET_TIMEOUT,
        "retry": Retry(NoBackoff(), 0),
        # One connection per request a worker works on (KAIMEN_MAX_CONCURRENT_REQUESTS). redis-py's
        # pool stops at 100 by default and refuses past it (MaxConnectionsError), which this limiter
        # took for Redis being down: 503 for a second under a burst of 120 calls on one worker.
        "max_connections": max_connections,
    }
    return RedisStorage(
        uri, implementation="redispy", key_prefix=key_prefix, wrap_exceptions=True, **client_options
    )


def build_rate_limiter(settings: Settings, *, key_prefix: str = "kaimen:ratelimit") -> Limiter:
    """Redis when ``redis_url`` is set (shared by every worker), else in-process memory."""
    if settings.redis_url:
        return Limiter(_redis_storage(settings.redis_url, key_prefix, settings.max_concurrent_requests))
    return Limiter(LocalCounters())
