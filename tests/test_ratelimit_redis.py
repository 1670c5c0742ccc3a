"""Rate limiting on Redis (issue 2, item 4): the same exact answers as on memory, and what happens when
Redis cannot be reached (kaimen.settings.RedisDownPolicy): REFUSE (default) answers 503 in the API's
error format above PUBLIC and serves PUBLIC unlimited; REFUSE_ALL refuses all; ALLOW serves all.
Every such decision is logged and counted; the limiter never hangs and recovers by itself."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import redis.asyncio

from kaimen.events import EventBus
from kaimen.gateway.metrics import Metrics
from kaimen.gateway.ratelimit_counters import Limiter, build_rate_limiter
from kaimen.settings import RedisDownPolicy, Settings
from tests.support import client_for
from tests.test_ratelimit import MEDIA, TOO_MANY, UNAVAILABLE, app_headers, gateway, limit_headers

CLOSED_PORT_URL = "redis://127.0.0.1:1/0"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def limiter_on(settings: Settings, redis_url: str) -> AsyncIterator[Limiter]:
    """A limiter on the test Redis, under a key prefix of its own that is deleted afterwards."""
    prefix = f"kaimen-test:{uuid.uuid4().hex}"
    limiter = build_rate_limiter(settings, key_prefix=prefix)
    try:
        yield limiter
    finally:
        await limiter.close()
        client = redis.asyncio.Redis.from_url(redis_url)
        try:
            keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
            if keys:
                await client.delete(*keys)
        finally:
            await client.aclose()


@pytest.fixture
async def redis_limiter(make_settings: Callable[..., Settings], redis_url: str) -> AsyncIterator[Limiter]:
    async with limiter_on(make_settings(redis_url=redis_url), redis_url) as limiter:
        yield limiter


@pytest.fixture
async def down_limiter(make_settings: Callable[..., Settings]) -> AsyncIterator[Limiter]:
    limiter = build_rate_limiter(make_settings(redis_url=CLOSED_PORT_URL))
    yield limiter
    await limiter.close()


@pytest.mark.redis
async def test_anonymous_public_caller_gets_exact_429_on_redis(redis_limiter: Limiter) -> None:
    async with client_for(gateway(redis_limiter, EventBus())) as http:
        answers = [await http.get("/public") for _ in range(3)]
        refused = await http.get("/public")
    assert [r.status_code for r in answers] == [200, 200, 200]
    assert [r.headers["ratelimit-remaining"] for r in answers] == ["2", "1", "0"]
    assert refused.status_code == 429
    assert refused.json() == TOO_MANY
    assert refused.headers["content-type"] == MEDIA
    headers = limit_headers(refused)
    assert (headers["ratelimit-limit"], headers["ratelimit-remaining"]) == ("3", "0")
    assert headers["retry-after"] == headers["ratelimit-reset"]
    assert 1 <= int(headers["retry-after"]) <= 3600


@pytest.mark.redis
async def test_application_is_counted_across_its_keys_on_redis(redis_limiter: Limiter) -> None:
    async with client_for(gateway(redis_limiter, EventBus())) as http:
        statuses = [
            (await http.get("/member", headers=app_headers("app-1", key=f"key-{i}"))).status_code
            for i in range(3)
        ]
        other = await http.get("/member", headers=app_headers("app-2"))
    assert statuses == [200, 200, 429]
    assert (other.status_code, other.headers["ratelimit-remaining"]) == (200, "1")


@pytest.mark.redis
async def test_two_limiters_share_one_count(
    make_settings: Callable[..., Settings], redis_limiter: Limiter, redis_url: str
) -> None:
    """Two workers' limiters on one Redis: the limit holds in sum."""
    prefix = redis_limiter.storage.bridge.key_prefix
    other = build_rate_limiter(make_settings(redis_url=redis_url), key_prefix=prefix)
    try:
        async with (
            client_for(gateway(redis_limiter, EventBus())) as a,
            client_for(gateway(other, EventBus())) as b,
        ):
            statuses = [(await (a if i % 2 else b).get("/public")).status_code for i in range(6)]
    finally:
        await other.close()
    assert statuses == [200, 200, 200, 429, 429, 429]


