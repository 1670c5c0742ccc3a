"""Rate limiting (issue 2, item 4) on in-process memory: per application (never per key), per client
IP, exact 429 with Retry-After and the draft-ietf-httpapi-ratelimit-headers-06 fields.

The stack here is the real gateway steps (Entry, ErrorBoundary, RateLimit) around a stand-in for
Identify that sets the caller from test headers, so these tests do not depend on the TPP registry.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from kaimen.errors.render import Family
from kaimen.events import RATE_LIMIT_STORE_DOWN, EventBus
from kaimen.gateway.apis import Api, ApiTable
from kaimen.gateway.boundary import ErrorBoundary
from kaimen.gateway.clientip import ClientIpResolver
from kaimen.gateway.context import Caller, call_of
from kaimen.gateway.entry import Entry
from kaimen.gateway.ratelimit import RateLimit
from kaimen.gateway.ratelimit_counters import Limiter, build_rate_limiter
from kaimen.settings import ApiPolicy, RedisDownPolicy, Settings
from kaimen.tiers import Tier
from tests.support import client_for

MEDIA = "application/prs.openbanking.opendata.v2.3+json"
# Hourly windows: a test never straddles a window boundary in practice.
APIS = [
    Api("test.public", "/public", Family.OPENDATA, MEDIA, ApiPolicy(tier=Tier.PUBLIC, ip_rate="3/hour")),
    Api(
        "test.member",
        "/member",
        Family.OPENDATA,
        MEDIA,
        ApiPolicy(
            tier=Tier.MEMBER,
            app_rate={Tier.PARTNER: "4/hour"},
            default_app_rate="2/hour",
            ip_rate="100/hour",
        ),
    ),
]
TOO_MANY = {
    "status": "429",
    "title": "Too many requests",
    "description": "You have requested this resource too often. Slow down.",
}
UNAVAILABLE = {
    "status": "503",
    "title": "Service temporarily unavailable",
    "description": "The service is temporarily unavailable.",
}


class FakeIdentify:
    """Sets call.caller from ``x-test-app`` / ``x-test-tier`` / ``x-test-key`` (stand-in for Identify)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers = dict(scope["headers"])
        if b"x-test-app" in headers:
            call_of(scope).caller = Caller(
                application_id=headers[b"x-test-app"].decode(),
                organisation_id="org-1",
                tier=headers.get(b"x-test-tier", b"MEMBER").decode(),
                key_id=headers.get(b"x-test-key", b"key-1").decode(),
            )
        await self.app(scope, receive, send)


async def ok(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})


def gateway(
    limiter: Limiter, events: EventBus, on_store_down: RedisDownPolicy = RedisDownPolicy.REFUSE
) -> Any:
    app: Any = RateLimit(ok, limiter=limiter, on_store_down=on_store_down, events=events)
    app = FakeIdentify(app)
    app = ErrorBoundary(app)
    return Entry(app, apis=ApiTable(APIS), client_ip=ClientIpResolver([]), events=events)


def apis_with(*, atm_ip_rate: str = "1200/minute", pca_app_rate: str = "600/minute") -> dict[str, Any]:
    """Every Product API as configured by default, with the ATM per-IP and PCA per-app rates changed."""
    apis = {name: policy.model_dump(mode="json") for name, policy in Settings().apis.items()}
    apis["opendata.atm"]["ip_rate"] = atm_ip_rate
    apis["opendata.pca"]["default_app_rate"] = pca_app_rate
    return apis


def limit_headers(response: Any) -> dict[str, str]:
    names = ("retry-after", "ratelimit-limit", "ratelimit-remaining", "ratelimit-reset")
    return {name: response.headers[name] for name in names if name in response.headers}


@pytest.fixture
async def memory_limiter(make_settings: Callable[..., Settings]) -> AsyncIterator[Limiter]:
    limiter = build_rate_limiter(make_settings())
    yield limiter
    await limiter.close()


