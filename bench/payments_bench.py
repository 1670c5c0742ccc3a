"""Payment API benchmark (issue 5, "Benchmark"): ``POST /domestic-payments`` submissions per second on
PostgreSQL with 16 concurrent clients on one worker, with the risk engine on; then the risk engine's
decisions per second alone.

Same server set-up as bench/accounts_bench.py (granian, one worker, uvloop, pinned to core 0; wrk
pinned to core 1), on a scratch PostgreSQL database (``--postgres-url``, created and dropped; skipped,
saying so, when that server does not answer) and Redis when one answers (``--redis-url``: the
one-time stores, rate limits and the risk engine's velocity counters; else none):

    set-up     a TPP (approved application, OAuth client with a PS256 key), --customers customers with
               30 days of ledger history (bench/payments_prepare.py)
    per run    untimed: fresh Authorised consents, one per payment, each with its customer's DPoP-bound
               token, and per payment the exact body, its x-jws-signature, an x-idempotency-key and a
               DPoP proof with ath; timed: wrk with --connections connections replays them, each once
               (bench/wrk_payments.lua records every answer); warm-up, then --runs runs, median
    checks     after the server stops (bench/payments_checks.py): every acknowledged (201) payment
               exists once under its id and its consent, no consent paid twice and every paid consent
               Consumed, the ledger sums to zero and every posting balances; a failure stops the run
    risk alone the engine in-process (build_risk_engine + assess_payment) on the same database (and
               Redis), 16 concurrent assessments of realistic payment contexts, decisions per second

The risk engine runs with Kaimen's defaults except the velocity limits, which are a bank's real
traffic here: one TPP sends every payment (its card-testing limits, 60 and 120 a minute, would hold and
reject the whole burst) and each customer pays a few times an hour (RISK_OVERRIDES). Outcomes are
printed: Accepted / Pending (held or step-up) / Rejected.

Goal (issue 5): >= 100 payments per second on one worker.

    make bench-payments [BENCH_ARGS="--quick"] [BENCH_POSTGRES_URL=...] [BENCH_REDIS_URL=...|none]
    .venv/bin/python bench/payments_bench.py --help

The PostgreSQL and Redis servers run on this machine's cores too, wherever the OS puts them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

import accounts_bench as ab
import harness
import loadgen
import payments_checks as checks
import payments_prepare as pp
import pg_scratch
import prepare
import report
import servers
import token_bench as tb
import token_prepare as tp
import token_requests as tr
from kaimen.settings import Settings, load_settings
from kaimen.store.migrate import upgrade

GOAL_RPS = 100.0
DEFAULT_REDIS = "redis://127.0.0.1:6379/15"
SCRIPT = Path(__file__).resolve().with_name("wrk_payments.lua")
SEED = checks.SEED
RISK_OVERRIDES: dict[str, int] = {
    "tpp_max_count": 1_000_000,
    "tpp_reject_count": 1_000_000,
    "tpp_max_sum_minor": 1_000_000_000_000,
    "customer_max_count": 50,
}
ACCEPTED = checks.ACCEPTED


def _args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="CI: 3 s runs, 2 s warm-up, 1 run, 100 customers")
    p.add_argument("--duration", type=float, default=10, help="seconds per timed run (10)")
    p.add_argument("--warmup", type=float, default=3, help="seconds of warm-up (3)")
    p.add_argument("--runs", type=int, default=3, help="timed runs, each with fresh consents (3)")
    p.add_argument("--connections", type=int, default=16, help="wrk connections (16)")
    p.add_argument("--threads", type=int, default=1, help="wrk threads (1: one core)")
    p.add_argument("--workers", type=int, default=1, help="granian workers (1; more run on every core)")
    p.add_argument("--customers", type=int, default=400, help="customers the payments spread over (400)")
    p.add_argument("--expect", type=float, default=150, help="payments/s the warm-up is sized for (150)")
    p.add_argument("--risk-seconds", type=float, default=5, help="seconds of risk engine alone (5)")
    p.add_argument("--py-spy", metavar="PATH", default=None, help="py-spy: sample the server in run 1")
    p.add_argument("--risk-off", action="store_true", help="diagnosis only: KAIMEN_RISK__ENABLED=false")
    p.add_argument("--log-level", default=None, choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    p.add_argument("--keep", action="store_true", help="keep the temporary data dir and server logs")
    p.add_argument(
        "--postgres-url",
        default=os.environ.get("BENCH_POSTGRES_URL", pg_scratch.DEFAULT_URL),
        help="the PostgreSQL server (env BENCH_POSTGRES_URL; default %(default)s)",
    )
    p.add_argument(
        "--redis-url",
        default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS),
        help="Redis (env BENCH_REDIS_URL; default %(default)s when it answers; 'none' for no Redis)",
    )
    args = p.parse_args()
    if args.quick:
        args.duration, args.warmup, args.runs, args.risk_seconds, args.customers = 3.0, 2.0, 1, 1.0, 100
    return args


def _redis(url: str) -> tuple[str | None, str]:
    """The Redis URL to use (None: none) and why, in a few words."""
    if url.lower() in ("", "none"):
        return None, "none (--redis-url none)"
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except Exception as error:  # any failure to connect means: run without Redis
        return None, f"none ({url} did not answer: {type(error).__name__})"
    return url, url


def main() -> int:
    args = _args()
    return harness.run(("wrk", "taskset"), "bench-payments", "kaimen-bench-payments-", args.keep,
                       lambda i, w: _bench(args, i, w))  # fmt: skip


def _bench(args: argparse.Namespace, info: dict[str, Any], work: Path) -> int:
    results: dict[str, Any] = {"machine": info, "args": vars(args), "risk_overrides": RISK_OVERRIDES}
    why = pg_scratch.reachable(args.postgres_url)
    if why is not None:
        report.say(f"PostgreSQL SKIPPED: {args.postgres_url} is not reachable ({why}); nothing to measure")
        results["skipped"] = why
        report.say(f"results: {report.write_json(results, prefix='payments')}")
        return 0
    redis_url, redis_said = _redis(args.redis_url)
    if args.workers > 1 and redis_url is None:
        raise SystemExit(
            f"--workers {args.workers} needs Redis (one-time stores shared by the workers): {redis_said}"
        )
    report.say(f"PostgreSQL: {args.postgres_url} (a scratch database); Redis: {redis_said}")
    results["redis"] = redis_said
    if (os.cpu_count() or 1) < 4:
        report.say(
            f"note: {os.cpu_count()} cores: PostgreSQL and Redis share the cores of the server and wrk"
        )
    with pg_scratch.scratch_database(args.postgres_url) as url:
        results.update(_on_postgres(args, work, url, redis_url))
    _summary(results, info)
    return 0


def _settings(data: Path, url: str, base: str, redis_url: str | None) -> Settings:
    return load_settings(
        data_dir=data,
        database_url=url,
        public_base_url=base,
        redis_url=redis_url,
        oauth={"access_token_ttl_seconds": ab.TOKEN_TTL_SECONDS},
        risk=RISK_OVERRIDES,
    )


def _server_env(
    data: Path, base: str, args: argparse.Namespace, url: str, redis: str | None
) -> dict[str, str]:
    env = ab.server_env(data, base, args.log_level, url)
    apis = json.loads(env["KAIMEN_APIS"])
    apis["pisp"] = {**apis["aisp"], "scopes": ["payments"]}
    env["KAIMEN_APIS"] = json.dumps(apis)
    env.update({f"KAIMEN_RISK__{name.upper()}": str(value) for name, value in RISK_OVERRIDES.items()})
    if redis:
        env["KAIMEN_REDIS_URL"] = redis
    if args.risk_off:
        env["KAIMEN_RISK__ENABLED"] = "false"
    return env


def _on_postgres(args: argparse.Namespace, work: Path, url: str, redis_url: str | None) -> dict[str, Any]:
    data = work / "data"
    data.mkdir(parents=True, exist_ok=True)
    upgrade(url)
    application_id, _ = asyncio.run(prepare._seed(url))
    port = servers.free_port()
    base, host = f"http://{servers.HOST}:{port}", f"{servers.HOST}:{port}"
    settings = _settings(data, url, base, redis_url)
    keys = tr.Keys.generate(base)
    keys = tr.Keys(base, tp.create_client(settings, application_id, keys), keys.client_jwk, keys.dpop_jwk)
    started = time.monotonic()
    # Ids of this run only: the risk engine's velocity counters in Redis outlive the scratch database.
    tag = uuid.uuid4().hex[:8]
    customers = [f"bench-{tag}-{n:05d}" for n in range(args.customers)]
    accounts = asyncio.run(pp.customer_accounts(url, customers, SEED))
    report.say(
        f"set-up: {len(accounts)} customers with 30 days of history in {time.monotonic() - started:.1f} s"
    )
    kaimen = servers.Target(
        "kaimen",
        "kaimen.asgi:app_from_env",
        _server_env(data, base, args, url, redis_url),
        workers=args.workers,
    )
    signer = pp.PaymentSigner(keys, keys.client_id, settings.jws_tan)
    acknowledged: dict[str, str] = {}  # DomesticPaymentId -> ConsentId, every 201 of every run
    runs: list[dict[str, Any]] = []
    batch = iter(range(1, 1_000_000))
    try:
        with servers.serving(kaimen, core=tb.SERVER_CORE, log_dir=work, port=port) as running:

            def prepared(count: int) -> list[bytes]:
                t0 = time.monotonic()
                payments = asyncio.run(
                    pp.authorised_payments(settings, keys.client_id, keys.jkt(), accounts, count, next(batch))
                )
                requests = signer.requests(payments, host)
                took = time.monotonic() - t0
                report.say(f"  prepared {count:,} consents, tokens and signed requests in {took:.1f} s")
                return requests

            results: dict[str, Any] = {"sanity": _sanity(running, prepared(2), acknowledged)}
            report.say(f"sanity: {results['sanity']}")
            warm = _run(args, work, running, "warm-up", prepared(tb._size(args.expect, args.warmup, 1.5)),
                        args.warmup, acknowledged)  # fmt: skip
            rate = warm["rps"]
            for n in range(args.runs):
                requests = prepared(tb._size(rate, args.duration, 1.6))
                spied = work / "py-spy-payments.txt"
                with _spying(args, running, spied, first=n == 0):
                    runs.append(
                        _run(args, work, running, f"run {n + 1}", requests, args.duration, acknowledged)
                    )
                if args.py_spy and n == 0:
                    results["py_spy_file"] = str(spied)
                rate = max(rate, runs[-1]["rps"])
    finally:
        signer.close()
    verified = asyncio.run(checks.integrity(settings, acknowledged, args.connections * (args.runs + 1)))
    report.say(f"integrity: {verified}")
    engine = asyncio.run(checks.risk_alone(settings, accounts, args.risk_seconds))
    rps = statistics.median(r["rps"] for r in runs)
    return {
        **results,
        "warmup": warm,
        "runs": runs,
        "rps_median": rps,
        "integrity": verified,
        "risk_alone": engine,
    }


def _spying(args: argparse.Namespace, running: servers.Running, out: Path, first: bool) -> Any:
    """py-spy on the server for the run, when asked and on the first run only."""
    if not (args.py_spy and first):
        return contextlib.nullcontext()
    return servers.py_spy(args.py_spy, running.pid, args.duration - 1, out, core=tb.LOAD_CORE)


def _sanity(url: str, requests: list[bytes], acknowledged: dict[str, str]) -> dict[str, str]:
    """One prepared payment answers 201; the same consent again, with its own fresh proof and key, is
    refused (the consent is Consumed)."""
    first, _ = requests
    head, _, body = first.partition(b"\r\n\r\n")
    headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n")[1:])
    headers = {k: v for k, v in headers.items() if k not in ("Host", "Content-Length")}
    with httpx.Client(timeout=10) as http:
        answer = http.post(url + pp.PAYMENTS, content=body, headers=headers)
        if answer.status_code != 201:
            raise SystemExit(f"payment: {answer.status_code} {answer.text[:300]}")
        data = answer.json()["Data"]
        acknowledged[data["DomesticPaymentId"]] = data["ConsentId"]
        replayed = http.post(url + pp.PAYMENTS, content=body, headers=headers)
        if replayed.status_code != 401:
            raise SystemExit(f"replayed DPoP proof: {replayed.status_code}, expected 401")
    return {"payment": f"201 {data['Status']}", "replayed proof": "401"}


def _run(
    args: argparse.Namespace,
    work: Path,
    url: str,
    name: str,
    requests: list[bytes],
    seconds: float,
    acknowledged: dict[str, str],
) -> dict[str, Any]:
    path = work / f"{name.replace(' ', '-')}.bin"
    count = tr.write_records(path, requests)
    answers = work / f"{name.replace(' ', '-')}.answers"
    os.environ["BENCH_RESPONSES"] = str(answers)
    run = loadgen.run_wrk(
        url + pp.PAYMENTS,
        headers={},
        connections=args.connections,
        threads=args.threads,
        seconds=seconds,
        core=tb.LOAD_CORE,
        script=SCRIPT,
        script_args=(str(path), str(args.threads)),
    )
    statuses: Counter[str] = Counter()
    ids: dict[str, str] = {}
    refusals: list[str] = []
    for file in work.glob(answers.name + ".*"):
        for line in file.read_text().splitlines():
            status, payment_id, state, consent_id = line.split(" ", 3)
            if status == "201":
                if payment_id in acknowledged or payment_id in ids:
                    raise SystemExit(f"[{name}] payment {payment_id} acknowledged twice")
                ids[payment_id] = consent_id
                statuses[state] += 1
            else:
                refusals.append(line)
    acknowledged.update(ids)
    bad = {k: v for k, v in run.errors.items() if v}
    report.say(
        f"[{name}] {run.rps:,.1f} payments/s over {run.seconds:g} s ({run.requests:,} of {count:,} "
        "prepared), "
        f"p50 {run.p50_ms:.1f} ms, p99 {run.p99_ms:.1f} ms, cores {run.cpu}; 201: {dict(statuses)}"
        + (f", ERRORS {bad}" if bad else "")
    )
    if bad or refusals or run.requests > count:
        raise SystemExit(f"[{name}] refusals or errors (or the requests ran out): {bad} {refusals[:5]}")
    outcomes: Counter[str] = Counter()
    for state, n in statuses.items():
        outcomes["Accepted" if state in ACCEPTED else state] += n
    return {**loadgen.as_dict(run), "prepared": count, "acknowledged": len(ids), "outcomes": dict(outcomes)}


def _summary(results: dict[str, Any], info: dict[str, Any]) -> None:
    report.say()
    engine = "OFF (--risk-off, not what a bank runs)" if results["args"]["risk_off"] else "on"
    workers = "one worker" if results["args"]["workers"] == 1 else f"{results['args']['workers']} workers"
    report.say(f"=== summary: POST /domestic-payments on PostgreSQL, {workers}, risk engine {engine} ===")
    rps = results["rps_median"]
    runs = " / ".join(f"{r['rps']:,.1f}" for r in results["runs"])
    p50 = statistics.median(r["p50_ms"] for r in results["runs"])
    p99 = statistics.median(r["p99_ms"] for r in results["runs"])
    report.say(
        f"payments/s (median of {len(results['runs'])}: {runs}): {rps:,.1f}   "
        f"p50 {p50:.1f} ms, p99 {p99:.1f} ms   "
        f"goal >= {GOAL_RPS:.0f}/s: {'met' if rps >= GOAL_RPS else 'MISSED'}"
    )
    report.say(f"Redis: {results['redis']}")
    outcomes = results["integrity"]["outcomes"]
    report.say(
        f"outcomes of all {results['integrity']['acknowledged']:,} acknowledged payments: "
        f"Accepted {outcomes.get('Accepted', 0):,}, Pending {outcomes.get('Pending', 0):,}, "
        f"Rejected {outcomes.get('Rejected', 0):,}"
    )
    report.say(
        "integrity: every 201 stored once, no consent paid twice, ledger sums to 0, every posting balances"
    )
    risk = results["risk_alone"]
    report.say(
        f"risk engine alone: {risk['decisions_per_s']:,.0f} decisions/s ({risk['concurrency']} concurrent, "
        f"p50 {risk['p50_ms']:.1f} ms, p99 {risk['p99_ms']:.1f} ms), outcomes {risk['outcomes']}"
    )
    report.say(report.machine_line(info))
    report.say(f"results: {report.write_json(results, prefix='payments')}")


if __name__ == "__main__":
    sys.exit(main())
