"""Where a client_credentials token request's time goes, without an HTTP server or network in the way.

Builds the application bench/token_bench.py serves (same data and settings), runs its lifespan, and
drives POST /oauth2/token with pre-signed requests (one assertion and one proof each) through ASGI:

1. one request at a time, with each step of the token endpoint wrapped in a timer (wall µs per
   request: a step that awaits the database includes the hop to aiosqlite's thread and back);
2. ``--clients`` concurrent tasks, as the benchmark's connections, under cProfile (own and cumulative
   time of the hottest functions).

    .venv/bin/python bench/profile_token.py [--requests 2000] [--clients 32]
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
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import uvloop
from joserfc.jwk import JWKRegistry

import prepare
import profile_gateway
import token_prepare as tp
import token_requests as tr

BASE = "http://127.0.0.1:8000"


def _scope(body: bytes, proof: str) -> dict[str, Any]:
    headers = [
        (b"host", b"127.0.0.1:8000"),
        (b"content-type", b"application/x-www-form-urlencoded"),
        (b"content-length", str(len(body)).encode()),
        (b"dpop", proof.encode()),
    ]
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
        "scheme": "http",
        "method": "POST",
        "root_path": "",
        "path": tr.TOKEN,
        "raw_path": tr.TOKEN.encode(),
        "query_string": b"",
        "headers": headers,
        "state": {},
    }


async def _drive(app: Any, requests: list[tuple[bytes, str]], clients: int) -> float:
    """µs per request, ``clients`` at a time; every answer must be 200."""
    statuses: dict[int, int] = {}
    queue = list(reversed(requests))

    async def client() -> None:
        while queue:
            body, proof = queue.pop()
            sent = False

            async def receive() -> dict[str, Any]:
                nonlocal sent
                if sent:
                    await asyncio.sleep(3600)
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}  # noqa: B023

            async def send(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    statuses[message["status"]] = statuses.get(message["status"], 0) + 1

            await app(_scope(body, proof), receive, send)
            await asyncio.sleep(0)

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    elapsed = time.perf_counter() - started
    assert set(statuses) == {200}, statuses
    return elapsed / len(requests) * 1e6


class Steps:
    """Wall time per named step; steps may nest (the report says which contain which)."""

    def __init__(self) -> None:
        self.ns: dict[str, int] = {}

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        async def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter_ns()
            try:
                return await fn(*args, **kwargs)
            finally:
                self.ns[name] = self.ns.get(name, 0) + time.perf_counter_ns() - started

        return timed

    def wrap_sync(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter_ns()
            try:
                return fn(*args, **kwargs)
            finally:
                self.ns[name] = self.ns.get(name, 0) + time.perf_counter_ns() - started

        return timed


def _instrument(app: Any, steps: Steps) -> None:
    import kaimen.authz.client_auth as client_auth_module
    import kaimen.authz.dpop as dpop_module
    import kaimen.authz.token as token_module

    authz = app.components.authz

    def patch(owner: Any, attr: str, name: str, sync: bool = False) -> None:
        fn = getattr(owner, attr)
        setattr(owner, attr, (steps.wrap_sync if sync else steps.wrap)(name, fn))

    patch(token_module, "read_form", "read_form")
    ca = authz.client_auth
    ca.verify = steps.wrap("client_auth.verify", ca.verify)
    ca._known_client = steps.wrap("  client lookup (ClientRegistry.get)", ca._known_client)
    ca._verified = steps.wrap("  key select + joserfc PS256 verify", ca._verified)
    ca.use = steps.wrap("client_auth.use (assertion jti once)", ca.use)
    patch(client_auth_module, "unverified", "  unverified (parse the assertion once)", sync=True)
    dpop = authz.dpop
    dpop.verify = steps.wrap("dpop.verify", dpop.verify)
    patch(dpop_module, "_signed_claims", "  proof parse + jwk import + ES256 verify", sync=True)
    patch(JWKRegistry, "import_key", "    of which jwk import", sync=True)
    real_use = authz.once.use

    async def once_use(namespace: str, value: str, ttl: int) -> bool:
        return bool(await (timed_dpop if namespace == "dpop" else real_use)(namespace, value, ttl))

    timed_dpop = steps.wrap("  proof jti once (OnceStore.use)", real_use)
    authz.once.use = once_use
    grants = authz.token.grants
    grants["client_credentials"] = steps.wrap("grant (client_credentials)", grants["client_credentials"])
    authz.tokens.issue = steps.wrap("  TokenService.issue (INSERT token)", authz.tokens.issue)
    app.components.audit._drain = steps.wrap("audit flush (background, batched)", app.components.audit._drain)


async def _run(args: argparse.Namespace, env: dict[str, str], keys: tr.Keys, log: Path) -> None:
    os.environ.update(env)
    saved = sys.stdout
    with log.open("w") as sink:
        sys.stdout = sink
        try:
            from kaimen.asgi import app_from_env

            app = app_from_env()
        finally:
            sys.stdout = saved
    lifespan, inbox = await profile_gateway._lifespan(app)
    factory = tr.Factory(keys)
    try:

        def batch(n: int) -> list[tuple[bytes, str]]:
            out = []
            for assertion, proof in factory.token_parts(n):
                form = {
                    "grant_type": "client_credentials",
                    "scope": "accounts",
                    "client_assertion_type": tr.ASSERTION_TYPE,
                    "client_assertion": assertion,
                }
                out.append((tr.raw_request("POST", tr.TOKEN, "x", {}, form).split(b"\r\n\r\n", 1)[1], proof))
            return out

        n, c = args.requests, args.clients
        await _drive(app, batch(500), c)  # warm-up
        concurrent_us = await _drive(app, batch(n), c)
        sequential_us = await _drive(app, batch(n), 1)
        steps = Steps()
        _instrument(app, steps)
        timed_us = await _drive(app, batch(n), 1)
        print(f"in-process, no HTTP server, {n} client_credentials requests:")
        print(f"  {c} concurrent clients: {concurrent_us:7.0f} µs/request ({1e6 / concurrent_us:,.0f}/s)")
        print(f"  one at a time:         {sequential_us:7.0f} µs/request ({1e6 / sequential_us:,.0f}/s)")
        print(f"  one at a time, steps timed ({timed_us:.0f} µs/request with the timers), wall µs/request:")
        for name, ns in steps.ns.items():
            print(f"    {name:50s} {ns / n / 1000:8.0f}")
        top = sum(
            steps.ns.get(k, 0)
            for k in ("read_form", "client_auth.authenticate", "dpop.verify", "grant (client_credentials)")
        )
        rest = timed_us - top / n / 1000
        print(f"    {'rest (gateway layers, routing, response, events)':50s} {rest:8.0f}")
        profile = cProfile.Profile()
        requests = batch(n)
        profile.enable()
        await _drive(app, requests, c)
        profile.disable()
    finally:
        factory.close()
        await inbox.put({"type": "lifespan.shutdown"})
        await lifespan
    profile_gateway._print_stats(profile, "tottime", args.top, n)
    profile_gateway._print_stats(profile, "cumulative", args.top, n)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--clients", type=int, default=32)
    p.add_argument("--top", type=int, default=35)
    p.add_argument("--redis-url", default=None)
    args = p.parse_args()
    prepare.clean_environ()
    work = Path(tempfile.mkdtemp(prefix="kaimen-profile-token-"))
    try:
        data = work / "data"
        prepared = prepare.prepare(data, log_level="WARNING", redis_url=args.redis_url)
        keys = tr.Keys.generate(BASE)
        keys = replace(
            keys, client_id=tp.create_client(tp.settings_for(data, BASE), prepared.application_id, keys)
        )
        env = tp.server_env(data, BASE, log_level="WARNING", redis_url=args.redis_url, iat_window=None)
        uvloop.run(_run(args, env, keys, work / "server.log"))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