@pytest.fixture
async def memory_gateway(memory_limiter: Limiter) -> Any:
    return gateway(memory_limiter, EventBus())


def app_headers(app_id: str, key: str = "key-1", tier: str = "MEMBER") -> dict[str, str]:
    return {"x-test-app": app_id, "x-test-key": key, "x-test-tier": tier}


def test_in_process_counters_in_embedded_mode(make_settings: Callable[..., Settings]) -> None:
    from kaimen.gateway.ratelimit_counters import LocalCounters

    assert isinstance(build_rate_limiter(make_settings()).storage, LocalCounters)


def test_local_counters_slide_like_the_limits_storages(monkeypatch: pytest.MonkeyPatch) -> None:
    """Same weighting as limits' sliding-window counter: the previous window counts for the part of it
    that still overlaps the sliding window."""
    from kaimen.gateway import ratelimit_counters
    from kaimen.gateway.ratelimit_counters import LocalCounters

    clock = [600.0]  # the start of a 60 s window
    monkeypatch.setattr(ratelimit_counters.time, "time", lambda: clock[0])
    counters = LocalCounters()
    assert [counters.hit("k", 4, 60)[0] for _ in range(5)] == [True, True, True, True, False]
    clock[0] = 660.0 + 45  # 45 s into the next window: 4 * 15/60 = 1 still counts
    allowed, (previous, previous_ttl, current, current_ttl) = counters.hit("k", 4, 60)
    assert allowed and (previous, current) == (4, 1)
    assert previous_ttl == pytest.approx(15.0) and current_ttl == pytest.approx(75.0)
    assert [counters.hit("k", 4, 60)[0] for _ in range(3)] == [True, True, False]
    clock[0] = 660.0 + 120  # two windows later: nothing counts any more
    assert counters.hit("k", 4, 60)[1][0::2] == (0, 1)


async def test_anonymous_public_caller_is_limited_per_ip_with_exact_429(memory_gateway: Any) -> None:
    async with client_for(memory_gateway) as http:
        answers = [await http.get("/public") for _ in range(3)]
        refused = await http.get("/public")
    assert [r.status_code for r in answers] == [200, 200, 200]
    assert [r.headers["ratelimit-remaining"] for r in answers] == ["2", "1", "0"]
    assert all(r.headers["ratelimit-limit"] == "3" for r in answers)
    assert refused.status_code == 429
    assert refused.json() == TOO_MANY
    assert refused.headers["content-type"] == MEDIA
    headers = limit_headers(refused)
    assert headers["ratelimit-limit"] == "3"
    assert headers["ratelimit-remaining"] == "0"
    assert headers["retry-after"] == headers["ratelimit-reset"]
    assert 1 <= int(headers["retry-after"]) <= 3600


async def test_each_client_ip_has_its_own_count(memory_gateway: Any) -> None:
    async with client_for(memory_gateway, client_ip="198.51.100.1") as first:
        assert [(await first.get("/public")).status_code for _ in range(4)] == [200, 200, 200, 429]
    async with client_for(memory_gateway, client_ip="198.51.100.2") as second:
        response = await second.get("/public")
    assert response.status_code == 200
    assert response.headers["ratelimit-remaining"] == "2"


async def test_application_is_counted_across_its_keys(memory_gateway: Any) -> None:
    async with client_for(memory_gateway) as http:
        first = await http.get("/member", headers=app_headers("app-1", key="key-1"))
        second = await http.get("/member", headers=app_headers("app-1", key="key-2"))
        refused = await http.get("/member", headers=app_headers("app-1", key="key-3"))
    assert (first.status_code, first.headers["ratelimit-remaining"]) == (200, "1")
    assert (second.status_code, second.headers["ratelimit-remaining"]) == (200, "0")
    assert refused.status_code == 429
    assert refused.json() == TOO_MANY
    assert limit_headers(refused)["ratelimit-limit"] == "2"
    assert limit_headers(refused)["ratelimit-remaining"] == "0"


