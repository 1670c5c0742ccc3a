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
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.multiprocess_support import KAIMEN, free_port, scratch_redis_url
from tests.support import REPO

pytestmark = pytest.mark.server

CALLS = 60
SCRAPES = 12
DISCOVERY = "/.well-known/openid-configuration"
SERIES = re.compile(r'^kaimen_http_requests_total\{api="oauth",method="GET",status="200"\} (\S+)$', re.M)


@dataclass
class Served:
    base: str
    pid: int
    log: Path


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found.update(int(child) for child in text)
    return found


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    redis = os.environ.get("KAIMEN_TEST_REDIS_URL")
    if not redis:
        pytest.skip("Redis not available: set KAIMEN_TEST_REDIS_URL to run this test")
    tmp = tmp_path_factory.mktemp("metrics-workers")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAIMEN_", "PROMETHEUS_"))} | {
        "KAIMEN_DATA_DIR": str(tmp / "data"),
        "KAIMEN_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "KAIMEN_REDIS_URL": scratch_redis_url(redis),
        "KAIMEN_LOG_LEVEL": "WARNING",
    }
    subprocess.run([KAIMEN, "db", "upgrade"], cwd=REPO, env=env, check=True, capture_output=True)
    log = tmp / "server.log"
    command = [KAIMEN, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    served = Served(f"http://127.0.0.1:{port}", process.pid, log)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"kaimen serve exited with {process.returncode}:\n{log.read_text()}")
            try:
                if httpx.get(served.base + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"kaimen serve not ready within 60 s:\n{log.read_text()}")
            time.sleep(0.1)
        yield served
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


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


def test_every_scrape_reads_the_sum_of_both_workers(served: Served) -> None:
    before = _total(httpx.get(served.base + "/metrics", timeout=5).text)
    for _ in range(CALLS):
        # A new connection each time, so that both workers take calls.
        assert httpx.get(served.base + DISCOVERY, timeout=5).status_code == 200
    totals = set()
    for _ in range(SCRAPES):
        answer = httpx.get(served.base + "/metrics", timeout=5)
        assert answer.status_code == 200
        totals.add(_total(answer.text) - before)
    assert totals == {CALLS}

    workers = _children(served.pid)
    assert len(workers) >= 2, f"expected two granian workers under {served.pid}, found {workers}"
    (directory,) = _multiprocess_dirs(workers)
    counted = {int(m.group(1)) for f in directory.iterdir() if (m := re.match(r"counter_(\d+)\.db$", f.name))}
    assert len(counted & workers) == 2, "both workers keep their counters in the shared directory"


def test_the_multiprocess_directory_goes_when_the_server_stops(tmp_path: Path, served: Served) -> None:
    workers = _children(served.pid)
    (directory,) = _multiprocess_dirs(workers)
    os.killpg(served.pid, signal.SIGINT)
    deadline = time.monotonic() + 30
    while directory.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not directory.exists()
