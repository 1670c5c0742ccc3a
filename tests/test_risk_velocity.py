"""Velocity across workers (kaimen.risk.velocity): two engines or stores sharing Redis, or sharing the
database, count each other's payments exactly, also when they race; memory (embedded mode) slides the
window; an unreachable Redis makes the engine ask for a step-up instead of failing or waving through."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path

import pytest
import redis.asyncio
from sqlalchemy import func, select

from kaimen.ledger.sandbox import SandboxLedger
from kaimen.risk import velocity as module
from kaimen.risk.decision import Outcome
from kaimen.risk.engine import RiskEngine, build_risk_engine
from kaimen.risk.facts import Tally
from kaimen.risk.models import RiskVelocityEvent
from kaimen.risk.velocity import (
    DatabaseVelocity,
    MemoryVelocity,
    RedisVelocity,
    VelocityStore,
    VelocityUnavailable,
    Window,
    build_velocity_store,
)
from kaimen.settings import load_settings
from kaimen.store.db import Database
from tests.risk_support import NOON, consent

CLOSED_PORT_URL = "redis://127.0.0.1:1/0"


async def _delete_keys(url: str, pattern: str) -> None:
    client = redis.asyncio.Redis.from_url(url)
    try:
        keys = [key async for key in client.scan_iter(match=pattern)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture
async def redis_pair(redis_url: str) -> AsyncIterator[tuple[RedisVelocity, RedisVelocity]]:
    """Two workers' stores on the test Redis, under a key prefix of their own."""
    prefix = f"kaimen-test:risk:{uuid.uuid4().hex}:"
    pair = (RedisVelocity(redis_url, key_prefix=prefix), RedisVelocity(redis_url, key_prefix=prefix))
    yield pair
    for store in pair:
        await store.close()
    await _delete_keys(redis_url, prefix + "*")


async def _race(stores: list[VelocityStore], hits: int) -> list[Tally]:
    """``hits`` concurrent hits on one key, alternating between ``stores``, all at NOON."""
    window = [Window("payment:tpp:race:GBP", 60)]
    results = await asyncio.gather(*(stores[n % len(stores)].hit(window, NOON, 100) for n in range(hits)))
    return [tallies[0] for tallies in results]


def _exact(tallies: list[Tally]) -> None:
    """Each racer saw a distinct count, 1 to N, and its sum matches: nobody was counted twice or lost."""
    assert sorted(t.count for t in tallies) == list(range(1, len(tallies) + 1))
    assert sorted(t.total_minor for t in tallies) == [100 * n for n in range(1, len(tallies) + 1)]


async def test_memory_window_slides_and_keys_are_apart() -> None:
    store = MemoryVelocity()
    windows = [Window("customer", 60), Window("tpp", 10)]
    assert await store.hit(windows, NOON, 500) == [Tally(1, 500), Tally(1, 500)]
    assert await store.hit(windows, NOON + timedelta(seconds=9), 200) == [Tally(2, 700), Tally(2, 700)]
    # Exactly 10 s after the first hit: it has left the 10 s window (windows are (at - 10 s, at]).
    assert await store.hit(windows, NOON + timedelta(seconds=10), 1) == [Tally(3, 701), Tally(2, 201)]
    assert await store.hit([Window("other", 60)], NOON, 7) == [Tally(1, 7)]
    await store.close()


