"""Where one ``POST /domestic-payments`` spends its time, in-process: the application bench/payments_bench.py
serves (gateway, DPoP, message signature, risk engine, ledger posting, audit), on the same scratch
PostgreSQL database and Redis, driven through ASGI with the same pre-signed requests, one at a time
(no HTTP server, no network, no load generator competing for the cores).

Prints wall µs per payment and the CPU µs of it spent in this process, then a cProfile sorted by
cumulative time (``--top 0``: none); ``--statements`` counts the SQL statements and Redis commands.

    .venv/bin/python bench/profile_payments.py [--payments 300] [--top 60] [--risk-off]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import uvloop

import payments_bench as pb
import payments_prepare as pp
import pg_scratch
import prepare
import profile_gateway
import token_prepare as tp
import token_requests as tr
from kaimen.store.migrate import upgrade

BASE = "http://127.0.0.1:8000"
HOST = "127.0.0.1:8000"


def _scope(raw: bytes) -> tuple[dict[str, Any], bytes]:
    """The ASGI scope and body of one prepared HTTP/1.1 request."""
    head, _, body = raw.partition(b"\r\n\r\n")
    first, *lines = head.split(b"\r\n")
    method, path, _ = first.split(b" ")
    headers = [
        (name.strip().lower(), value.strip()) for name, _, value in (line.partition(b":") for line in lines)
    ]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
        "scheme": "http",
        "method": method.decode(),
        "root_path": "",
        "path": path.decode(),
        "raw_path": path,
        "query_string": b"",
        "headers": headers,
        "state": {},
    }
    return scope, body


def _count_statements() -> Counter[str]:
    """Counts every statement any engine sends from now on, by its first 100 characters."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    counted: Counter[str] = Counter()

    def before(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        counted[" ".join(statement.split())[:100]] += 1

    event.listen(Engine, "before_cursor_execute", before)

    from redis.asyncio.client import Pipeline, Redis

    command = Redis.execute_command

    async def counting(self: Redis, *args: Any, **options: Any) -> Any:
        counted[f"redis {args[0]}"] += 1
        return await command(self, *args, **options)

    pipeline = Pipeline.execute

    async def counting_pipeline(self: Pipeline, *args: Any, **options: Any) -> Any:
        counted[f"redis pipeline of {len(self.command_stack)}"] += 1
        return await pipeline(self, *args, **options)

    Redis.execute_command = counting  # type: ignore[method-assign]
    Pipeline.execute = counting_pipeline  # type: ignore[method-assign]
    return counted


def _print_statements(counted: Counter[str], payments: int) -> None:
    print(f"  SQL statements per payment: {sum(counted.values()) / payments:.1f} (BEGIN/COMMIT not counted)")
    for statement, n in counted.most_common():
        print(f"    {n / payments:5.2f}  {statement}")


def _args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--payments", type=int, default=300, help="timed payments, then as many profiled (300)")
    p.add_argument("--customers", type=int, default=100)
    p.add_argument("--top", type=int, default=60)
    p.add_argument("--risk-off", action="store_true", help="KAIMEN_RISK__ENABLED=false")
    p.add_argument("--sort", default="cumulative", choices=["cumulative", "tottime"])
    p.add_argument("--statements", action="store_true", help="count the SQL statements per payment")
    p.add_argument("--postgres-url", default=os.environ.get("BENCH_POSTGRES_URL", pg_scratch.DEFAULT_URL))
    p.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", pb.DEFAULT_REDIS))
    args = p.parse_args()
    args.log_level = "WARNING"
    return args


def _run(args: argparse.Namespace, work: Path, url: str, redis_url: str | None) -> None:
    data = work / "data"
    data.mkdir(parents=True)
    upgrade(url)
    application_id, _ = asyncio.run(prepare._seed(url))
    settings = pb._settings(data, url, BASE, redis_url)
    keys = tr.Keys.generate(BASE)
    keys = tr.Keys(BASE, tp.create_client(settings, application_id, keys), keys.client_jwk, keys.dpop_jwk)
    tag = uuid.uuid4().hex[:8]
    customers = [f"bench-{tag}-{n:05d}" for n in range(args.customers)]
    accounts = asyncio.run(pp.customer_accounts(url, customers, pb.SEED))
    warm = 30
    count = warm + 2 * args.payments
    payments = asyncio.run(pp.authorised_payments(settings, keys.client_id, keys.jkt(), accounts, count, 1))
    signer = pp.PaymentSigner(keys, keys.client_id, settings.jws_tan)
    try:
        requests = [_scope(raw) for raw in signer.requests(payments, HOST)]
    finally:
        signer.close()
    os.environ.update(pb._server_env(data, BASE, args, url, redis_url))

    async def run() -> None:
        with (work / "server.log").open("w") as sink:
            saved, sys.stdout = sys.stdout, sink
            try:
                from kaimen.asgi import app_from_env

                app = app_from_env()
            finally:
                sys.stdout = saved
        lifespan, inbox = await profile_gateway._lifespan(app)
        statuses: dict[int, int] = {}

        async def one(scope: dict[str, Any], body: bytes) -> None:
            async def receive() -> dict[str, Any]:
                return {"type": "http.request", "body": body, "more_body": False}

            async def send(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    statuses[message["status"]] = statuses.get(message["status"], 0) + 1

            await app(scope, receive, send)
            await asyncio.sleep(0)  # the audit writer's flushes run, as in the server

        async def many(batch: list[tuple[dict[str, Any], bytes]]) -> tuple[float, float]:
            """Wall and this process's CPU µs per payment (the CPU figure leaves out the database
            server and Redis, and time spent waiting: steadier on a busy machine)."""
            started, cpu = time.perf_counter(), time.process_time()
            for scope, body in batch:
                await one(scope, body)
            n = len(batch)
            return (time.perf_counter() - started) / n * 1e6, (time.process_time() - cpu) / n * 1e6

        try:
            await many(requests[:warm])
            counted = _count_statements() if args.statements else None
            timed, cpu = await many(requests[warm : warm + args.payments])
            if counted is not None:
                _print_statements(counted, args.payments)
            engine = "off" if args.risk_off else "on"
            print(f"PostgreSQL, Redis {redis_url or 'none'}, risk engine {engine}")
            print(
                f"  {args.payments} payments one at a time: {timed:,.0f} µs per payment "
                f"({cpu:,.0f} µs of it CPU in this process); statuses {statuses}"
            )
            if args.top:
                profile = cProfile.Profile()
                profile.enable()
                await many(requests[warm + args.payments :])
                profile.disable()
                profile_gateway._print_stats(profile, args.sort, args.top, args.payments)
        finally:
            await inbox.put({"type": "lifespan.shutdown"})
            await lifespan

    uvloop.run(run())


def main() -> None:
    args = _args()
    redis_url, said = pb._redis(args.redis_url)
    print(f"Redis: {said}")
    work = Path(tempfile.mkdtemp(prefix="kaimen-profile-payments-"))
    try:
        with pg_scratch.scratch_database(args.postgres_url) as url:
            _run(args, work, url, redis_url)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
