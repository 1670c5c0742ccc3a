"""CallerDirectory (issue 2, item 3): cached lookups that drop at once when the registry changes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from kaimen.store.db import Database
from kaimen.tiers import Tier
from kaimen.tpp import keys
from kaimen.tpp.directory import CallerDirectory
from kaimen.tpp.registry import Registry, ReviewStatus


class FakeWatcher:
    """Stands in for kaimen.store.watch: the test says when the generation moves and whether it is healthy."""

    def __init__(self) -> None:
        self.healthy = True
        self.polls = 0
        self.callbacks: dict[str, list[Callable[[], None]]] = {}

    def on_change(self, name: str, callback: Callable[[], None]) -> None:
        self.callbacks.setdefault(name, []).append(callback)

    def poll(self) -> None:
        self.polls += 1

    def fire(self, name: str) -> None:
        for callback in self.callbacks.get(name, ()):
            callback()


@pytest.fixture
async def db(sqlite_url: str) -> AsyncIterator[Database]:
    database = Database(sqlite_url)
    yield database
    await database.dispose()


@pytest.fixture
def watcher() -> FakeWatcher:
    return FakeWatcher()


@pytest.fixture
def directory(db: Database, watcher: FakeWatcher, monkeypatch: pytest.MonkeyPatch) -> CallerDirectory:
    found = CallerDirectory(db, watcher, max_callers=4, max_refusals=3)
    found.reads = 0  # type: ignore[attr-defined]
    read = found._read

    async def counting_read(prefix: str) -> Any:
        found.reads += 1  # type: ignore[attr-defined]
        return await read(prefix)

    monkeypatch.setattr(found, "_read", counting_read)
    return found


async def _approved_key(db: Database, tier: Tier = Tier.MEMBER) -> tuple[str, str]:
    registry = Registry(db)
    app = await registry.register(
        organisation="Acme", application="A", tier=tier, status=ReviewStatus.APPROVED
    )
    return app.id, (await registry.create_key(app.id)).api_key


async def test_a_cached_lookup_reads_no_database_but_polls_the_watcher(
    directory: Any, db: Database, watcher: FakeWatcher
) -> None:
    app_id, api_key = await _approved_key(db)
    first = await directory.lookup(api_key)
    second = await directory.lookup(api_key)
    assert first == second
    assert first.application_id == app_id and first.tier is Tier.MEMBER
    assert directory.reads == 1
    assert watcher.polls == 2


async def test_a_generation_change_drops_the_cache(
    directory: Any, db: Database, watcher: FakeWatcher
) -> None:
    app_id, api_key = await _approved_key(db)
    assert await directory.lookup(api_key) is not None
    await Registry(db).set_status(app_id, ReviewStatus.SUSPENDED)
    watcher.fire("registry")
    assert await directory.lookup(api_key) is None
    assert directory.reads == 2


async def test_an_unhealthy_watcher_bypasses_the_cache(
    directory: Any, db: Database, watcher: FakeWatcher
) -> None:
    _, api_key = await _approved_key(db)
    watcher.healthy = False
    for _ in range(3):
        assert await directory.lookup(api_key) is not None
    assert directory.reads == 3


async def test_a_wrong_secret_behind_a_known_prefix_is_refused(directory: Any, db: Database) -> None:
    _, api_key = await _approved_key(db)
    forged = api_key[:21] + keys.generate().plaintext[21:]
    assert await directory.lookup(api_key) is not None
    assert await directory.lookup(forged) is None
    assert directory.reads == 1  # the forged key was checked against the cached digest


async def test_malformed_keys_never_reach_the_database(directory: Any) -> None:
    for candidate in ("", "secret", "kmn_", "kmn_0123456789abcdef_short", "x" * 64):
        assert await directory.lookup(candidate) is None
    assert directory.reads == 0


async def test_unknown_keys_cannot_grow_the_cache_or_evict_working_keys(directory: Any, db: Database) -> None:
    _, api_key = await _approved_key(db)
    assert await directory.lookup(api_key) is not None
    for _ in range(20):
        assert await directory.lookup(keys.generate().plaintext) is None
    assert len(directory._refused.entries) == 3
    assert len(directory._admitted.entries) == 1
    reads = directory.reads
    assert await directory.lookup(api_key) is not None
    assert directory.reads == reads  # still a cache hit


async def test_a_read_racing_a_change_is_not_cached(
    directory: Any, db: Database, watcher: FakeWatcher
) -> None:
    app_id, api_key = await _approved_key(db)
    read = directory._read

    async def read_then_change(prefix: str) -> Any:
        entry = await read(prefix)  # sees the application approved...
        await Registry(db).set_status(app_id, ReviewStatus.SUSPENDED)  # ...then it is suspended
        watcher.fire("registry")
        return entry

    directory._read = read_then_change
    assert await directory.lookup(api_key) is not None  # answered with what it read
    directory._read = read
    assert await directory.lookup(api_key) is None  # but did not cache it
