"""Every benchmark, one after the other, and one table of what they measured (issue 6, "Benchmarks
together"): ``make bench``.

Each benchmark runs as its own process, exactly as its own make target runs it, and prints its own
report as it goes; its JSON results (bench/results/) are then read back into one table:

    gateway     Product API through the gateway vs a bare Starlette endpoint      goal ratio >= 0.75
    token       client_credentials, authorization_code, userinfo vs their floors  goal cc ratio >= 0.5
    accounts    GET .../transactions on SQLite and PostgreSQL vs the ES256 floor  goal ratio >= 0.25
    payments    POST /domestic-payments on PostgreSQL + Redis, risk engine on     goal >= 100/s

and then, for information only, how throughput changes from 1 to 2 workers on PostgreSQL + Redis
(the Account API benchmark with one and with two workers, the payments benchmark with two). On a
2-core machine the load generator, PostgreSQL and Redis share the two cores with the workers, so a
second worker cannot double anything: the row shows what a second process buys on the same box.

Ratios are always against a baseline measured in the same run (these machines are noisy); the table
ends with the machine it ran on.

    make bench [BENCH_ARGS="--quick"]
    .venv/bin/python bench/all.py --help
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import report

HERE = Path(__file__).resolve().parent
DEFAULT_REDIS = "redis://127.0.0.1:6379/15"
GROUPS = ("gateway", "token", "accounts", "payments", "workers")
Row = list[str]


@dataclass(frozen=True)
class Step:
    name: str
    script: str
    prefix: str  # of its JSON file in bench/results/
    extra: tuple[str, ...] = ()
    needs_redis: bool = False


@dataclass
class Outcome:
    step: Step
    results: dict[str, Any] | None = None
    failure: str | None = None
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


def _args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="every benchmark's --quick (short runs, for CI)")
    p.add_argument(
        "--only",
        default=None,
        help="comma-separated subset of gateway,token,accounts,payments,workers (all)",
    )
    p.add_argument(
        "--redis-url",
        default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS),
        help="Redis of the 1-to-2-worker rows (env BENCH_REDIS_URL; default %(default)s)",
    )
    return p.parse_args()


def steps(redis_url: str) -> list[Step]:
    scaling = ("--databases", "postgresql", "--redis-url", redis_url)
    return [
        Step("gateway", "gateway.py", "gateway"),
        Step("token", "token_bench.py", "token"),
        Step("accounts", "accounts_bench.py", "accounts"),
        Step("payments", "payments_bench.py", "payments", ("--redis-url", redis_url)),
        Step("workers:accounts/1", "accounts_bench.py", "accounts", (*scaling, "--workers", "1"), True),
        Step("workers:accounts/2", "accounts_bench.py", "accounts", (*scaling, "--workers", "2"), True),
        # Only when the payments benchmark itself is not run: its one-worker run is this row's first.
        Step("workers:payments/1", "payments_bench.py", "payments", ("--redis-url", redis_url), True),
        Step("workers:payments/2", "payments_bench.py", "payments",
             ("--redis-url", redis_url, "--workers", "2"), True),
    ]  # fmt: skip


def _newest(prefix: str, since: float) -> Path | None:
    found = [p for p in report.RESULTS.glob(f"{prefix}-*.json") if p.stat().st_mtime >= since]
    return max(found, key=lambda p: p.stat().st_mtime, default=None)


def _redis_answers(url: str) -> str | None:
    """None when Redis answers at ``url``, else why not."""
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except Exception as error:  # any failure to connect: the scaling rows are skipped, saying why
        return f"{url} did not answer ({type(error).__name__})"
    return None


def run_step(step: Step, quick: bool) -> Outcome:
    command = [sys.executable, str(HERE / step.script), *step.extra, *(("--quick",) if quick else ())]
    report.say()
    report.say(f"##### {step.name}: {' '.join(command[1:])}")
    started, wall = time.time(), time.monotonic()
    proc = subprocess.run(command, cwd=HERE.parent, check=False)
    outcome = Outcome(step, seconds=time.monotonic() - wall)
    if proc.returncode != 0:
        outcome.failure = f"exited with {proc.returncode} (its output is above)"
        return outcome
    path = _newest(step.prefix, started)
    if path is None:
        outcome.failure = f"wrote no bench/results/{step.prefix}-*.json"
        return outcome
    outcome.results = json.loads(path.read_text())
    return outcome


def _verdict(value: float, goal: float) -> str:
    return "met" if value >= goal else "MISSED"


def _p99(runs: list[dict[str, Any]]) -> float:
    return statistics.median(r["p99_ms"] for r in runs)


def gateway_rows(r: dict[str, Any]) -> list[Row]:
    t = r["targets"]
    gateway, bare = t["gateway"], t["bare"]
    paced = gateway["fixed_rate"]
    return [
        ["Product API via gateway (API key)", f"{gateway['max_rps_median']:,.0f}/s", "bare Starlette",
         f"{bare['max_rps_median']:,.0f}/s", f"{r['ratio']:.3f}", f">= 0.75: {_verdict(r['ratio'], 0.75)}",
         f"{paced['p99_ms']:.1f} at {paced['offered_rps']:,.0f}/s (goal < 20)"],
    ]  # fmt: skip


def token_rows(r: dict[str, Any]) -> list[Row]:
    t = r["targets"]
    cc, code, info = t["client_credentials"], t["authorization_code"], t["userinfo"]
    return [
        ["token: client_credentials", f"{cc['rps_median']:,.0f}/s", "floor: PS256+ES256 verify",
         f"{cc['floor_ops']:,.0f}/s", f"{cc['ratio_to_floor']:.3f}",
         f">= 0.5: {_verdict(cc['ratio_to_floor'], 0.5)}", f"{_p99(cc['runs']):.1f} at max"],
        ["token: authorization_code", f"{code['rps_median']:,.0f}/s", "floor: + PS256 ID token",
         f"{code['floor_ops']:,.0f}/s", f"{code['ratio_to_floor']:.3f}", "",
         f"{_p99(code['runs']):.1f} at max"],
        ["userinfo (DPoP-bound)", f"{info['rps_median']:,.0f}/s", "bare Starlette",
         f"{t['bare']['rps_median']:,.0f}/s", f"{info['ratio_to_bare']:.3f}", "",
         f"{_p99(info['runs']):.1f} at max"],
    ]  # fmt: skip


def accounts_rows(r: dict[str, Any], label: str = "") -> list[Row]:
    rows: list[Row] = []
    for database in ("sqlite", "postgresql"):
        result = r.get(database)
        if result is None:
            continue
        name = f"Account API transactions, {database}{label}"
        if "skipped" in result:
            rows.append([name, "skipped", result["skipped"], "", "", "", ""])
            continue
        floor = 1e6 / result["floor_verify_proof_us"]
        paced = result["half_rate"]
        rows.append(
            [name, f"{result['maximum']['rps_median']:,.0f}/s", "floor: ES256 proof verify",
             f"{floor:,.0f}/s",
             f"{result['ratio']:.3f}", f">= 0.25: {_verdict(result['ratio'], 0.25)}",
             f"{paced['p99_ms']:.1f} at half max (goal < 50)"]
        )  # fmt: skip
    return rows


def payments_rows(r: dict[str, Any], label: str = "") -> list[Row]:
    name = f"domestic payments, PostgreSQL{label}"
    if "skipped" in r:
        return [[name, "skipped", r["skipped"], "", "", "", ""]]
    rps = r["rps_median"]
    return [
        [name, f"{rps:,.1f}/s", "", "", "", f">= 100/s: {_verdict(rps, 100)}",
         f"{_p99(r['runs']):.1f} at max"],
        ["  risk engine alone", f"{r['risk_alone']['decisions_per_s']:,.0f}/s", "", "", "", "",
         f"{r['risk_alone']['p99_ms']:.1f}"],
    ]  # fmt: skip


def _rps(outcome: Outcome | None, pick: Callable[[dict[str, Any]], float]) -> float | None:
    if outcome is None or outcome.results is None:
        return None
    try:
        return pick(outcome.results)
    except KeyError:  # a skipped database: no figure
        return None


def scaling_rows(done: dict[str, Outcome]) -> list[Row]:
    def accounts(r: dict[str, Any]) -> float:
        return float(r["postgresql"]["maximum"]["rps_median"])

    def payments(r: dict[str, Any]) -> float:
        return float(r["rps_median"])

    pairs = [
        (
            "Account API transactions, PostgreSQL + Redis",
            accounts,
            "workers:accounts/1",
            "workers:accounts/2",
        ),
        ("domestic payments, PostgreSQL + Redis", payments, "payments", "workers:payments/2"),
    ]
    rows: list[Row] = []
    for name, pick, one, two in pairs:
        a, b = _rps(done.get(one) or done.get(f"workers:{one}/1"), pick), _rps(done.get(two), pick)
        if a is None or b is None:
            continue
        rows.append([name, f"{a:,.1f}/s", f"{b:,.1f}/s", f"{b / a:.2f}"])
    return rows


def table(head: Row, rows: list[Row]) -> str:
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    return "\n".join(report.row(r, widths) for r in [head, *rows])


def summary(done: dict[str, Outcome], info: dict[str, Any], quick: bool) -> dict[str, Any]:
    render: dict[str, Callable[[dict[str, Any]], list[Row]]] = {
        "gateway": gateway_rows,
        "token": token_rows,
        "accounts": accounts_rows,
        "payments": payments_rows,
    }
    rows: list[Row] = []
    for name, outcome in done.items():
        if name not in render:
            continue
        if outcome.results is None:
            rows.append([name, "FAILED", outcome.failure or "", "", "", "", ""])
            continue
        rows.extend(render[name](outcome.results))
    report.say()
    report.say("=" * 100)
    report.say(f"make bench: every benchmark, one worker each{' (--quick: short runs)' if quick else ''}")
    report.say()
    head = ["measurement", "measured", "baseline (same run)", "baseline", "ratio", "goal", "p99 ms"]
    if rows:
        report.say(table(head, rows))
    scaling = scaling_rows(done)
    failed = [o for n, o in done.items() if n.startswith("workers:") and o.results is None]
    if scaling or failed:
        report.say()
        report.say("from 1 to 2 workers on PostgreSQL + Redis (information only: wrk, PostgreSQL and Redis")
        report.say("share the same cores as the workers)")
        report.say()
        report.say(table(["measurement", "1 worker", "2 workers", "2 / 1"], scaling))
        for outcome in failed:
            report.say(f"{outcome.step.name}: {outcome.failure}")
    report.say()
    took = " ".join(f"{n} {o.seconds:.0f} s" for n, o in done.items())
    report.say(f"time: {took}")
    report.say(report.machine_line(info))
    combined = {
        "machine": info,
        "quick": quick,
        "steps": {
            n: {"failure": o.failure, "seconds": o.seconds, "results": o.results} for n, o in done.items()
        },
        "table": rows,
        "scaling": scaling,
    }
    report.say(f"results: {report.write_json(combined, prefix='bench')}")
    return combined


def main() -> int:
    args = _args()
    chosen = set(args.only.split(",")) if args.only else set(GROUPS)
    unknown = chosen - set(GROUPS)
    if unknown:
        raise SystemExit(f"--only: unknown {', '.join(sorted(unknown))}")
    info = report.machine()
    report.say(report.machine_line(info))
    redis_missing = _redis_answers(args.redis_url)
    done: dict[str, Outcome] = {}
    for step in steps(args.redis_url):
        group = "workers" if step.name.startswith("workers:") else step.name
        if group not in chosen or (step.name == "workers:payments/1" and "payments" in chosen):
            continue
        if step.needs_redis and redis_missing is not None:
            done[step.name] = Outcome(step, failure=f"skipped: Redis {redis_missing}")
            continue
        done[step.name] = run_step(step, args.quick)
    summary(done, info, args.quick)
    return 1 if any(o.failure and not o.failure.startswith("skipped") for o in done.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