class CountingScript:
    """The limiter's script, counting its calls (each is one round trip)."""

    def __init__(self, script: Any) -> None:
        self.script = script
        self.calls = 0

    async def __call__(self, **kwargs: Any) -> Any:
        self.calls += 1
        return await self.script(**kwargs)


@pytest.mark.redis
async def test_every_limit_of_a_call_is_counted_in_one_round_trip(redis_limiter: Limiter) -> None:
    assert redis_limiter.redis is not None
    script = redis_limiter.redis._script = CountingScript(redis_limiter.redis._script)
    async with client_for(gateway(redis_limiter, EventBus())) as http:
        answer = await http.get("/member", headers=app_headers("app-1"))  # its application and its IP
    assert answer.status_code == 200
    assert script.calls == 1


@pytest.mark.redis
async def test_the_script_is_loaded_again_when_redis_has_lost_it(
    redis_limiter: Limiter, redis_url: str
) -> None:
    """A restarted Redis has no scripts: the next call loads it again and counts on, never StoreDown."""
    first = await redis_limiter.hit("5/minute", "ip", "api", "192.0.2.9")
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        await client.script_flush()
    finally:
        await client.aclose()
    second = await redis_limiter.hit("5/minute", "ip", "api", "192.0.2.9")
    assert (first.remaining, second.allowed, second.remaining) == (4, True, 3)


@pytest.mark.redis
async def test_a_refusal_ends_the_count_so_later_limits_are_not_charged(redis_limiter: Limiter) -> None:
    limits = [("1/minute", "app", "api", "app-1"), ("10/minute", "ip", "api", "192.0.2.1")]
    first = await redis_limiter.hit_all(limits)
    second = await redis_limiter.hit_all(limits)
    assert [v.allowed for v in first] == [True, True]
    assert [(v.allowed, v.limit, v.remaining) for v in second] == [(False, 1, 0)]  # the IP was not asked
    ip = await redis_limiter.hit("10/minute", "ip", "api", "192.0.2.1")
    assert (ip.allowed, ip.remaining) == (True, 8)  # two calls counted on it, not three


@pytest.mark.redis
async def test_the_counters_are_the_ones_limits_itself_keeps(redis_limiter: Limiter) -> None:
    """Kaimen's one-round-trip script and ``limits``' own scripts move and read the same counters,
    with the same arithmetic: counted here, read and taken by limits, and the other way round."""
    storage = redis_limiter.storage
    key = "app/api/app-1/5/1/minute"
    verdicts = [await redis_limiter.hit("5/minute", "app", "api", "app-1") for _ in range(3)]
    assert [v.remaining for v in verdicts] == [4, 3, 2]
    previous, _, current, current_ttl = await storage.get_sliding_window(key, 60)
    assert (previous, current) == (0, 3)
    assert verdicts[-1].window[2] == 3 and abs(verdicts[-1].window[3] - current_ttl) < 1
    taken_by_limits = [await storage.acquire_sliding_window_entry(key, 5, 60) for _ in range(3)]
    assert taken_by_limits == [True, True, False]
    refused = await redis_limiter.hit("5/minute", "app", "api", "app-1")
    assert (refused.allowed, refused.remaining) == (False, 0)


@pytest.mark.redis
async def test_windows_slide_as_limits_slides_them(redis_limiter: Limiter) -> None:
    """The same calls, at the same moments, against Kaimen's script and ``limits``' own scripts on
    two keys of a 1-second window: the same answers as the windows end and shift."""
    storage = redis_limiter.storage
    ours, theirs = [], []
    for _ in range(12):
        verdict = await redis_limiter.hit("3/second", "ip", "api", "ours")
        taken = await storage.acquire_sliding_window_entry("theirs", 3, 1)
        window = await storage.get_sliding_window("theirs", 1)
        ours.append((verdict.allowed, verdict.window[0], verdict.window[2]))
        theirs.append((taken, window[0], window[2]))
        assert abs(verdict.window[1] - window[1]) < 0.05 and abs(verdict.window[3] - window[3]) < 0.05
        await asyncio.sleep(0.2)
    assert ours == theirs
    assert any(not allowed for allowed, _, _ in ours) and any(previous for _, previous, _ in ours)


