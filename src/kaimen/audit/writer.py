"""Writes one audit record per API call, off the request path.

The ``api.call.completed`` subscriber runs on every request, so it only appends the finished Call
and one monotonic clock reading to a deque; building the record (UTC time, strings, hashing) waits
for the flush. A background task flushes every ``flush_interval_seconds``, or as soon as ``batch_size``
records wait, one transaction per batch (kaimen.audit.store.append).

- A failed flush (database down) keeps the batch at the head of the queue and retries with
  exponential back-off; records leave the queue only once committed.
- Overflow: when ``queue_limit`` records wait, new calls are not queued (the ones already waiting
  keep their place, and the queue cannot grow without bound while the database is down). Each drop
  is counted in :attr:`AuditWriter.dropped` and reported at ERROR level by the flusher (not per call,
  so a flood cannot also flood the log).
- ``stop()`` flushes everything still queued: a clean stop loses none. If the database stays down,
  it gives up after ``shutdown_timeout`` seconds and logs how many records were lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass
from itertools import islice
from typing import Any

from kaimen.audit.record import fields_of
from kaimen.audit.store import append
from kaimen.events import API_CALL_COMPLETED, EventBus
from kaimen.gateway.context import Call
from kaimen.settings import AuditSettings
from kaimen.store.db import Database

log = logging.getLogger("kaimen.audit")

Pending = tuple[Call, int]  # the call and time.perf_counter_ns() when it ended


@dataclass(frozen=True, slots=True)
class Backoff:
    first_seconds: float = 0.1
    max_seconds: float = 10.0


DEFAULT_BACKOFF = Backoff()


class AuditWriter:
    def __init__(
        self,
        db: Database,
        settings: AuditSettings,
        events: EventBus,
        *,
        backoff: Backoff = DEFAULT_BACKOFF,
        shutdown_timeout: float = 30.0,
    ) -> None:
        self.db = db
        self.settings = settings
        self.backoff = backoff
        self.shutdown_timeout = shutdown_timeout
        self._limit = settings.queue_limit
        self._batch_size = settings.batch_size
        self.dropped = 0  # calls never audited because the queue was full
        self._reported_dropped = 0
        self._queue: deque[Pending] = deque()
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        # One drain at a time: flush() may run while the background task drains the same queue.
        self._draining = asyncio.Lock()
        events.subscribe(API_CALL_COMPLETED, self._on_call)

    def _on_call(self, _name: str, call: Any) -> None:
        # The hot path: one clock read and one tuple, nothing formatted.
        queue = self._queue
        if len(queue) >= self._limit:
            self.dropped += 1
            return
        queue.append((call, time.perf_counter_ns()))
        if len(queue) >= self._batch_size:
            self._wake.set()

    @property
    def queued(self) -> int:
        return len(self._queue)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="kaimen-audit-writer")

    async def stop(self) -> None:
        if self._task is None:
            return
        self._closing = True
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), self.shutdown_timeout)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            log.error("audit writer stopped with records unwritten", extra={"lost": len(self._queue)})
        self._task = None
        self._report_drops()

    async def flush(self) -> None:
        """Write every queued record now (a trail read right after a call, a test)."""
        await self._drain()

    async def _run(self) -> None:
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.flush_interval_seconds)
            # Cleared before draining, so a batch filling up during the drain wakes the next round.
            self._wake.clear()
            await self._drain()
            self._report_drops()
        await self._drain()

    async def _drain(self) -> None:
        async with self._draining:
            await self._drain_queue()

    async def _drain_queue(self) -> None:
        delay = self.backoff.first_seconds
        while self._queue:
            pending = list(islice(self._queue, self._batch_size))
            try:
                offset = time.time_ns() - time.perf_counter_ns()
                await append(self.db, [fields_of(call, ended, offset) for call, ended in pending])
            except Exception as exc:
                # The type only: a driver's message can quote SQL parameters.
                log.warning(
                    "audit flush failed; retrying",
                    extra={"error": type(exc).__name__, "queued": len(self._queue), "retry_in": delay},
                )
                self._report_drops()  # an outage is when the queue overflows: say so now, not after it
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.backoff.max_seconds)
                continue
            for _ in pending:
                self._queue.popleft()
            delay = self.backoff.first_seconds

    def _report_drops(self) -> None:
        if self.dropped > self._reported_dropped:
            log.error(
                "audit queue full: calls were not audited",
                extra={
                    "dropped": self.dropped - self._reported_dropped,
                    "dropped_total": self.dropped,
                    "queue_limit": self.settings.queue_limit,
                },
            )
            self._reported_dropped = self.dropped
