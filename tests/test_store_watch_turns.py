"""The SQLite generation watcher reads once per turn of the event loop, and still lets every call that
arrives after a commit see it (kaimen.store.watch.SqliteWatcher: a poll queues its "stale" marker
before it reads, and the loop runs callbacks first in, first out)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from kaimen.store.watch import SqliteWatcher


class Counters:
    """A database file with the ``generations`` table, the watcher's connection (its statements
    traced) and a second connection that commits changes, as another process would."""

    def __init__(self, path: Path) -> None:
        self.writer = sqlite3.connect(path, isolation_level=None)
        self.writer.execute("PRAGMA journal_mode=WAL")
        self.writer.execute("CREATE TABLE generations (name TEXT PRIMARY KEY, value INTEGER NOT NULL)")
        self.writer.execute("INSERT INTO generations VALUES ('registry', 1)")
        self.reader = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.statements: list[str] = []
        self.reader.set_trace_callback(self.statements.append)
        self.changes = 0
        self.watcher = SqliteWatcher(str(path), connection=lambda: self.reader)
        self.watcher.on_change("registry", self._changed)

    def _changed(self) -> None:
        self.changes += 1

    def bump(self) -> None:
        self.writer.execute("UPDATE generations SET value = value + 1 WHERE name = 'registry'")

    def reads(self) -> int:
        return sum(statement == "PRAGMA data_version" for statement in self.statements)


@pytest.fixture
async def counters(tmp_path: Path) -> Counters:
    counters = Counters(tmp_path / "watch.db")
    await counters.watcher.start()  # the first poll applies the initial value
    await asyncio.sleep(0)  # end the turn of that first read
    counters.statements.clear()
    counters.changes = 0
    return counters


async def test_polls_within_one_turn_read_the_database_once(counters: Counters) -> None:
    for _ in range(5):
        counters.watcher.poll()
    assert counters.reads() == 1


async def test_the_next_turn_reads_again(counters: Counters) -> None:
    counters.watcher.poll()
    await asyncio.sleep(0)
    counters.watcher.poll()
    assert counters.reads() == 2


async def test_a_call_queued_after_a_commit_sees_it_even_when_this_turn_already_read(
    counters: Counters,
) -> None:
    """The server queues each arriving request on the loop; one that arrives after the commit is
    queued after the poll's stale marker, so it reads again."""
    counters.watcher.poll()
    counters.bump()  # committed after this turn's read
    seen: list[int] = []
    loop = asyncio.get_running_loop()
    arrived = loop.create_future()

    def call() -> None:  # a request arriving now
        counters.watcher.poll()
        seen.append(counters.changes)
        arrived.set_result(None)

    loop.call_soon(call)
    await arrived
    assert seen == [1]


async def test_a_commit_by_another_connection_is_seen_on_the_next_turn(counters: Counters) -> None:
    counters.watcher.poll()
    assert counters.changes == 0
    counters.bump()
    await asyncio.sleep(0)
    counters.watcher.poll()
    assert counters.changes == 1


def test_outside_an_event_loop_every_poll_reads(tmp_path: Path) -> None:
    counters = Counters(tmp_path / "watch.db")
    asyncio.run(counters.watcher.start())
    counters.statements.clear()
    counters.watcher.poll()
    counters.bump()
    counters.watcher.poll()
    assert counters.reads() == 2
    assert counters.changes == 2  # the initial value, then the bump


def test_a_loop_closed_before_its_marker_ran_leaves_no_fresh_reading(tmp_path: Path) -> None:
    """Tests and short-lived tools close loops; the next loop must read for itself."""
    counters = Counters(tmp_path / "watch.db")
    first = asyncio.new_event_loop()
    try:
        first.run_until_complete(counters.watcher.start())
        first.call_soon(counters.watcher.poll)  # reads, and queues its marker...
        first.call_soon(first.stop)
        first.run_forever()
    finally:
        first.close()  # ...which never runs

    async def later() -> None:
        counters.statements.clear()
        counters.bump()
        counters.watcher.poll()

    asyncio.run(later())
    assert counters.reads() == 1
    assert counters.changes == 2