@pytest.mark.redis
async def test_a_burst_past_redis_pys_default_pool_is_counted_not_taken_for_an_outage(
    make_settings: Callable[..., Settings], redis_url: str
) -> None:
    """150 calls at once on one worker (KAIMEN_MAX_CONCURRENT_REQUESTS=150) each hold a connection:
    redis-py's pool, 100 by default, would refuse the rest (MaxConnectionsError), which the limiter
    would take for Redis being down (503 for a second)."""
    settings = make_settings(redis_url=redis_url, max_concurrent_requests=150)
    async with limiter_on(settings, redis_url) as limiter:
        verdicts = await asyncio.gather(
            *(limiter.hit("1000/minute", "ip", "api", f"192.0.2.{n % 250}") for n in range(150))
        )
    assert all(verdict.allowed for verdict in verdicts)


def store_down_lines(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    return [
        (record.api, record.decision)  # type: ignore[attr-defined]
        for record in caplog.records
        if record.getMessage() == "rate-limit store unreachable"
    ]


def store_down_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.error  # type: ignore[attr-defined]
        for record in caplog.records
        if record.getMessage() == "rate-limit store unreachable"
    ]


async def test_redis_down_refuses_above_public_and_serves_public(
    down_limiter: Limiter, caplog: pytest.LogCaptureFixture
) -> None:
    events = EventBus()
    metrics = Metrics(events)
    caplog.set_level(logging.WARNING, logger="kaimen.gateway.ratelimit")
    async with client_for(gateway(down_limiter, events)) as http:
        refused = await http.get("/member", headers=app_headers("app-1"))
        served = await http.get("/public")
    assert refused.status_code == 503
    assert refused.json() == UNAVAILABLE
    assert refused.headers["content-type"] == MEDIA
    assert limit_headers(refused) == {"retry-after": "1"}
    assert served.status_code == 200
    assert served.text == "ok"
    assert limit_headers(served) == {}
    assert store_down_lines(caplog) == [("test.member", "refused"), ("test.public", "served unlimited")]
    # What failed, by type only: the first call's connection error, then the retry interval's wait.
    assert store_down_errors(caplog) == ["ConnectionError", "within the retry interval"]
    sample = metrics.registry.get_sample_value
    assert sample("kaimen_ratelimit_store_down_total", {"api": "test.member", "decision": "refused"}) == 1
    assert sample("kaimen_ratelimit_store_down_total", {"api": "test.public", "decision": "served"}) == 1


async def test_redis_down_refuse_all_refuses_public_too(down_limiter: Limiter) -> None:
    async with client_for(gateway(down_limiter, EventBus(), RedisDownPolicy.REFUSE_ALL)) as http:
        response = await http.get("/public")
    assert response.status_code == 503
    assert response.json() == UNAVAILABLE
    assert limit_headers(response) == {"retry-after": "1"}


async def test_redis_down_allow_serves_everything_unlimited(down_limiter: Limiter) -> None:
    async with client_for(gateway(down_limiter, EventBus(), RedisDownPolicy.ALLOW)) as http:
        responses = [await http.get("/member", headers=app_headers("app-1")) for _ in range(5)]
    assert [r.status_code for r in responses] == [200] * 5
    assert all(limit_headers(r) == {} for r in responses)


