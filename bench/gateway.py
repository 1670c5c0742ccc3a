"""Gateway benchmark (issue 2, "Benchmark"): what the full gateway keeps of a bare endpoint's throughput.

Two targets, served side by side with the same server and settings (granian, one worker each, uvloop,
both pinned to core 0 with taskset), loaded from core 1:

    bare     a bare Starlette app (bench/bare_app.py) answering the same body bytes and media type
    gateway  kaimen.asgi:app_from_env: GET /open-banking/v2.4/personal-current-accounts with x-api-key
             (API key -> tier -> rate limit -> response cache hit -> audit record, all on)

Per target: a warm-up, three wrk runs at fixed connections (median = max req/s), then wrk at a fixed
offered rate of half the bare endpoint's maximum for p50/p99 (bench/wrk_paced.lua). The timed runs
alternate, bare then gateway, three times: this machine's speed drifts over minutes (the same bare
endpoint measured 11,500 and 18,300 req/s in one session), so each gateway run has a bare run seconds
before it, and the ratio of each pair is printed beside the ratio of the medians. Before any timed
run the gateway is checked (200 with the body, 401 for a wrong/missing key, 304, audit records
written); after its runs, audit records are counted against the calls the load generators saw and the
hash chain is verified.

    make bench-gateway [BENCH_ARGS="--quick"]
    .venv/bin/python bench/gateway.py --help
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

import harness
import loadgen
import prepare
import report
import servers
import spy_summary

BENCH = Path(__file__).resolve().parent
SERVER_CORE = 0
LOAD_CORE = 1
# The fixed-rate run opens rate x this many connections: the rate holds while answers take less.
PACED_HEADROOM_SECONDS = 0.05


def _args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="short runs for CI: 3 s runs, 1 s warm-up")
    p.add_argument("--duration", type=float, default=10, help="seconds per max-throughput run (10)")
    p.add_argument("--warmup", type=float, default=5, help="seconds of warm-up per target (5)")
    p.add_argument("--runs", type=int, default=3, help="max-throughput runs per target (3)")
    p.add_argument("--connections", type=int, default=32, help="wrk connections (32)")
    p.add_argument("--threads", type=int, default=1, help="wrk threads (1: one core)")
    p.add_argument("--rate-duration", type=float, default=10, help="seconds of the fixed-rate run (10)")
    p.add_argument("--rate", type=float, default=None, help="fixed offered rate (default: half the bare max)")
    p.add_argument(
        "--rate-connections",
        type=int,
        default=None,
        help=f"wrk connections at the fixed rate (default: rate x {PACED_HEADROOM_SECONDS:g} s, at least 64)",
    )
    p.add_argument(
        "--log-level",
        default=None,
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="KAIMEN_LOG_LEVEL of the gateway (default: Kaimen's, INFO: one access-log line per call)",
    )
    p.add_argument("--redis-url", default=None, help="count rate limits in Redis instead of process memory")
    p.add_argument(
        "--nice",
        type=int,
        default=0,
        help="niceness for the servers and load generators (e.g. -10 on a shared machine; needs root)",
    )
    p.add_argument("--targets", default="bare,gateway", help="comma-separated subset of bare,gateway")
    p.add_argument("--no-verify", action="store_true", help="skip verifying the audit hash chain at the end")
    p.add_argument(
        "--py-spy",
        metavar="PATH",
        default=None,
        help="py-spy executable: sample the gateway worker in one extra max run (not counted)",
    )
    p.add_argument("--keep", action="store_true", help="keep the temporary data dir and server logs")
    args = p.parse_args()
    if args.quick:
        args.duration, args.warmup, args.rate_duration = 3.0, 1.0, 3.0
    return args


def _wrk(url: str, headers: dict[str, str], args: argparse.Namespace, seconds: float) -> loadgen.WrkRun:
    return loadgen.run_wrk(
        url,
        headers=headers,
        connections=args.connections,
        threads=args.threads,
        seconds=seconds,
        core=LOAD_CORE,
    )


def _fixed(
    name: str, url: str, headers: dict[str, str], args: argparse.Namespace, rate: float
) -> loadgen.RateRun:
    connections = args.rate_connections or max(64, math.ceil(rate * PACED_HEADROOM_SECONDS))
    fixed = loadgen.run_paced(
        url, headers=headers, rate=rate, seconds=args.rate_duration, connections=connections, core=LOAD_CORE
    )
    report.say(
        f"[{name}] fixed rate: offered {fixed.offered_rps:,.0f} req/s (wrk, {fixed.workers} conns), "
        f"achieved {fixed.achieved_rps:,.0f} req/s{'' if fixed.holds else ' (NOT HELD)'}, "
        f"p50 {fixed.p50_ms:.1f} ms, p99 {fixed.p99_ms:.1f} ms, max {fixed.max_ms:.1f} ms, "
        f"statuses {fixed.statuses}, cores {fixed.cpu}"
    )
    if fixed.statuses.get("4xx/5xx") or fixed.socket_errors:
        raise SystemExit(
            f"[{name}] fixed-rate run saw refusals or socket errors: {fixed.statuses} {fixed.socket_errors}"
        )
    return fixed


@dataclass
class _Side:
    """One target while both are served: its URL, headers, what to do after each run, its runs."""

    name: str
    url: str
    headers: dict[str, str]
    settle: Callable[[], None]
    runs: list[loadgen.WrkRun] = field(default_factory=list)
    seen: int = 0  # requests the load generators completed against it

    def warm_up(self, args: argparse.Namespace) -> None:
        report.say(f"[{self.name}] warm-up {args.warmup:g} s")
        self.seen += _wrk(self.url, self.headers, args, args.warmup).requests
        self.settle()

    def max_run(self, args: argparse.Namespace) -> None:
        run = _wrk(self.url, self.headers, args, args.duration)
        bad = {k: v for k, v in run.errors.items() if v}
        report.say(
            f"[{self.name}] run {len(self.runs) + 1}: {run.rps:,.0f} req/s, p50 {run.p50_ms:.2f} ms, "
            f"p99 {run.p99_ms:.2f} ms (wrk, {args.connections} conns), cores {run.cpu}"
            + (f", ERRORS {bad}" if bad else "")
        )
        if bad:
            raise SystemExit(f"[{self.name}] wrk saw errors (non-2xx/3xx or socket errors): {bad}")
        self.runs.append(run)
        self.seen += run.requests
        self.settle()

    def fixed_rate(self, args: argparse.Namespace, rate: float) -> dict[str, Any]:
        median = loadgen.median_rps(self.runs)
        fixed = _fixed(self.name, self.url, self.headers, args, rate)
        self.seen += fixed.requests
        self.settle()
        result = {
            "url": self.url,
            "max_rps_median": median,
            "max_runs": [loadgen.as_dict(r) for r in self.runs],
            "fixed_rate": loadgen.as_dict(fixed),
        }
        if not fixed.holds:
            # For information only: the latency at a rate this target can carry (half its own maximum).
            own = _fixed(f"{self.name} @ half its own max", self.url, self.headers, args, median / 2)
            self.seen += own.requests
            self.settle()
            result["fixed_rate_own_half"] = loadgen.as_dict(own)
        return result


def main() -> int:
    args = _args()
    if args.nice:
        os.nice(args.nice)  # inherited by every server and load generator started below
    return harness.run(
        ("wrk", "taskset"),
        "bench-gateway",
        "kaimen-bench-",
        args.keep,
        lambda info, work: _bench(args, info, work),
    )


def _bench(args: argparse.Namespace, info: dict[str, Any], work: Path) -> int:
    prepared = prepare.prepare(work / "data", log_level=args.log_level, redis_url=args.redis_url)
    gateway = servers.Target("gateway", "kaimen.asgi:app_from_env", prepared.env)
    headers = {"x-api-key": prepared.api_key}
    wanted = set(args.targets.split(","))

    # 1. The gateway does the full work; its answer is what the bare app will serve.
    with servers.serving(gateway, core=SERVER_CORE, log_dir=work) as base:
        sanity = prepare.sanity_check(base, prepared)
    body_file, media_file = work / "body.json", work / "media-type.txt"
    body_file.write_bytes(sanity.pop("body"))
    media_file.write_text(sanity["media_type"])
    report.say(
        f"sanity: 200 with a {sanity['body_bytes']}-byte {sanity['media_type']} body; refusals "
        f"{sanity['refusals']}; If-None-Match -> {sanity['not_modified']}; audited {sanity['audited_calls']}"
    )

    results: dict[str, Any] = {"machine": info, "args": vars(args), "sanity": sanity, "targets": {}}
    bare = servers.Target(
        "bare",
        "bare_app:create",
        {"BENCH_BODY_FILE": str(body_file), "BENCH_MEDIA_TYPE_FILE": str(media_file)},
        pythonpath=str(BENCH),
    )
    # 2. Both served at once (the idle one costs nothing), their timed runs taken in turn: this machine's
    # speed drifts over minutes, and a pair of runs seconds apart sees the same machine.
    sides: dict[str, _Side] = {}
    spy_out = work / "py-spy-gateway.txt"
    before = prepare.audit_count(prepared.db_path)
    with contextlib.ExitStack() as stack:
        if "bare" in wanted:
            base = stack.enter_context(servers.serving(bare, core=SERVER_CORE, log_dir=work))
            answer = httpx.get(base + prepare.PATH)
            if (
                answer.content != body_file.read_bytes()
                or answer.headers["content-type"] != sanity["media_type"]
            ):
                raise SystemExit("bare app does not answer the gateway's body and media type")
            sides["bare"] = _Side("bare", base + prepare.PATH, {}, lambda: time.sleep(1))
        if "gateway" in wanted:
            base = stack.enter_context(servers.serving(gateway, core=SERVER_CORE, log_dir=work))
            gateway_pid = base.pid
            sides["gateway"] = _Side(
                "gateway", base + prepare.PATH, headers, lambda: prepare.settle_audit(prepared)
            )
        for side in sides.values():
            side.warm_up(args)
        for _ in range(args.runs):
            for side in sides.values():
                side.max_run(args)
        if args.py_spy and "gateway" in sides:
            side = sides["gateway"]
            with servers.py_spy(args.py_spy, gateway_pid, args.duration - 1, out=spy_out, core=LOAD_CORE):
                profiled = _wrk(side.url, side.headers, args, args.duration)
            report.say(f"[gateway] profiled run (py-spy attached, not counted): {profiled.rps:,.0f} req/s")
            side.seen += profiled.requests
            side.settle()
        rate = args.rate
        if rate is None and "bare" in sides:
            rate = loadgen.median_rps(sides["bare"].runs) / 2
        for name, side in sides.items():
            results["targets"][name] = side.fixed_rate(
                args, rate if rate is not None else loadgen.median_rps(side.runs) / 2
            )

    if "gateway" in sides:
        target = results["targets"]["gateway"]
        target["requests_seen"] = sides["gateway"].seen
        if args.py_spy:
            target["py_spy"] = spy_summary.summarise(spy_out)
            report.say(spy_summary.render(target["py_spy"]))
            report.RESULTS.mkdir(exist_ok=True)
            # The raw stacks, for a closer look (bench/spy_summary.py sorts them into parts).
            shutil.copyfile(spy_out, report.RESULTS / "py-spy-gateway-last.txt")
        audited = prepare.audit_count(prepared.db_path) - before  # the server has stopped: all flushed
        target["audit_records"] = audited
        report.say(
            f"[gateway] audit records written: {audited:,} for {target['requests_seen']:,} calls the "
            "load generators completed (in-flight calls at the end of each run add a few)"
        )
        if audited < target["requests_seen"]:
            raise SystemExit("[gateway] fewer audit records than calls: the audit writer dropped some")
        if not args.no_verify:
            target["audit_chain"] = prepare.verify_audit_chain(prepared)
            report.say(f"[gateway] audit chain: {target['audit_chain']}")
    if len(sides) == 2:
        # For information: the ratio within each pair of runs taken seconds apart.
        pairs = [g.rps / b.rps for b, g in zip(sides["bare"].runs, sides["gateway"].runs, strict=True)]
        results["pair_ratios"] = pairs
        report.say("ratio within each pair of runs: " + " / ".join(f"{r:.3f}" for r in pairs))

    report.say()
    if len(results["targets"]) == 2:
        results["ratio"] = (
            results["targets"]["gateway"]["max_rps_median"] / results["targets"]["bare"]["max_rps_median"]
        )
        report.say(report.table(results))
        report.say()
        for line in report.goals(results):
            report.say(line)
    report.say(report.machine_line(info))
    report.say(f"results: {report.write_json(results)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
