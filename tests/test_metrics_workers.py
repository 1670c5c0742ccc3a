"""``/metrics`` of a ``kaimen serve`` with two workers reads the sum of both workers' values, whichever
worker answers the scrape (kaimen.server gives the workers a prometheus_client multiprocess
directory; kaimen.gateway.metrics sums it).

One real ``kaimen serve --workers 2`` (embedded mode, SQLite, Redis for the shared one-time stores as
more than one worker requires); skipped, saying why, without ``KAIMEN_TEST_REDIS_URL``.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.multiprocess_support import KAIMEN, Instance, scratch_redis_url, start_instance, stop_instance
from tests.support import REPO

pytestmark = pytest.mark.server

CALLS = 60
SCRAPES = 12
DISCOVERY = "/.well-known/openid-configuration"
SERIES = re.compile(r'^kaimen_http_requests_total\{api="oauth",method="GET",status="200"\} (\S+)$', re.M)


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found.update(int(child) for child in (task / "children").read_text().split())
    return found


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    redis = os.environ.get("KAIMEN_TEST_REDIS_URL")
    if not redis:
        pytest.skip("Redis not available: set KAIMEN_TEST_REDIS_URL to run this test")
    data = tmp_path_factory.mktemp("metrics-workers") / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAIMEN_", "PROMETHEUS_"))} | {
        "KAIMEN_REDIS_URL": scratch_redis_url(redis),
        "KAIMEN_LOG_LEVEL": "WARNING",
    }
    upgrade = env | {"KAIMEN_DATA_DIR": str(data)}
    subprocess.run([KAIMEN, "db", "upgrade"], cwd=REPO, env=upgrade, check=True, capture_output=True)
    instance = start_instance("two-workers", env, data, workers=2)
    try:
        yield instance
    finally:
        stop_instance(instance)


def _total(text: str) -> float:
    match = SERIES.search(text)
    return float(match.group(1)) if match else 0.0


def _multiprocess_dirs(worker_pids: set[int]) -> list[Path]:
    """The multiprocess directories holding files of these workers (named ``<kind>_<pid>.db``)."""
    dirs = []
    for path in Path(tempfile.gettempdir()).glob("kaimen-metrics-*"):
        pids = {int(m.group(1)) for f in path.iterdir() if (m := re.match(r"\w+_(\d+)\.db$", f.name))}
        if pids & worker_pids:
            dirs.append(path)
    return dirs


def test_every_scrape_reads_the_sum_of_both_workers(served: Instance) -> None:
    before = _total(httpx.get(served.url("/metrics"), timeout=5).text)
    for _ in range(CALLS):
        # A new connection each time, so that both workers take calls.
        assert httpx.get(served.url(DISCOVERY), timeout=5).status_code == 200
    totals = set()
    for _ in range(SCRAPES):
        answer = httpx.get(served.url("/metrics"), timeout=5)
        assert answer.status_code == 200
        totals.add(_total(answer.text) - before)
    assert totals == {CALLS}

    workers = _children(served.process.pid)
    assert len(workers) >= 2, f"expected two granian workers under {served.process.pid}, found {workers}"
    (directory,) = _multiprocess_dirs(workers)
    counted = {int(m.group(1)) for f in directory.iterdir() if (m := re.match(r"counter_(\d+)\.db$", f.name))}
    assert len(counted & workers) == 2, "both workers keep their counters in the shared directory"


def test_the_multiprocess_directory_goes_when_the_server_stops(tmp_path: Path, served: Instance) -> None:
    workers = _children(served.process.pid)
    (directory,) = _multiprocess_dirs(workers)
    os.killpg(served.process.pid, signal.SIGINT)
    deadline = time.monotonic() + 30
    while directory.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not directory.exists()
