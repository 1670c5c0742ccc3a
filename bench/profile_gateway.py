"""Where the gateway's time goes, per request, without an HTTP server or network in the way.

Builds the same application the benchmark serves (kaimen.asgi:app_from_env, same data and settings as
bench/gateway.py), runs its lifespan, and drives it with ASGI calls shaped like granian's from
``--clients`` concurrent tasks (each yields to the event loop after every call, so the audit writer's
background flushes run as they would in the server). Prints µs per request for the bare app and the
gateway, then a cProfile of the gateway sorted by own time and by cumulative time.

    .venv/bin/python bench/profile_gateway.py [--requests 20000] [--log-level INFO]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import uvloop

import prepare


def _scope(path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
        "scheme": "http",
        "method": "GET",
        "root_path": "",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1:8000"), *headers],
        "state": {},
    }


async def _lifespan(app: Any) -> tuple[asyncio.Task[None], asyncio.Queue[dict[str, Any]]]:
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    task = asyncio.create_task(
        app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, inbox.get, outbox.put)
    )
    await inbox.put({"type": "lifespan.startup"})
    started = await outbox.get()
    assert started["type"] == "lifespan.startup.complete", started
    return task, inbox


async def _drive(app: Any, headers: list[tuple[bytes, bytes]], total: int, clients: int) -> float:
    statuses: dict[int, int] = {}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses[message["status"]] = statuses.get(message["status"], 0) + 1

    async def client(n: int) -> None:
        for _ in range(n):
            await app(_scope(prepare.PATH, headers), receive, send)
            await asyncio.sleep(0)

    started = time.perf_counter()
    await asyncio.gather(*(client(total // clients) for _ in range(clients)))
    elapsed = time.perf_counter() - started
    assert set(statuses) == {200}, statuses
    return elapsed / (total // clients * clients)


class _Timed:
    """Wraps the app inside one gateway layer and adds up the wall time spent in it, and separately the
    time spent in the ``send`` it was given (the response-side wrappers of the layers outside it)."""

    def __init__(self, app: Any, *, time_send: bool = False) -> None:
        self.app = app
        self.ns = 0
        self.send_ns = 0
        self.time_send = time_send

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if not self.time_send:
            started = time.perf_counter_ns()
            try:
                await self.app(scope, receive, send)
            finally:
                self.ns += time.perf_counter_ns() - started
            return

        async def timed_send(message: Any) -> None:
            started = time.perf_counter_ns()
            try:
                await send(message)
            finally:
                self.send_ns += time.perf_counter_ns() - started

        started = time.perf_counter_ns()
        try:
            await self.app(scope, receive, timed_send)
        finally:
            self.ns += time.perf_counter_ns() - started


def _timed_handler(handler: Any, totals: dict[str, int], name: str) -> Any:
    def timed(event: str, payload: Any) -> None:
        started = time.perf_counter_ns()
        try:
            handler(event, payload)
        finally:
            totals[name] = totals.get(name, 0) + time.perf_counter_ns() - started

    return timed


async def _layers(gateway: Any, key: list[tuple[bytes, bytes]], n: int, c: int) -> None:
    """Self time of each gateway layer and of each api.call.completed subscriber, in µs per request.

    A cached call never suspends (every await completes at once), so wall time between a layer's
    entry and its inner app's return is that layer's own work."""
    from kaimen.events import API_CALL_COMPLETED

    # The middleware chain, outermost first, down to the response cache (the innermost step).
    chain: list[tuple[str, Any]] = []
    layer = gateway
    while True:
        chain.append((type(layer).__name__, layer))
        if type(layer).__name__ == "ResponseCache":
            break
        layer = layer.app
    outermost = _Timed(gateway, time_send=True)
    timers = [_Timed(layer.app, time_send=(i == len(chain) - 2)) for i, (_, layer) in enumerate(chain)]
    for (_, layer), timer in zip(chain, timers, strict=True):
        layer.app = timer
    bus = gateway.components.events
    handlers = bus._subscribers[API_CALL_COMPLETED]
    totals: dict[str, int] = {}
    names = [getattr(h, "__qualname__", repr(h)) for h in handlers]
    bus._subscribers[API_CALL_COMPLETED] = [
        _timed_handler(h, totals, nm) for h, nm in zip(handlers, names, strict=True)
    ]
    per = await _drive(outermost, key, n, c) * 1e6
    calls = n // c * c
    us = lambda ns: ns / calls / 1000  # noqa: E731
    inner = [t.ns for t in timers]
    # Time in the layers' send wrappers: the sends ResponseCache makes (seen by the timer around it, the
    # one inside RateLimit), minus the driver's own send.
    send_us = us(timers[-2].send_ns - outermost.send_ns)
    print(
        f"gateway, µs per request: {per:.1f} wall (with the driver and background tasks such as audit "
        f"flushes), {us(outermost.ns):.1f} inside the app; self time of each layer:"
    )
    for i, (name, _) in enumerate(chain):
        own = (outermost.ns if i == 0 else inner[i - 1]) - inner[i]
        note = ""
        if name == "Entry":
            own -= sum(totals.values())
            note = "   (without the api.call.completed subscribers below)"
        if name == "ResponseCache":
            own -= timers[-2].send_ns
            note = "   (without the send wrappers below)"
        print(f"  {name:16s} {us(own):7.1f}{note}")
    print(f"  {'router/handler':16s} {us(inner[-1]):7.1f}   (0 expected: every call a cache hit)")
    print(f"  {'send wrappers':16s} {send_us:7.1f}   (Entry, SecurityHeaders, ErrorBoundary on the response)")
    for name, ns in totals.items():
        print(f"  subscriber {name}: {us(ns):.1f}")
    print(f"  outside the app (driver loop, audit flushes, other tasks): {per - us(outermost.ns):.1f}")
    for (_, layer), timer in zip(chain, timers, strict=True):
        layer.app = timer.app
    bus._subscribers[API_CALL_COMPLETED] = handlers


def _print_stats(profile: cProfile.Profile, sort: str, limit: int, per: int) -> None:
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.sort_stats(sort).print_stats(limit)
    print(f"--- sorted by {sort} (times are totals over {per} requests) ---")
    print(out.getvalue().split("\n\n", 1)[-1])


async def _run(args: argparse.Namespace, prepared: prepare.Prepared, log: Path) -> None:
    os.environ.update(prepared.env)
    saved = sys.stdout
    with log.open("w") as sink:
        sys.stdout = sink  # kaimen.logs writes to sys.stdout as it is when configured
        try:
            from kaimen.asgi import app_from_env

            gateway = app_from_env()
        finally:
            sys.stdout = saved
        import bare_app

        bare = bare_app.create()
        lifespan, inbox = await _lifespan(gateway)
        key = [(b"x-api-key", prepared.api_key.encode())]
        n, c = args.requests, args.clients
        await _drive(gateway, key, 2000, c)  # warm-up: fills the caller and response caches
        await _drive(bare, [], 2000, c)
        bare_us = await _drive(bare, [], n, c) * 1e6
        gateway_us = await _drive(gateway, key, n, c) * 1e6
        print(f"in-process, {c} concurrent clients, {n} requests each target (no HTTP server):")
        print(f"  bare     {bare_us:7.1f} µs/request")
        print(f"  gateway  {gateway_us:7.1f} µs/request   (+{gateway_us - bare_us:.1f} µs)")
        await _layers(gateway, key, n, c)
        profile = cProfile.Profile()
        profile.enable()
        await _drive(gateway, key, n, c)
        profile.disable()
        await inbox.put({"type": "lifespan.shutdown"})
        await lifespan
    _print_stats(profile, "tottime", args.top, n)
    _print_stats(profile, "cumulative", args.top, n)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requests", type=int, default=20000)
    p.add_argument("--clients", type=int, default=32)
    p.add_argument("--log-level", default=None, choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    p.add_argument("--top", type=int, default=40)
    args = p.parse_args()
    prepare.clean_environ()
    work = Path(tempfile.mkdtemp(prefix="kaimen-profile-"))
    try:
        prepared = prepare.prepare(work / "data", log_level=args.log_level, redis_url=None)
        body = work / "body.json"
        # In-process the body is passed by reference, so its size does not change the per-request cost.
        body.write_bytes(b"{}")
        (work / "media-type.txt").write_text("application/prs.openbanking.opendata.v2.4+json")
        os.environ["BENCH_BODY_FILE"] = str(body)
        os.environ["BENCH_MEDIA_TYPE_FILE"] = str(work / "media-type.txt")
        uvloop.run(_run(args, prepared, work / "server.log"))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
