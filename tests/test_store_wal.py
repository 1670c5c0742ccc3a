"""WAL checkpoints of the embedded SQLite database (kaimen.store.wal): the WAL stays bounded under
steady commits, a reader in another process that keeps it from restarting holds the writers up once
per back-off (not every hundred commits), and the checkpoint never waits behind other work on the
default thread pool."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import threading

import pytest

from kaimen.store import wal
from kaimen.store.direct import SqliteDirect, Statement
from kaimen.store.types import utcnow

_INSERT_ONCE = "INSERT INTO used_once (key, expires_at) VALUES (:key, :expires_at)"
LIMIT = 256 << 10
RESTART_REFUSED = "the WAL could not be restarted: another connection was reading, writing or checkpointing"


def _path(sqlite_url: str) -> str:
    return sqlite_url.split(":///", 1)[1]


def _wal_size(path: str) -> int:
    return os.path.getsize(path + "-wal")


async def _commit(direct: SqliteDirect, name: str, count: int, sizes: list[int] | None = None) -> None:
    for i in range(count):
        key = f"{name}-{i}-{'x' * 200}"  # large keys: a commit writes several pages
        await direct.run([Statement(_INSERT_ONCE, {"key": key, "expires_at": utcnow()})])
        if sizes is not None:
            sizes.append(_wal_size(direct.path))


async def test_the_wal_stays_bounded_under_steady_commits(sqlite_url: str) -> None:
    """A passive checkpoint never catches up with a writer that commits while it copies, and SQLite
    reuses the WAL from its start only once every frame is copied back: the WAL grew without end (400
    MB after 800,000 gateway calls; 35 MB after these 3,000 commits). Past the limit the writers pause
    for a RESTART, and the WAL starts over."""
    direct = SqliteDirect(_path(sqlite_url), wal_limit_bytes=LIMIT)
    sizes: list[int] = []
    try:
        await asyncio.gather(_commit(direct, "a", 1500, sizes), _commit(direct, "b", 1500, sizes))
        third = len(sizes) // 3
        assert max(sizes) > LIMIT  # the commits did pass the limit
        assert max(sizes[-third:]) < 1.5 * max(sizes[:third])  # and the WAL stopped growing
        assert max(sizes) < 12 << 20
        rows = await direct.rows("SELECT count(*) FROM used_once", {})
        assert rows == [(3000,)]  # nothing lost while the writers waited
    finally:
        await direct.close()


async def test_a_reader_that_stays_holds_the_writers_up_once_per_backoff(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Another process reading all along (a backup, an operator's shell) keeps any RESTART from
    finishing; SQLite says so only in its answer (busy). Each attempt holds this process's writers up
    to RESTART_WAIT_SECONDS: tried every hundred commits, it capped them at 200 commits/s. Now it is
    tried again only after a back-off, with a warning, and once the reader has gone the WAL restarts."""
    monkeypatch.setattr(wal, "FIRST_RESTART_BACKOFF_SECONDS", 3.0)
    path = _path(sqlite_url)
    reader = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    direct = SqliteDirect(path, wal_limit_bytes=LIMIT)
    try:
        await _commit(direct, "warm", 1)
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM used_once").fetchall()  # holds its snapshot
        with caplog.at_level(logging.WARNING, logger="kaimen.store"):
            await asyncio.gather(_commit(direct, "a", 1000), _commit(direct, "b", 1000))
        refused = [r for r in caplog.records if r.getMessage() == RESTART_REFUSED]
        assert len(refused) == 1  # one attempt in the back-off's 3 s, not one per hundred commits
        assert _wal_size(path) > 2 * LIMIT  # the reader kept the WAL from restarting

        reader.execute("COMMIT")
        direct.checkpoints._restart_after = 0.0  # the back-off is over
        sizes: list[int] = []
        await _commit(direct, "c", 400, sizes)
        assert min(sizes[-100:]) < LIMIT + (2 << 20)  # restarted and cut back
        rows = await direct.rows("SELECT count(*) FROM used_once", {})
        assert rows == [(2401,)]
    finally:
        reader.close()
        await direct.close()


async def test_checkpoints_do_not_wait_behind_the_default_thread_pool(sqlite_url: str) -> None:
    """Password hashing (Argon2, asyncio.to_thread) fills the default pool during a burst of logins;
    checkpoints queued behind it never ran, and a RESTART queued there would hold every write of the
    process up for as long. They have a thread of their own: the WAL stays bounded meanwhile."""
    direct = SqliteDirect(_path(sqlite_url), wal_limit_bytes=LIMIT)
    release = threading.Event()
    loop = asyncio.get_running_loop()
    busy = [loop.run_in_executor(None, release.wait) for _ in range(64)]  # every default thread taken
    sizes: list[int] = []
    try:
        await asyncio.wait_for(
            asyncio.gather(_commit(direct, "a", 1500, sizes), _commit(direct, "b", 1500, sizes)), 60
        )
        assert not any(job.done() for job in busy)  # the pool was blocked all along
        assert max(sizes) < 12 << 20  # 35 MB when no checkpoint ran
    finally:
        release.set()
        await asyncio.gather(*busy)
        await direct.close()


async def test_no_checkpoint_starts_once_closed(sqlite_url: str) -> None:
    """A passive checkpoint that ends after close (the WAL over its limit) starts no RESTART: it would
    have opened a new thread pool on a closed database."""
    direct = SqliteDirect(_path(sqlite_url), wal_limit_bytes=LIMIT)
    await _commit(direct, "a", 100)  # the hundredth commit starts a passive checkpoint
    running = direct.checkpoints._running
    assert running is not None
    assert _wal_size(direct.path) > LIMIT
    await direct.close()
    await asyncio.wait({running})
    assert direct.checkpoints._running is None  # its end started nothing
    assert direct.checkpoints._executor is None


async def test_a_checkpoint_that_cannot_start_never_fails_the_commit_before_it(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The count that starts a checkpoint comes after COMMIT: an error there (no thread could start)
    reached the group commit, which wrote each caller's statements again one by one."""

    def no_thread(*args: object, **kwargs: object) -> None:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(wal, "ThreadPoolExecutor", no_thread)
    direct = SqliteDirect(_path(sqlite_url), wal_limit_bytes=LIMIT)
    try:
        with caplog.at_level(logging.WARNING, logger="kaimen.store"):
            await asyncio.gather(_commit(direct, "a", 100), _commit(direct, "b", 100))
        assert await direct.rows("SELECT count(*) FROM used_once", {}) == [(200,)]
        assert any(r.getMessage() == "WAL checkpoint could not start" for r in caplog.records)
    finally:
        await direct.close()


async def test_a_database_opened_again_after_close_checkpoints_again(sqlite_url: str) -> None:
    direct = SqliteDirect(_path(sqlite_url), wal_limit_bytes=LIMIT)
    try:
        await _commit(direct, "a", 1)
        await direct.close()
        await _commit(direct, "b", 100)  # reopens
        assert direct.checkpoints._running is not None
    finally:
        await direct.close()
