"""Load generators, pinned to their own core: wrk for maximum throughput and for a fixed offered rate.

- ``wrk`` keeps ``connections`` requests in flight and reports what the server sustained; its
  ``done()`` hook (bench/wrk_summary.lua) prints the summary as JSON.
- ``run_paced``: wrk with bench/wrk_paced.lua, whose connections take send times from one Poisson
  schedule at the offered rate, so the rate does not depend on the server's latency while a
  connection is free at each send time; when none is (the server is slower than the rate), the
  achieved rate falls below the offered one. That is why every fixed-rate run reports the achieved
  rate next to the offered one. (hey, used before, lost a fifth of its ticks at 15,000/s against any
  server, the bare endpoint included, with its core half idle.)

Both also report how busy each core was during the run (/proc/stat), so a reader can see that the
server's core was the saturated one and the generator's was not.
"""

from __future__ import annotations

import json
import math
import resource
import statistics
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

WRK_SCRIPT = Path(__file__).with_name("wrk_summary.lua")
PACED_SCRIPT = Path(__file__).with_name("wrk_paced.lua")


def _cpu_times() -> dict[str, tuple[int, int]]:
    """Per-core (busy, total) jiffies."""
    out: dict[str, tuple[int, int]] = {}
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("cpu") and line[3:4].isdigit():
            name, *fields = line.split()
            values = [int(v) for v in fields[:8]]
            idle = values[3] + values[4]  # idle + iowait
            out[name] = (sum(values) - idle, sum(values))
    return out


class CoreLoad:
    """Busy share of each core between ``start()`` and ``stop()``, plus the generator's own CPU time."""

    def start(self) -> None:
        self._before = _cpu_times()
        self._children = resource.getrusage(resource.RUSAGE_CHILDREN)

    def stop(self, seconds: float) -> dict[str, float]:
        after = _cpu_times()
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        load = {}
        for name, (busy, total) in after.items():
            b0, t0 = self._before.get(name, (0, 0))
            load[name] = round(100.0 * (busy - b0) / max(1, total - t0), 1)
        used = (children.ru_utime - self._children.ru_utime) + (children.ru_stime - self._children.ru_stime)
        load["generator_cpu_pct"] = round(100.0 * used / seconds, 1)
        return load


@dataclass
class WrkRun:
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    errors: dict[str, int]
    cpu: dict[str, float]
    max_ms: float = math.nan


def run_wrk(
    url: str,
    *,
    headers: dict[str, str],
    connections: int,
    threads: int,
    seconds: float,
    core: int,
    script: Path = WRK_SCRIPT,
    script_args: tuple[str, ...] = (),
) -> WrkRun:
    """``script`` must define wrk_summary.lua's ``done()`` (bench/wrk_replay.lua loads it)."""
    cmd = [
        "taskset",
        "-c",
        str(core),
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds:g}s",
        "--latency",
        "-s",
        str(script),
    ]
    for name, value in headers.items():
        cmd += ["-H", f"{name}: {value}"]
    cmd.append(url)
    if script_args:
        cmd += ["--", *script_args]
    load = CoreLoad()
    load.start()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=seconds + 60)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    data: dict[str, Any] = json.loads(line.removeprefix("BENCH_JSON "))
    secs = data["duration_us"] / 1e6
    errors = {k.removesuffix("_errors"): int(v) for k, v in data.items() if k.endswith("_errors")}
    return WrkRun(
        requests=int(data["requests"]),
        seconds=round(secs, 3),
        rps=round(data["requests"] / secs, 1),
        p50_ms=round(data["p50_us"] / 1000, 3),
        p99_ms=round(data["p99_us"] / 1000, 3),
        errors=errors,
        cpu=load.stop(secs),
        max_ms=round(data["max_us"] / 1000, 3),
    )


@dataclass
class RateRun:
    offered_rps: float
    workers: int
    per_worker_rps: float
    seconds: float
    requests: int
    achieved_rps: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    statuses: dict[str, int]
    cpu: dict[str, float]
    socket_errors: dict[str, int] = field(default_factory=dict)

    @property
    def holds(self) -> bool:
        """The achieved rate is within 2 % of the offered one."""
        return self.achieved_rps >= 0.98 * self.offered_rps


def run_paced(
    url: str, *, headers: dict[str, str], rate: float, seconds: float, connections: int, core: int
) -> RateRun:
    """wrk at a fixed offered ``rate`` (bench/wrk_paced.lua), one thread on ``core``, with
    ``connections`` open: enough that one is free at each send time while answers take up to
    connections / rate seconds."""
    run = run_wrk(
        url,
        headers=headers,
        connections=connections,
        threads=1,
        seconds=seconds,
        core=core,
        script=PACED_SCRIPT,
        script_args=(f"{rate:.3f}", "1"),
    )
    failed = run.errors.get("status", 0)
    return RateRun(
        offered_rps=round(rate, 1),
        workers=connections,
        per_worker_rps=round(rate / connections, 3),
        seconds=run.seconds,
        requests=run.requests,
        achieved_rps=run.rps,
        p50_ms=run.p50_ms,
        p99_ms=run.p99_ms,
        max_ms=run.max_ms,
        statuses={"2xx/3xx": run.requests - failed, "4xx/5xx": failed},
        cpu=run.cpu,
        socket_errors={k: v for k, v in run.errors.items() if k != "status" and v},
    )


def median_rps(runs: list[WrkRun]) -> float:
    return statistics.median(run.rps for run in runs)


def as_dict(run: WrkRun | RateRun) -> dict[str, Any]:
    data = asdict(run)
    if isinstance(run, RateRun):
        data["holds"] = run.holds
    return data
