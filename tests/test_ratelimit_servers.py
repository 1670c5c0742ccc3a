"""Two real server processes sharing Redis: the limit holds in sum across both (issue 2, "Tests")."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from tests.support import REPO
from tests.test_ratelimit import TOO_MANY, apis_with
from tests.test_ratelimit_redis import free_port

LIMIT = 5
KEY_PATTERN = "kaimen:ratelimit*"


def wait_until_healthy(port: int, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server on port {port} exited with {process.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server on port {port} did not answer /healthz within {timeout} s")


@pytest.fixture
def two_servers(tmp_path: Path, redis_url: str) -> Iterator[tuple[list[int], str]]:
    """Two granian processes on one SQLite file and one Redis; yields their ports and the ATM rate."""
    # A window length no other run uses, so this run's counters are its own (they are deleted after).
    rate = f"{LIMIT}/{secrets.randbelow(9000) + 1000} seconds"
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'kaimen.db'}"
    kaimen = str(Path(sys.executable).parent / "kaimen")
    subprocess.run([kaimen, "--database-url", database_url, "db", "upgrade"], check=True, cwd=REPO)
    env = {
        **os.environ,
        "KAIMEN_DATA_DIR": str(tmp_path),
        "KAIMEN_DATABASE_URL": database_url,
        "KAIMEN_REDIS_URL": redis_url,
        "KAIMEN_APIS": json.dumps(apis_with(atm_ip_rate=rate)),
        "KAIMEN_LOG_LEVEL": "WARNING",
    }
    ports = [free_port(), free_port()]
    processes = []
    try:
        for port in ports:  # one after the other: the first creates the signing keys
            command = [sys.executable, "-m", "granian", "--interface", "asgi", "--factory"]
            command += ["kaimen.asgi:app_from_env", "--host", "127.0.0.1", "--port", str(port)]
            # Its own process group: granian's worker is a child that must go when the server does.
            process = subprocess.Popen(
                [*command, "--workers", "1"], env=env, cwd=REPO, start_new_session=True
            )
            processes.append(process)
            wait_until_healthy(port, process)
        yield ports, rate
    finally:
        for process in processes:
            with contextlib.suppress(ProcessLookupError):  # already gone
                os.killpg(process.pid, signal.SIGKILL)  # the server and its worker
            process.wait()
        client = redis.Redis.from_url(redis_url)
        try:
            window = rate.split("/")[1].split()[0]
            mine = [key for key in client.scan_iter(match=KEY_PATTERN) if f"/{window}/".encode() in key]
            if mine:
                client.delete(*mine)
        finally:
            client.close()


@pytest.mark.server
@pytest.mark.redis
def test_limit_holds_in_sum_across_two_server_processes(two_servers: tuple[list[int], str]) -> None:
    ports, _ = two_servers
    responses = [
        httpx.get(f"http://127.0.0.1:{ports[i % 2]}/open-banking/v2.3/atms", timeout=5) for i in range(12)
    ]
    served = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code == 429]
    assert (len(served), len(refused)) == (LIMIT, 12 - LIMIT)
    assert {r.headers["ratelimit-limit"] for r in responses} == {str(LIMIT)}
    assert sorted(r.headers["ratelimit-remaining"] for r in served) == ["0", "1", "2", "3", "4"]
    assert all(r.json() == TOO_MANY for r in refused)
    assert all(r.headers["retry-after"] == r.headers["ratelimit-reset"] for r in refused)