async def test_applications_are_counted_apart(memory_gateway: Any) -> None:
    async with client_for(memory_gateway) as http:
        for _ in range(2):
            assert (await http.get("/member", headers=app_headers("app-1"))).status_code == 200
        assert (await http.get("/member", headers=app_headers("app-1"))).status_code == 429
        other = await http.get("/member", headers=app_headers("app-2"))
    assert other.status_code == 200
    assert other.headers["ratelimit-remaining"] == "1"


async def test_rate_follows_the_application_tier(memory_gateway: Any) -> None:
    async with client_for(memory_gateway) as http:
        statuses = [
            (await http.get("/member", headers=app_headers("partner-app", tier="PARTNER"))).status_code
            for _ in range(5)
        ]
    assert statuses == [200, 200, 200, 200, 429]


async def test_identified_caller_is_also_limited_per_ip(memory_gateway: Any) -> None:
    # The public API's per-IP limit (3/hour) applies to identified callers too.
    async with client_for(memory_gateway) as http:
        statuses = [
            (await http.get("/public", headers=app_headers(f"app-{i}"))).status_code for i in range(4)
        ]
    assert statuses == [200, 200, 200, 429]


async def test_calls_outside_every_api_are_not_limited(memory_gateway: Any) -> None:
    async with client_for(memory_gateway) as http:
        responses = [await http.get("/healthz") for _ in range(10)]
    assert {r.status_code for r in responses} == {200}
    assert all("ratelimit-limit" not in r.headers for r in responses)


async def test_memory_store_never_degrades(memory_limiter: Limiter) -> None:
    events = EventBus()
    seen: list[Any] = []
    events.subscribe(RATE_LIMIT_STORE_DOWN, lambda _, payload: seen.append(payload))
    async with client_for(gateway(memory_limiter, events)) as http:
        assert (await http.get("/public")).status_code == 200
    assert seen == []


async def test_full_app_limits_a_public_api_per_ip(make_settings: Callable[..., Settings], sqlite_url: str):
    from kaimen.app import create_app
    from tests.support import lifespan

    settings = make_settings(database_url=sqlite_url, apis=apis_with(atm_ip_rate="2/hour"))
    app = create_app(settings)
    async with lifespan(app), client_for(app) as http:
        answers = [await http.get("/open-banking/v2.3/atms") for _ in range(2)]
        refused = await http.get("/open-banking/v2.3/atms")
    assert [r.headers["ratelimit-remaining"] for r in answers] == ["1", "0"]
    assert [r.status_code for r in answers] == [200, 200]
    assert refused.status_code == 429
    assert refused.json() == TOO_MANY
    assert refused.headers["content-type"] == MEDIA
    assert refused.headers["ratelimit-limit"] == "2"
    assert refused.headers["retry-after"] == refused.headers["ratelimit-reset"]


async def test_full_app_counts_a_registered_application_across_rotated_keys(
    make_settings: Callable[..., Settings], sqlite_url: str
) -> None:
    from kaimen.app import create_app
    from kaimen.tpp.registry import Registry, ReviewStatus
    from tests.support import lifespan

    app = create_app(make_settings(database_url=sqlite_url, apis=apis_with(pca_app_rate="2/hour")))
    async with lifespan(app):
        registry = Registry(app.components.db)
        application = await registry.register(
            organisation="Org", application="App", tier=Tier.ACQUAINTANCE, status=ReviewStatus.APPROVED
        )
        keys = [(await registry.create_key(application.id)).api_key for _ in range(3)]
        async with client_for(app) as http:
            path = "/open-banking/v2.4/personal-current-accounts"
            responses = [await http.get(path, headers={"x-api-key": key}) for key in keys]
    assert [r.status_code for r in responses] == [200, 200, 429]
    assert [r.headers["ratelimit-remaining"] for r in responses] == ["1", "0", "0"]
    assert responses[2].json() == TOO_MANY
    assert responses[2].headers["ratelimit-limit"] == "2"
