"""The gateway benchmark's report: the machine, one table, the goal lines, and the JSON file."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).with_name("results")
GOAL_RATIO = 0.75
DEFECT_RATIO = 0.5
GOAL_P99_MS = 20.0


def _package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "?"


def _deb_version(name: str) -> str:
    proc = subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", name], capture_output=True, text=True, check=False
    )
    return proc.stdout.strip() or "?"


def machine() -> dict[str, Any]:
    model = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "granian": _package_version("granian"),
        "starlette": _package_version("starlette"),
        "wrk": _deb_version("wrk"),
        "loadavg_at_start": Path("/proc/loadavg").read_text().split()[:3],
    }


def row(cells: list[str], widths: list[int]) -> str:
    return "  ".join(
        cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(zip(cells, widths, strict=True))
    )


def _rate_rows(results: dict[str, Any]) -> list[tuple[str, dict[str, Any] | None, dict[str, Any]]]:
    rows: list[tuple[str, dict[str, Any] | None, dict[str, Any]]] = []
    for name, target in results["targets"].items():
        rows.append((name, target, target["fixed_rate"]))
        if "fixed_rate_own_half" in target:
            rows.append((f"  {name}, at half its own max", None, target["fixed_rate_own_half"]))
    return rows


def table(results: dict[str, Any]) -> str:
    head = ["target", "max req/s (median)", "3 runs", "p50 ms", "p99 ms", "offered req/s", "achieved req/s"]
    rows = [head]
    for name, target, rate in _rate_rows(results):
        runs = target["max_runs"] if target else []
        rows.append(
            [
                name,
                f"{target['max_rps_median']:,.0f}" if target else "",
                " / ".join(f"{run['rps']:,.0f}" for run in runs),
                f"{rate['p50_ms']:.1f}",
                f"{rate['p99_ms']:.1f}",
                f"{rate['offered_rps']:,.0f}",
                f"{rate['achieved_rps']:,.0f}" + ("" if rate["holds"] else " (NOT HELD)"),
            ]
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    return "\n".join(row(r, widths) for r in rows)


def goals(results: dict[str, Any]) -> list[str]:
    ratio = results["ratio"]
    gateway = results["targets"]["gateway"]["fixed_rate"]
    p99_ok = gateway["p99_ms"] < GOAL_P99_MS and gateway["holds"]
    ratio_verdict = "MET" if ratio >= GOAL_RATIO else "MISSED"
    if ratio < DEFECT_RATIO:
        ratio_verdict += f"   (below {DEFECT_RATIO}: DEFECT, profile the hot path)"
    p99_verdict = "MET" if p99_ok else "MISSED" + ("" if gateway["holds"] else " (offered rate not held)")
    return [
        f"ratio gateway/bare = {ratio:.3f}   goal >= {GOAL_RATIO}: {ratio_verdict}",
        f"gateway p99 at {gateway['offered_rps']:,.0f} req/s = {gateway['p99_ms']:.1f} ms   "
        f"goal < {GOAL_P99_MS:g} ms: {p99_verdict}",
    ]


def machine_line(info: dict[str, Any]) -> str:
    return (
        f"machine: {info['cpu']}, {info['cores']} cores, kernel {info['kernel']}, Python {info['python']}, "
        f"granian {info['granian']}, starlette {info['starlette']}, wrk {info['wrk']}, "
        f"load average at start {' '.join(info['loadavg_at_start'])}"
    )


def write_json(results: dict[str, Any], prefix: str = "gateway") -> Path:
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"{prefix}-{stamp}.json"
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    return path


def say(text: str = "") -> None:
    print(text, flush=True)
    sys.stdout.flush()
