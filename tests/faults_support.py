"""Helpers of the fault tests (issue 6 item 3): a private ``redis-server`` and a private PostgreSQL
cluster that a test starts, stops and starts again on its own free port (never the machine's shared
instances), and the checks of a clean refusal."""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from kaimen.tpp.registry import Registry
from tests.authz_flow_support import Harness

PCA = "/open-banking/v2.4/personal-current-accounts"  # ACQUAINTANCE: above PUBLIC
ATM = "/open-banking/v2.3/atms"  # PUBLIC
MEDIA = {
    PCA: "application/prs.openbanking.opendata.v2.4+json",
    ATM: "application/prs.openbanking.opendata.v2.3+json",
}
UNAVAILABLE = {
    "status": "503",
    "title": "Service temporarily unavailable",
}
CALLS_PER_PHASE = 10
RECOVER_WITHIN = 10.0  # generous for a loaded CI machine; a passing run needs about 1 s

REDIS_SERVER = shutil.which("redis-server")
START_WITHIN = 10.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """One ``redis-server`` without persistence (``--save '' --appendonly no``): a restart comes back
    empty, which is what "Redis forgot it" means."""

    def __init__(self) -> None:
        if REDIS_SERVER is None:
            pytest.skip("redis-server not installed: the Redis fault tests need their own instance")
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="kaimen-faults-redis-"))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        assert self.process is None
        assert REDIS_SERVER is not None
        self.process = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + START_WITHIN
        while not _answers_ping(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server did not start on port {self.port}")
            time.sleep(0.02)

    def stop(self) -> None:
        """Terminate and wait until the port refuses connections (nothing half-down when this returns)."""
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None
        assert not _answers_ping(self.port)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def assert_no_internals(response: httpx.Response) -> None:
    """A 5xx body says nothing about internals (STYLE.md 3)."""
    text = response.text.lower()
    for leak in ("traceback", "exception", "redis", "connection refused", "errno", ".py"):
        assert leak not in text, (response.status_code, response.text)


PG_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), reverse=True)), None)


class PostgresServer:
    """One PostgreSQL cluster of its own (initdb in a temp dir, trust auth, its own port and socket
    dir). PostgreSQL refuses to run as root, so as root it runs as the ``postgres`` user (runuser)."""

    def __init__(self) -> None:
        if PG_BIN is None:
            pytest.skip("PostgreSQL server binaries not installed (/usr/lib/postgresql/*/bin)")
        self.bin = PG_BIN.parent
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="kaimen-faults-pg-"))
        self.data = self.root / "data"
        self.prefix: list[str] = []
        if os.geteuid() == 0:
            runuser = shutil.which("runuser")
            if runuser is None:
                pytest.skip("running as root without runuser: cannot start PostgreSQL as another user")
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                pytest.skip("running as root and no postgres user to run PostgreSQL as")
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
            self.prefix = [runuser, "-u", "postgres", "--"]
        try:
            self._run(
                "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"
            )
        except RuntimeError as failed:
            shutil.rmtree(self.root, ignore_errors=True)
            if not self.prefix:
                raise
            pytest.skip(f"cannot run initdb as the postgres user: {failed}")

    @property
    def base_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}"

    def _run(self, tool: str, *args: str) -> None:
        done = subprocess.run(
            [*self.prefix, str(self.bin / tool), *args], capture_output=True, timeout=60, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed: {done.stderr.decode(errors='replace')[-2000:]}")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.root / "log"), "-w", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def close(self) -> None:
        try:
            self.stop()
        except RuntimeError:
            pass  # already stopped
        shutil.rmtree(self.root, ignore_errors=True)


async def product_key(h: Harness) -> str:
    """An API key of a PARTNER application (admitted to the PCA API), once this worker serves it."""
    tpp = await h.tpp()
    issued = await Registry(h.app.components.db).create_key(tpp.application_id)
    await until_ok(h.http, PCA, {"x-api-key": issued.api_key})
    return issued.api_key


async def until_ok(http: httpx.AsyncClient, path: str, headers: dict[str, str]) -> None:
    """Poll until ``path`` answers 200 (a registry change reaching the worker; Redis coming back and
    the limiter's retry interval passing). Fails after RECOVER_WITHIN seconds."""
    deadline = time.monotonic() + RECOVER_WITHIN
    while True:
        response = await http.get(path, headers=headers)
        if response.status_code == 200:
            return
        assert response.status_code in (401, 503), (response.status_code, response.text)
        assert time.monotonic() < deadline, (path, response.status_code, response.text)
        await asyncio.sleep(0.05)


def assert_unavailable(response: httpx.Response, path: str) -> None:
    """503 in the Open Data error format (kaimen.errors.render) with Retry-After; nothing internal."""
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == MEDIA[path]
    body = response.json()
    assert {k: body[k] for k in UNAVAILABLE} == UNAVAILABLE
    assert int(response.headers["retry-after"]) >= 1
    assert response.headers["x-fapi-interaction-id"]
    assert_no_internals(response)
