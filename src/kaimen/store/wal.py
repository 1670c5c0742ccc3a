"""WAL checkpoints of a SQLite database, for the process's one writing connection (kaimen.store.direct).

Copying the WAL back into the database (with an fsync) never runs in a commit on the event loop: the
writing connection turns SQLite's automatic checkpoints off, and every ``CHECKPOINT_EVERY_COMMITS``
commits a checkpoint runs on a thread of its own (SQLite releases the GIL while it copies; a thread
shared with other work, such as password hashing, would make it wait behind that work).

PASSIVE copies what it can without waiting for readers or writers. But SQLite writes the WAL from its
start again only once every frame is copied back, and under steady traffic the writer always commits
more while a passive checkpoint copies: the WAL grew without end (400 MB after 800,000 gateway calls).
So when the WAL file has grown past its limit, the passive checkpoint (which copies most of it while
writers go on) is followed by a RESTART: the writer's transactions wait for it (an asyncio wait: the
loop goes on), it copies the little that came meanwhile and waits for readers to leave the WAL, and
the next writer starts the WAL over and cuts its file back to the limit (journal_size_limit). SQLite,
"Write-Ahead Logging", section "Avoiding Excessively Large WAL Files"; sqlite3_wal_checkpoint_v2().

A RESTART waits at most ``RESTART_WAIT_SECONDS`` for another process's writer or reader (SQLite's busy
handler); a reader that stays longer (a backup, an operator's shell) makes it give up, and SQLite says
so only in its answer (busy = 1). Then no RESTART is tried again for a while, doubling up to
``MAX_RESTART_BACKOFF_SECONDS``, and a warning says why the WAL is growing: the writers are held up
at most once per back-off, not every hundred commits.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor

log = logging.getLogger("kaimen.store")

CHECKPOINT_EVERY_COMMITS = 100
# Past this size the WAL is restarted, and a WAL started over is cut back to it.
WAL_LIMIT_BYTES = 32 << 20
RESTART_WAIT_SECONDS = 0.5
FIRST_RESTART_BACKOFF_SECONDS = 1.0
MAX_RESTART_BACKOFF_SECONDS = 60.0

PASSIVE = "PASSIVE"
RESTART = "RESTART"

Outcome = tuple[int, int, int]  # SQLite's answer: busy, frames in the WAL, frames copied back


class WalCheckpoints:
    def __init__(self, path: str, *, limit_bytes: int = WAL_LIMIT_BYTES) -> None:
        self.path = path
        self.limit_bytes = limit_bytes
        self._commits = 0  # since the last checkpoint
        self._running: asyncio.Future[Outcome] | None = None
        self._restart: asyncio.Future[Outcome] | None = None  # the running one, when it restarts
        self._restart_after = 0.0  # time.monotonic() before which no RESTART is tried
        self._backoff = FIRST_RESTART_BACKOFF_SECONDS
        self._executor: ThreadPoolExecutor | None = None
        self._closed = False

    async def writable(self) -> None:
        """Returns once no RESTART is running: the writer awaits this before it begins."""
        while self._restart is not None:
            await asyncio.wait({self._restart})

    @property
    def closed(self) -> bool:
        return self._closed

    def committed(self) -> None:
        """Count a commit; every ``CHECKPOINT_EVERY_COMMITS`` a checkpoint starts, unless one runs.
        Never raises: the commit is done, and a caller that saw an error would write it again."""
        self._commits += 1
        if self._commits >= CHECKPOINT_EVERY_COMMITS and self._running is None and not self._closed:
            self._commits = 0
            self._start(PASSIVE)

    def close(self) -> None:
        """No checkpoint starts from now on; one running finishes on its thread."""
        self._closed = True
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None

    def _start(self, mode: str) -> None:
        try:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kaimen-wal-checkpoint")
            running = asyncio.get_running_loop().run_in_executor(self._executor, self._checkpoint, mode)
        except RuntimeError as error:  # no thread could start, or the interpreter is shutting down
            log.warning("WAL checkpoint could not start", extra={"error": str(error)})
            return
        running.add_done_callback(lambda done: self._done(done, mode))
        self._running = running
        self._restart = running if mode == RESTART else None

    def _checkpoint(self, mode: str) -> Outcome:
        """On the checkpoint thread."""
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=RESTART_WAIT_SECONDS)
        try:
            busy, frames, copied = conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
            return int(busy), int(frames), int(copied)
        finally:
            conn.close()

    def _done(self, done: asyncio.Future[Outcome], mode: str) -> None:
        self._running = None
        self._restart = None
        if done.cancelled():
            return
        if done.exception() is not None:
            log.warning("WAL checkpoint failed", extra={"error": type(done.exception()).__name__})
            return
        busy = done.result()[0]
        if mode == PASSIVE:
            if not self._oversized():
                self._backoff = FIRST_RESTART_BACKOFF_SECONDS  # caught up without a RESTART
            elif time.monotonic() >= self._restart_after and not self._closed:
                self._start(RESTART)
        elif busy:
            # Another connection kept reading or writing past the wait, or another worker of this
            # database was checkpointing at the same moment: SQLite answers both alike.
            log.warning(
                "the WAL could not be restarted: another connection was reading, writing or checkpointing",
                extra={"wal_bytes": self._size(), "retry_in_seconds": self._backoff},
            )
            self._restart_after = time.monotonic() + self._backoff
            self._backoff = min(self._backoff * 2, MAX_RESTART_BACKOFF_SECONDS)
        else:
            self._backoff = FIRST_RESTART_BACKOFF_SECONDS

    def _oversized(self) -> bool:
        return self._size() > self.limit_bytes

    def _size(self) -> int:
        try:
            return os.path.getsize(self.path + "-wal")
        except OSError:
            return 0