async def test_memory_forgets_keys_whose_window_is_over(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(module, "SWEEP_EVERY", 2)
    store = MemoryVelocity()
    await store.hit([Window("old", 10)], NOON, 1)
    await store.hit([Window("new", 10)], NOON + timedelta(seconds=10), 1)
    assert set(store._events) == {"new"}
    assert await store.hit([Window("old", 10)], NOON + timedelta(seconds=10), 5) == [Tally(1, 5)]


async def test_two_workers_share_counts_in_redis(redis_pair: tuple[RedisVelocity, RedisVelocity]) -> None:
    first, second = redis_pair
    windows = [Window("customer:c1", 3600), Window("tpp:t1", 60)]
    assert await first.hit(windows, NOON, 1_000) == [Tally(1, 1_000), Tally(1, 1_000)]
    assert await second.hit(windows, NOON + timedelta(seconds=30), 2_000) == [
        Tally(2, 3_000),
        Tally(2, 3_000),
    ]
    # 60 s after the first hit it has left the TPP's minute, not the customer's hour.
    assert await first.hit(windows, NOON + timedelta(seconds=60), 4) == [Tally(3, 3_004), Tally(2, 2_004)]


async def test_racing_workers_count_exactly_in_redis(redis_pair: tuple[RedisVelocity, RedisVelocity]) -> None:
    _exact(await _race(list(redis_pair), 40))


async def test_racing_workers_count_exactly_in_the_database(database_url: str) -> None:
    """Two processes' Database handles on one database (PostgreSQL: advisory locks; SQLite: the write
    lock) never lose or double a count."""
    workers = [Database(database_url), Database(database_url)]
    try:
        stores: list[VelocityStore] = [DatabaseVelocity(db, longest_window_seconds=3600) for db in workers]
        _exact(await _race(stores, 30))
    finally:
        for worker in workers:
            await worker.dispose()


async def test_database_velocity_sweeps_old_rows(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(module, "SWEEP_EVERY", 3)
    store = DatabaseVelocity(db, longest_window_seconds=60)
    window = [Window("k", 60)]
    await store.hit(window, NOON, 1)
    await store.hit(window, NOON + timedelta(seconds=30), 1)
    assert await store.hit(window, NOON + timedelta(seconds=61), 1) == [Tally(2, 2)]
    async with db.read() as session:
        left = await session.scalar(select(func.count()).select_from(RiskVelocityEvent))
    assert left == 2  # the first row, 61 s old, was swept on the third hit


def test_the_store_follows_the_runtime_mode(tmp_path: Path) -> None:
    sqlite = Database(f"sqlite+aiosqlite:///{tmp_path / 'k.db'}")
    postgres = Database("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    try:
        assert isinstance(build_velocity_store(None, sqlite, longest_window_seconds=60), MemoryVelocity)
        assert isinstance(build_velocity_store(None, postgres, longest_window_seconds=60), DatabaseVelocity)
        redis = build_velocity_store(
            "redis://127.0.0.1:6379/0", sqlite, longest_window_seconds=60, max_connections=7
        )
        assert isinstance(redis, RedisVelocity)
        assert redis.redis.connection_pool.max_connections == 7  # KAIMEN_MAX_CONCURRENT_REQUESTS
    finally:
        asyncio.run(sqlite.dispose())
        asyncio.run(postgres.dispose())


# Engines: the card-testing burst spread over two workers.


@pytest.fixture
async def two_engines(
    db: Database, database_url: str, tmp_path: Path
) -> AsyncIterator[Callable[..., tuple[RiskEngine, RiskEngine]]]:
    """Two workers' engines: each its own Database handle on the shared database."""
    second: list[Database] = []

    def make(redis_url: str | None) -> tuple[RiskEngine, RiskEngine]:
        settings = load_settings(data_dir=tmp_path, database_url=database_url, redis_url=redis_url)
        ledger = SandboxLedger(db)
        second.append(Database(database_url))
        return (
            build_risk_engine(settings, db, ledger, clock=lambda: NOON),
            build_risk_engine(settings, second[-1], ledger, clock=lambda: NOON),
        )

    yield make
    for worker in second:
        await worker.dispose()


async def _burst(engines: tuple[RiskEngine, RiskEngine], client_id: str) -> list[Outcome]:
    outcomes = []
    for n in range(125):
        context = consent(
            subject_id=f"pcon_{n}",
            customer_id=None,
            client_id=client_id,
            amount_minor=100,
            at=NOON + timedelta(milliseconds=200 * n),
        )
        outcomes.append((await engines[n % 2].assess_consent(context)).outcome)
    return outcomes


async def _close(engines: tuple[RiskEngine, RiskEngine]) -> None:
    for engine in engines:
        await engine.close()


async def test_card_testing_across_two_workers_sharing_redis(
    two_engines: Callable[..., tuple[RiskEngine, RiskEngine]], redis_url: str
) -> None:
    client_id = f"client_{uuid.uuid4().hex}"
    engines = two_engines(redis_url)
    try:
        outcomes = await _burst(engines, client_id)
    finally:
        await _close(engines)
        await _delete_keys(redis_url, f"kaimen:risk:*{client_id}*")
    assert outcomes == [Outcome.ALLOW] * 60 + [Outcome.HOLD] * 59 + [Outcome.REJECT] * 6


async def test_card_testing_across_two_workers_sharing_postgresql(
    two_engines: Callable[..., tuple[RiskEngine, RiskEngine]], database_url: str
) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("embedded SQLite mode is one process: its counters are in memory")
    engines = two_engines(None)
    assert isinstance(engines[0].velocity, DatabaseVelocity)
    try:
        outcomes = await _burst(engines, "client_pg")
    finally:
        await _close(engines)
    assert outcomes == [Outcome.ALLOW] * 60 + [Outcome.HOLD] * 59 + [Outcome.REJECT] * 6


async def test_unreachable_redis_asks_for_a_step_up(
    two_engines: Callable[..., tuple[RiskEngine, RiskEngine]],
) -> None:
    engines = two_engines(CLOSED_PORT_URL)
    try:
        decision = await asyncio.wait_for(engines[0].assess_consent(consent(customer_id=None)), 5)
    finally:
        await _close(engines)
    assert (decision.outcome, decision.reasons) == (
        Outcome.STEP_UP,
        ("payment counts could not be checked (velocity store unavailable)",),
    )


async def test_redis_errors_become_velocity_unavailable() -> None:
    store = RedisVelocity(CLOSED_PORT_URL)
    try:
        with pytest.raises(VelocityUnavailable):
            await store.hit([Window("k", 60)], NOON, 1)
    finally:
        await store.close()


async def test_redis_sums_stay_exact_as_events_leave_the_window(
    redis_pair: tuple[RedisVelocity, RedisVelocity],
) -> None:
    """The running sum loses exactly the amounts of the events that left: compared with memory."""
    first, second = redis_pair
    memory = MemoryVelocity()
    window = [Window("tpp:sliding", 10)]
    for n in range(200):
        at = NOON + timedelta(milliseconds=137 * n)
        amount = (n * 7919) % 5000 + 1
        expected = await memory.hit(window, at, amount)
        assert await (first if n % 2 else second).hit(window, at, amount) == expected
