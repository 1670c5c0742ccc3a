"""Every rate limit of one call counted in one round trip to Redis (:class:`RedisCounters`).

A call on a UK OB API passes two or three limits (its application, its client IP, and customer-present
or unattended). Through ``limits``' storage each costs two script calls, one to take an entry and one
to read the window back for the ``RateLimit-*`` fields: four to six round trips per call, and
redis-py spends 75 to 100 µs of the worker's CPU on each (measured with uvloop against a local Redis),
more than the rest of the gateway together. One script here does all of it in one call.

It is ``limits``' sliding-window counter, step for step (its ``acquire_sliding_window.lua`` then
``sliding_window.lua``, for each limit in turn), on the very keys ``limits`` uses for the same limit
(``<prefix>:{<key>}`` and ``<prefix>:{<key>}/-1``, built by the storage itself), so a counter is the
same whether this script or ``limits`` moved it. What the batch adds: the limits are taken in order
and the first refusal ends the call, so a refused call never counts against the limits after it,
as when each was asked in turn.

The script names the keys of several limits, which a single Redis holds; ``limits``' RedisStorage is
that (a Redis Cluster would refuse keys of different hash slots in one script).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from limits.aio.storage import RedisStorage
from limits.aio.storage.redis.redispy import RedispyBridge

Window = tuple[int, float, int, float]  # previous count, its TTL (s), current count, its TTL (s)

# KEYS: previous and current key of each limit, in order; ARGV: its amount allowed and window (s).
# Returns, per limit taken: allowed (1 or 0), previous count, previous TTL (ms), current count,
# current TTL (ms); stops after the first refusal. All in one space-separated string: redis-py's
# RESP parser (pure Python) spent more on an array of ten integers than on the rest of the call.
_HIT_ALL = """
local results = {}
for i = 1, #KEYS / 2 do
    local previous_key, current_key = KEYS[2 * i - 1], KEYS[2 * i]
    local limit = tonumber(ARGV[2 * i - 1])
    local expiry = tonumber(ARGV[2 * i]) * 1000

    local current_ttl = tonumber(redis.call('pttl', current_key))
    if current_ttl > 0 and current_ttl < expiry then
        -- the current window has ended: it becomes the previous one
        redis.call('rename', current_key, previous_key)
        redis.call('set', current_key, 0, 'PX', current_ttl + expiry)
    end
    local previous_count = tonumber(redis.call('get', previous_key)) or 0
    local previous_ttl = math.max(tonumber(redis.call('pttl', previous_key)), 0)
    local current_count = tonumber(redis.call('get', current_key)) or 0
    current_ttl = math.max(tonumber(redis.call('pttl', current_key)), 0)

    local allowed = math.floor(previous_count * previous_ttl / expiry) + current_count + 1 <= limit
    if allowed then
        if redis.call('exists', current_key) == 1 then
            current_count = redis.call('incrby', current_key, 1)
        else
            redis.call('set', current_key, 1, 'PX', expiry * 2)
            current_count = 1
            current_ttl = expiry * 2
        end
    end
    local n = #results
    results[n + 1] = allowed and 1 or 0
    results[n + 2] = previous_count
    results[n + 3] = previous_ttl
    results[n + 4] = current_count
    results[n + 5] = current_ttl
    if not allowed then
        break
    end
end
return table.concat(results, ' ')
"""


class RedisCounters:
    """The sliding-window counters of a ``limits`` RedisStorage, several limits per round trip."""

    def __init__(self, storage: RedisStorage) -> None:
        self.storage = storage
        self._bridge = cast(RedispyBridge, storage.bridge)
        # redis-py's Script: EVALSHA, loading the script again if Redis lost it (a restart).
        self._script: Any = self._bridge.get_connection().register_script(_HIT_ALL.encode())

    async def hit_all(self, counts: Sequence[tuple[str, int, int]]) -> list[tuple[bool, Window]]:
        """Take one entry of each ``(key, amount allowed, window seconds)`` in order, up to and with
        the first refusal; each answer with the window as ``limits``' ``get_sliding_window`` reads it
        after the entry was taken."""
        keys: list[str] = []
        args: list[int] = []
        prefixed = self._bridge.prefixed_key
        for key, amount, window in counts:
            # The storage's own key names, so limits reads and clears these very counters.
            keys.append(prefixed(self.storage._previous_window_key(key)))
            keys.append(prefixed(self.storage._current_window_key(key)))
            args.append(amount)
            args.append(window)
        flat = [int(value) for value in (await self._script(keys=keys, args=args)).split()]
        return [
            (flat[i] == 1, (flat[i + 1], flat[i + 2] / 1000, flat[i + 3], flat[i + 4] / 1000))
            for i in range(0, len(flat), 5)
        ]
