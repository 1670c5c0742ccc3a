"""Start and stop one granian server for a benchmark target: one worker pinned to one core, or (for the
1-to-2-worker comparison of ``make bench``) several workers free to run on every core."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from kaimen.settings import MAX_CONCURRENT_REQUESTS

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


class Running(str):
    """A running server's base URL, carrying the pid of granian's main process."""

    pid: int


@dataclass(frozen=True)
class Target:
    name: str  # "bare" | "gateway"
    factory: str  # module:function, imported by granian in the worker
    env: Mapping[str, str]
    pythonpath: str = ""
    workers: int = 1


def cpu_list(core: int, workers: int) -> str:
    """taskset's list: the benchmark's server core for one worker; every core for more than one (two
    workers pinned to one core would measure nothing but the scheduler)."""
    if workers == 1:
        return str(core)
    return ",".join(str(n) for n in range(os.cpu_count() or 1))


def granian_command(factory: str, port: int, core: int, workers: int = 1) -> list[str]:
    return [
        "taskset",
        "-c",
        cpu_list(core, workers),
        sys.executable,
        "-m",
        "granian",
        "--interface",
        "asgi",
        "--factory",
        "--workers",
        str(workers),
        "--loop",
        "uvloop",
        "--no-ws",
        "--log-level",
        "warning",
        "--no-access-log",
        # As `kaimen serve` runs granian: each worker works on at most this many requests at once,
        # the bound its Redis clients' pools are sized to (KAIMEN_MAX_CONCURRENT_REQUESTS).
        "--backpressure",
        str(MAX_CONCURRENT_REQUESTS),
        "--host",
        HOST,
        "--port",
        str(port),
        factory,
    ]


@contextlib.contextmanager
def py_spy(py_spy: str, pid: int, seconds: float, out: Path, core: int) -> Iterator[None]:
    """Sample granian (main and worker process) with py-spy while the block runs; raw collapsed stacks."""
    proc = subprocess.Popen(
        ["taskset", "-c", str(core), py_spy, "record", "--nonblocking", "--subprocesses", "--pid", str(pid),
         "--rate", "250", "--duration", f"{max(1, int(seconds)):d}", "--format", "raw", "--output", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield
    finally:
        proc.wait(timeout=seconds + 30)


def _wait_ready(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}; see {log}:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"server not listening on {port} after {timeout}s; see {log}")


@contextlib.contextmanager
def serving(target: Target, *, core: int, log_dir: Path, port: int | None = None) -> Iterator[Running]:
    """Run ``target`` under granian on ``port`` (default: a free one); yields its base URL; stops it
    cleanly (SIGINT)."""
    port = port or free_port()
    env = {**os.environ, **target.env}
    if target.pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (target.pythonpath, env.get("PYTHONPATH", "")) if p)
    log = log_dir / f"server-{target.name}.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            granian_command(target.factory, port, core, target.workers),
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_ready(port, proc, log)
        running = Running(f"http://{HOST}:{port}")
        running.pid = proc.pid
        yield running
    finally:
        if proc.poll() is None:
            # SIGINT to granian's main process: it stops the worker, whose lifespan shutdown flushes
            # the audit writer's queue.
            os.kill(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
