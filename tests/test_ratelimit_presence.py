"""Customer-present and unattended calls of a UK OB API have rate limits of their own
(``customer_present_rate`` per TPP client, ``unattended_rate`` per TPP client and consent, or token
grant without one), counted apart from each other and refused with the exact 429 OBErrorResponse1 and
Retry-After at the right call, on the in-process limiter and on Redis; the per-application and per-IP
limits still hold."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import redis.asyncio

from kaimen.gateway.ratelimit_counters import Limiter, build_rate_limiter
from kaimen.settings import Settings
from tests.ais_resources_support import AISP, Bank, open_bank
from tests.customer_presence_support import (
    CUSTOMER_IP,
    INTERACTION_ID,
    OB_MEDIA,
    presence_gateway,
    present,
    too_many,
    unattended,
)
from tests.dpop_support import BASE, proof
from tests.support import client_for
from tests.test_ratelimit import limit_headers


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def limiter(
    request: pytest.FixtureRequest, make_settings: Callable[..., Settings]
) -> AsyncIterator[Limiter]:
    """The in-process limiter, and one on the test Redis under a key prefix deleted afterwards."""
    if request.param == "memory":
        memory = build_rate_limiter(make_settings())
        yield memory
        await memory.close()
        return
    url: str = request.getfixturevalue("redis_url")
    prefix = f"kaimen-test:{uuid.uuid4().hex}"
    shared = build_rate_limiter(make_settings(redis_url=url), key_prefix=prefix)
    yield shared
    await shared.close()
    client = redis.asyncio.Redis.from_url(url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture
async def http(limiter: Limiter) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(presence_gateway(limiter)) as client:
        yield client


async def statuses(http: httpx.AsyncClient, headers: dict[str, str], times: int) -> list[int]:
    return [(await http.get("/ob/accounts", headers=headers)).status_code for _ in range(times)]


def assert_too_many(response: httpx.Response, limit: str) -> None:
    """The exact 429: OBErrorResponse1, Retry-After, and the limit that refused."""
    assert response.status_code == 429
    assert response.headers["content-type"] == OB_MEDIA
    assert response.json() == too_many()
    headers = limit_headers(response)
    assert (headers["ratelimit-limit"], headers["ratelimit-remaining"]) == (limit, "0")
    assert headers["retry-after"] == headers["ratelimit-reset"]
    assert 1 <= int(headers["retry-after"]) <= 3600


async def test_unattended_calls_are_refused_at_the_third_call_per_consent(http: httpx.AsyncClient) -> None:
    answers = [await http.get("/ob/accounts", headers=unattended("aac-1")) for _ in range(2)]
    refused = await http.get("/ob/accounts", headers=unattended("aac-1"))
    assert [r.status_code for r in answers] == [200, 200]
    # The unattended limit (2) is the one closest to exhaustion, so it is the one reported.
    assert [(r.headers["ratelimit-limit"], r.headers["ratelimit-remaining"]) for r in answers] == [
        ("2", "1"),
        ("2", "0"),
    ]
    assert_too_many(refused, "2")


async def test_each_consent_of_a_client_has_its_own_unattended_count(http: httpx.AsyncClient) -> None:
    assert await statuses(http, unattended("aac-1"), 3) == [200, 200, 429]
    assert await statuses(http, unattended("aac-2"), 3) == [200, 200, 429]
    # Consent ids are keyed with their client: another client's consent of the same id is apart.
    assert await statuses(http, unattended("aac-1", client="client-2"), 1) == [200]


async def test_a_token_without_a_consent_is_counted_per_grant(http: httpx.AsyncClient) -> None:
    assert await statuses(http, unattended(None, grant="grant-1"), 3) == [200, 200, 429]
    assert await statuses(http, unattended(None, grant="grant-2"), 1) == [200]
    # A new token under the same consent does not reset the count: the consent is the key.
    assert await statuses(http, unattended("aac-9", grant="grant-3"), 2) == [200, 200]
    assert await statuses(http, unattended("aac-9", grant="grant-4"), 1) == [429]


async def test_customer_present_calls_are_counted_apart_from_unattended_ones(http: httpx.AsyncClient) -> None:
    assert await statuses(http, unattended("aac-1"), 3) == [200, 200, 429]
    answers = [await http.get("/ob/accounts", headers=present("aac-1")) for _ in range(3)]
    refused = await http.get("/ob/accounts", headers=present("aac-1"))
    assert [r.status_code for r in answers] == [200, 200, 200]
    assert [r.headers["ratelimit-remaining"] for r in answers] == ["2", "1", "0"]
    assert_too_many(refused, "3")
    # Unattended calls on a fresh consent are still served: the present count is not theirs.
    assert await statuses(http, unattended("aac-2"), 1) == [200]


async def test_customer_present_calls_are_counted_per_client(http: httpx.AsyncClient) -> None:
    """Not per consent, not per PSU address: the TPP writes the address itself."""
    assert await statuses(http, present("aac-1", ip="198.51.100.1"), 2) == [200, 200]
    assert await statuses(http, present("aac-2", ip="198.51.100.2"), 2) == [200, 429]
    assert await statuses(http, present("aac-1", client="client-2"), 1) == [200]


async def test_an_api_without_presence_rates_keeps_only_its_application_and_ip_limits(
    http: httpx.AsyncClient,
) -> None:
    codes = [(await http.get("/ob-unlimited", headers=unattended("aac-1"))).status_code for _ in range(10)]
    assert codes == [200] * 10


async def test_the_application_limit_still_holds(http: httpx.AsyncClient) -> None:
    """Present and unattended calls of one application count against its one app rate (2 here)."""
    assert [(await http.get("/ob-tight", headers=present("aac-1"))).status_code for _ in range(2)] == [
        200,
        200,
    ]
    refused = await http.get("/ob-tight", headers=unattended("aac-2"))
    assert_too_many(refused, "2")


# -- the whole app: the Account API -------------------------------------------------------------------


def aisp_policy(**rates: str | None) -> dict[str, Any]:
    return {"tier": "ACQUAINTANCE", "auth": "dpop", "scopes": ["accounts"], **rates}


async def get_accounts(bank: Bank, token: str, *, customer_ip: str | None = None) -> httpx.Response:
    headers = {
        "authorization": f"DPoP {token}",
        "dpop": proof(method="GET", url=BASE + AISP + "/accounts", token=token),
        "x-fapi-interaction-id": INTERACTION_ID,
    }
    if customer_ip is not None:
        headers[CUSTOMER_IP] = customer_ip
    return await bank.http.get(AISP + "/accounts", headers=headers)


async def _present_and_unattended_apart(bank: Bank) -> None:
    consent_id = await bank.consent()
    first, refreshed = await bank.token(consent_id), await bank.token(consent_id)
    unattended_calls = [await get_accounts(bank, first) for _ in range(2)]
    assert [r.status_code for r in unattended_calls] == [200, 200]
    # A fresh token under the same consent shares its unattended count.
    assert_too_many(await get_accounts(bank, refreshed), "2")
    present_calls = [await get_accounts(bank, first, customer_ip="2001:db8::7") for _ in range(3)]
    assert [r.status_code for r in present_calls] == [200, 200, 200]
    assert_too_many(await get_accounts(bank, refreshed, customer_ip="2001:db8::7"), "3")
    # Another consent of the same TPP: unattended calls have their own count again.
    assert (await get_accounts(bank, await bank.reader())).status_code == 200


async def test_the_account_api_limits_present_and_unattended_calls_apart(
    make_settings: Callable[..., Settings], database_url: str
) -> None:
    rates = aisp_policy(customer_present_rate="3/hour", unattended_rate="2/hour")
    async with open_bank(make_settings(database_url=database_url, apis={"aisp": rates})) as bank:
        await _present_and_unattended_apart(bank)


@pytest.mark.redis
async def test_the_account_api_limits_present_and_unattended_calls_apart_on_redis(
    make_settings: Callable[..., Settings], sqlite_url: str, redis_url: str
) -> None:
    """Counters are keyed by random client and consent ids, so runs never share one."""
    rates = aisp_policy(customer_present_rate="3/hour", unattended_rate="2/hour")
    settings = make_settings(database_url=sqlite_url, redis_url=redis_url, apis={"aisp": rates})
    async with open_bank(settings) as bank:
        await _present_and_unattended_apart(bank)


async def test_the_sandbox_defaults_let_the_demo_poll(
    make_settings: Callable[..., Settings], sqlite_url: str
) -> None:
    """Default aisp policy: 120 unattended calls a minute per consent, 600 customer-present a minute per
    client (README, configuration reference)."""
    settings = make_settings(database_url=sqlite_url)
    policy = settings.apis["aisp"]
    assert (policy.unattended_rate, policy.customer_present_rate) == ("120/minute", "600/minute")
    async with open_bank(settings) as bank:
        response = await get_accounts(bank, await bank.reader())
    assert response.status_code == 200
    assert (response.headers["ratelimit-limit"], response.headers["ratelimit-remaining"]) == ("120", "119")
