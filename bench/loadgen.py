"""Load generators, pinned to their own core: wrk for maximum throughput, hey for a fixed offered rate.

- ``wrk`` keeps ``connections`` requests in flight and reports what the server sustained; its
  ``done()`` hook (bench/wrk_summary.lua) prints the summary as JSON.
- ``hey -q`` paces each of its workers with a ticker (``rate / workers`` per worker), so the offered
  rate does not depend on the server's latency as long as one response takes less than one tick;
  when it does not, ticks are dropped and the achieved rate falls below the offered one. That is why
  every fixed-rate run reports the achieved rate next to the offered one. ``-o csv`` gives every
  request's latency (0.1 ms resolution) and status, from which p50/p99 are computed here.

Both also report how busy each core was during the run (/proc/stat), so a reader can see that the
server's core was the saturated one and the generator's was not.
"""

from __future__ import annotations

import json
import math
import resource
import statistics
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

WRK_SCRIPT = Path(__file__).with_name("wrk_summary.lua")


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

    @property
    def holds(self) -> bool:
        """The achieved rate is within 2 % of the offered one."""
        return self.achieved_rps >= 0.98 * self.offered_rps


def _percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def run_hey(
    url: str, *, headers: dict[str, str], rate: float, seconds: float, per_worker: float, core: int
) -> RateRun:
    workers = max(1, math.ceil(rate / per_worker))
    q = rate / workers
    cmd = [
        "taskset",
        "-c",
        str(core),
        "hey",
        "-z",
        f"{seconds:g}s",
        "-c",
        str(workers),
        "-q",
        f"{q:.3f}",
        "-t",
        "10",
        "-disable-compression",
        "-o",
        "csv",
    ]
    for name, value in headers.items():
        cmd += ["-H", f"{name}: {value}"]
    cmd.append(url)
    load = CoreLoad()
    load.start()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=seconds + 60)
    if proc.returncode != 0:
        raise RuntimeError(f"hey failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    for line in proc.stdout.splitlines()[1:]:  # header: response-time,...,status-code,offset
        fields = line.split(",")
        if len(fields) < 8:
            continue
        latencies.append(float(fields[0]) * 1000)
        statuses[fields[6]] = statuses.get(fields[6], 0) + 1
    latencies.sort()
    return RateRun(
        offered_rps=round(rate, 1),
        workers=workers,
        per_worker_rps=round(q, 3),
        seconds=seconds,
        requests=len(latencies),
        achieved_rps=round(len(latencies) / seconds, 1),
        p50_ms=round(_percentile(latencies, 50), 2),
        p99_ms=round(_percentile(latencies, 99), 2),
        max_ms=round(latencies[-1], 2) if latencies else math.nan,
        statuses=statuses,
        cpu=load.stop(seconds),
    )


def median_rps(runs: list[WrkRun]) -> float:
    return statistics.median(run.rps for run in runs)


def as_dict(run: WrkRun | RateRun) -> dict[str, Any]:
    data = asdict(run)
    if isinstance(run, RateRun):
        data["holds"] = run.holds
    return data
