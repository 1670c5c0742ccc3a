"""Where one ``GET /accounts/{AccountId}/transactions`` (page of 25) spends its time, in-process: no
HTTP server, no network, requests one at a time.

- default: the handler alone, called with a request whose ``scope["kaimen"]`` carries the access token
  as the gateway leaves it (a customer with 90 days of sandbox history and an Authorised consent with
  the benchmark's permissions, as bench/accounts_bench.py sets up);
- ``--gateway``: the whole application bench/accounts_bench.py serves (gateway, DPoP proof, token
  lookup, rate limit, audit), driven through ASGI with proofs signed beforehand.

Prints wall µs per request, whole and per step (the consent and grant checks, the ledger page, the
body; "rest" is everything else), then a cProfile (``--top 0``: none).

    .venv/bin/python bench/profile_accounts.py [--gateway] [--requests 5000] [--database-url URL]

``--database-url``: a PostgreSQL server (postgresql://postgres@127.0.0.1:5432/, say); a scratch
database is created on it and dropped afterwards. Default: SQLite in a temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import shutil
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import uvloop

import pg_scratch
import profile_gateway
from kaimen.apis.accounts import ais_resource
from kaimen.apis.accounts.ais_resource import AisResource
from kaimen.apis.accounts.consent_request import read_consent_request
from kaimen.apis.accounts.consents import AccountAccessConsents
from kaimen.authz.tokens import AccessToken
from kaimen.events import EventBus
from kaimen.gateway.context import Call
from kaimen.ledger.history import seed_history
from kaimen.ledger.sandbox import SandboxLedger
from kaimen.store.db import Database
from kaimen.store.migrate import upgrade
from kaimen.store.types import utcnow

CUSTOMER_ID = "bench-customer"
CLIENT_ID = "bench-client"
BASE = "http://127.0.0.1:8000"
PERMISSIONS = [
    "ReadAccountsDetail",
    "ReadBalances",
    "ReadTransactionsDetail",
    "ReadTransactionsCredits",
    "ReadTransactionsDebits",
]


def _scope(path: str, token: AccessToken, query: bytes = b"") -> dict[str, Any]:
    call = Call(interaction_id="x", client_ip="127.0.0.1", api=None, started_ns=0, method="GET", token=token)
    return {
        "type": "http",
        "method": "GET",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "headers": [(b"host", b"127.0.0.1:8000")],
        "path_params": {},
        "kaimen": call,
    }


class Steps:
    def __init__(self) -> None:
        self.ns: dict[str, int] = {}

    def wrap(self, name: str, fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter_ns()
            try:
                return await fn(*args, **kwargs)
            finally:
                self.ns[name] = self.ns.get(name, 0) + time.perf_counter_ns() - started

        return timed


async def _set_up(db: Database) -> tuple[AisResource, AccessToken, str]:
    await seed_history(db, [CUSTOMER_ID], seed=20261126)
    core = SandboxLedger(db)
    accounts = await core.accounts(CUSTOMER_ID)
    consents = AccountAccessConsents(db, EventBus())
    body = orjson.dumps({"Data": {"Permissions": PERMISSIONS}, "Risk": {}})
    consent = await consents.create(CLIENT_ID, read_consent_request(body, utcnow()))
    if not await consents.authorise(consent.consent_id, CUSTOMER_ID, [a.account_id for a in accounts]):
        raise RuntimeError("the consent could not be authorised")
    token = AccessToken(
        client_id=CLIENT_ID,
        customer_id=CUSTOMER_ID,
        scope=frozenset({"openid", "accounts"}),
        jkt="x",
        consent_id=consent.consent_id,
        grant_id=uuid.uuid4().hex,
        expires_at=utcnow() + timedelta(hours=1),
    )
    return AisResource(consents, core, BASE), token, accounts[0].account_id


async def _timed_steps(steps: Steps, run: Callable[[], Awaitable[float]]) -> float:
    """``run()`` with the handler's three steps timed: the consent and grant checks (``authorised``),
    the core's page, the body (wherever the handler runs: alone or behind the gateway)."""
    authorised, core_read, body = (
        ais_resource.authorised,
        SandboxLedger.transactions,
        ais_resource.transactions_body,
    )

    def timed_body(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter_ns()
        try:
            return body(*args, **kwargs)
        finally:
            steps.ns["body"] = steps.ns.get("body", 0) + time.perf_counter_ns() - started

    ais_resource.authorised = steps.wrap("consent (authorised)", authorised)  # type: ignore[assignment]
    SandboxLedger.transactions = steps.wrap("ledger page (core.transactions)", core_read)  # type: ignore[method-assign]
    ais_resource.transactions_body = timed_body
    try:
        return await run()
    finally:
        ais_resource.authorised = authorised
        SandboxLedger.transactions = core_read  # type: ignore[method-assign]
        ais_resource.transactions_body = body


def _report(title: str, n: int, total_us: float, timed_us: float, steps: Steps) -> None:
    print(title)
    print(f"  whole, {n} calls one at a time: {total_us:7.0f} µs/request")
    print(f"  steps (wall µs/request; {timed_us:.0f} µs/request with the timers):")
    for name, ns in steps.ns.items():
        print(f"    {name:40s} {ns / n / 1000:7.0f}")
    rest = timed_us - sum(steps.ns.values()) / n / 1000
    print(f"    {'rest':40s} {rest:7.0f}")


async def _run(args: argparse.Namespace, url: str) -> None:
    from starlette.requests import Request

    db = Database(url)
    try:
        resource, token, account_id = await _set_up(db)
        path = f"/open-banking/v3.1/aisp/accounts/{account_id}/transactions"
        scope = _scope(path, token)
        scope["path_params"] = {"AccountId": account_id}
        n = args.requests

        async def many(count: int) -> float:
            started = time.perf_counter()
            for _ in range(count):
                response = await resource.account_transactions(Request(scope))
                assert response.status_code == 200
            return (time.perf_counter() - started) / count * 1e6

        first = orjson.loads((await resource.account_transactions(Request(scope))).body)
        assert len(first["Data"]["Transaction"]) == 25, first
        await many(min(500, n))  # warm-up
        total_us = await many(n)
        steps = Steps()
        timed_us = await _timed_steps(steps, lambda: many(n))
        where = "PostgreSQL" if "postgres" in url else "SQLite"
        title = f"{where}: the handler alone (rest: query, links, JSON, response)"
        _report(title, n, total_us, timed_us, steps)
        profile = cProfile.Profile()
        profile.enable()
        await many(n)
        profile.disable()
        profile_gateway._print_stats(profile, "tottime", args.top, n)
    finally:
        await db.dispose()


def _gateway(args: argparse.Namespace, work: Path, database_url: str | None) -> None:
    """The whole application (gateway, DPoP, token lookup, audit) driven through ASGI with pre-signed
    proofs, as bench/accounts_bench.py serves it; the handler's steps timed inside it."""
    import os
    import sys
    from dataclasses import replace

    import accounts_bench as ab
    import token_prepare as tp
    import token_requests as tr
    from kaimen.settings import load_settings

    data = work / "data"
    application_id, _ = ab._prepare(data, "WARNING", database_url)
    settings = load_settings(
        data_dir=data,
        database_url=database_url,
        public_base_url=BASE,
        oauth={"access_token_ttl_seconds": ab.TOKEN_TTL_SECONDS},
    )
    keys = tr.Keys.generate(BASE)
    keys = replace(keys, client_id=tp.create_client(settings, application_id, keys))
    account_id, token = ab.set_up(settings, keys.client_id, keys.jkt())
    path = f"{ab.AISP}/accounts/{account_id}/transactions"
    factory = tr.Factory(keys)
    try:
        proofs = factory.resource_proofs(4 * args.requests + 600, "GET", path, token)
    finally:
        factory.close()
    os.environ.update(ab.server_env(data, BASE, "WARNING", database_url))

    async def run() -> None:
        saved = sys.stdout
        sys.stdout = sink  # the application's log lines, until the lifespan ends
        try:
            from kaimen.asgi import app_from_env

            app = app_from_env()
        finally:
            sys.stdout = saved
        lifespan, inbox = await profile_gateway._lifespan(app)
        statuses: dict[int, int] = {}

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses[message["status"]] = statuses.get(message["status"], 0) + 1

        async def many(count: int) -> float:
            started = time.perf_counter()
            for _ in range(count):
                headers = [(b"authorization", f"DPoP {token}".encode()), (b"dpop", proofs.pop().encode())]
                await app(profile_gateway._scope(path, headers), receive, send)
                await asyncio.sleep(0)  # the audit writer's flushes run, as in the server
            return (time.perf_counter() - started) / count * 1e6

        try:
            await many(500)  # warm-up
            total_us = await many(args.requests)
            steps = Steps()
            timed_us = await _timed_steps(steps, lambda: many(args.requests))
            assert set(statuses) == {200}, statuses
            where = "PostgreSQL" if database_url else "SQLite"
            title = f"{where}: the whole application (rest: gateway incl. DPoP, token, rate limit, audit)"
            _report(title, args.requests, total_us, timed_us, steps)
            if args.top:
                profile = cProfile.Profile()
                profile.enable()
                await many(args.requests)
                profile.disable()
                profile_gateway._print_stats(profile, "cumulative", args.top, args.requests)
        finally:
            await inbox.put({"type": "lifespan.shutdown"})
            await lifespan

    with (work / "server.log").open("w") as sink:
        uvloop.run(run())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requests", type=int, default=5000)
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--database-url", default=None, help="a PostgreSQL server URL (default: SQLite)")
    p.add_argument("--gateway", action="store_true", help="the whole application, not the handler alone")
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kaimen-profile-accounts-"))
    try:
        if args.gateway:
            if args.database_url:
                with pg_scratch.scratch_database(args.database_url) as url:
                    _gateway(args, work, url)
            else:
                _gateway(args, work, None)
        elif args.database_url:
            with pg_scratch.scratch_database(args.database_url) as url:
                upgrade(url)
                uvloop.run(_run(args, url))
        else:
            url = f"sqlite+aiosqlite:///{work / 'kaimen.db'}"
            upgrade(url)
            uvloop.run(_run(args, url))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