async def test_a_silent_redis_does_not_hang_the_gateway(make_settings: Callable[..., Settings]) -> None:
    """A Redis that accepts connections and never answers: bounded by the socket timeout, then the
    store is not asked again for the retry interval."""
    held: list[asyncio.StreamWriter] = []

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    limiter = build_rate_limiter(make_settings(redis_url=f"redis://127.0.0.1:{port}/0"))
    try:
        async with client_for(gateway(limiter, EventBus())) as http:
            started = time.monotonic()
            first = await http.get("/member", headers=app_headers("app-1"))
            first_took = time.monotonic() - started
            started = time.monotonic()
            second = await http.get("/member", headers=app_headers("app-1"))
            second_took = time.monotonic() - started
    finally:
        await limiter.close()
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()
    assert (first.status_code, second.status_code) == (503, 503)
    assert first_took < 1.5
    assert second_took < 0.1


@pytest.fixture
def redis_server_binary() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server not installed: needed to bring a Redis up during the test")
    return binary


@pytest.fixture
def late_redis(redis_server_binary: str) -> Iterator[Callable[[], None]]:
    """A port with no Redis yet, and a function that starts one there (killed at the end)."""
    port = free_port()
    processes: list[subprocess.Popen[bytes]] = []

    def start() -> None:
        args = [redis_server_binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        processes.append(subprocess.Popen([*args, "--appendonly", "no"], stdout=subprocess.DEVNULL))

    start.port = port  # type: ignore[attr-defined]
    try:
        yield start
    finally:
        for process in processes:
            process.kill()
            process.wait()


async def test_recovers_by_itself_when_redis_comes_back(
    make_settings: Callable[..., Settings], late_redis: Any
) -> None:
    limiter = build_rate_limiter(make_settings(redis_url=f"redis://127.0.0.1:{late_redis.port}/0"))
    limiter.retry_interval = 0.2
    try:
        async with client_for(gateway(limiter, EventBus())) as http:
            assert (await http.get("/member", headers=app_headers("app-1"))).status_code == 503
            late_redis()
            deadline = time.monotonic() + 10
            response = await http.get("/member", headers=app_headers("app-1"))
            while response.status_code == 503 and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
                response = await http.get("/member", headers=app_headers("app-1"))
    finally:
        await limiter.close()
    assert response.status_code == 200
    assert (response.headers["ratelimit-limit"], response.headers["ratelimit-remaining"]) == ("2", "1")
    assert 1 <= int(response.headers["ratelimit-reset"]) <= 3600


async def test_full_app_with_redis_down_refuses_keyed_api_and_serves_public(
    make_settings: Callable[..., Settings], sqlite_url: str
) -> None:
    """The default policy (REFUSE) through the whole gateway: 503 for the ACQUAINTANCE PCA API, the
    PUBLIC ATM API served, both counted on /metrics."""
    from kaimen.app import create_app
    from kaimen.tiers import Tier
    from kaimen.tpp.registry import Registry, ReviewStatus
    from tests.support import lifespan

    app = create_app(make_settings(database_url=sqlite_url, redis_url=CLOSED_PORT_URL))
    async with lifespan(app):
        registry = Registry(app.components.db)
        application = await registry.register(
            organisation="Org", application="App", tier=Tier.ACQUAINTANCE, status=ReviewStatus.APPROVED
        )
        key = (await registry.create_key(application.id)).api_key
        async with client_for(app) as http:
            pca = await http.get("/open-banking/v2.4/personal-current-accounts", headers={"x-api-key": key})
            atm = await http.get("/open-banking/v2.3/atms")
        async with client_for(app, client_ip="127.0.0.1") as operator:
            metrics = (await operator.get("/metrics")).text
    assert pca.status_code == 503
    assert pca.json() == UNAVAILABLE
    assert pca.headers["content-type"] == "application/prs.openbanking.opendata.v2.4+json"
    assert limit_headers(pca) == {"retry-after": "1"}
    assert atm.status_code == 200
    assert limit_headers(atm) == {}
    assert 'kaimen_ratelimit_store_down_total{api="opendata.pca",decision="refused"} 1.0' in metrics
    assert 'kaimen_ratelimit_store_down_total{api="opendata.atm",decision="served"} 1.0' in metrics
