"""Caller identification (issue 2, item 4): the x-api-key header, on SQLite and PostgreSQL.

401 for a missing, unknown or revoked key and for keys of applications that are not approved; 400 for
a key in the query string; anonymous callers reach PUBLIC APIs only; rotation keeps every active key
working. Exact status, Open Data error body and headers each time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from kaimen.settings import Settings
from kaimen.tiers import Tier
from kaimen.tpp.registry import ReviewStatus
from tests.tpp_support import BAD_REQUEST, UNAUTHORIZED, Gateway, assert_refused, gateway_stack


@pytest.fixture
async def gw(make_settings: Callable[..., Settings], database_url: str) -> AsyncIterator[Gateway]:
    async with gateway_stack(make_settings(database_url=database_url)) as stack:
        yield stack


async def test_missing_key_is_401_on_every_api_but_public(gw: Gateway) -> None:
    for tier in Tier:
        response = await gw.get(tier)
        if tier is Tier.PUBLIC:
            assert response.status_code == 200
            assert response.json() == {"caller": None}  # anonymous
        else:
            assert_refused(response, 401, UNAUTHORIZED)


async def test_empty_key_counts_as_missing(gw: Gateway) -> None:
    assert_refused(await gw.get(Tier.MEMBER, ""), 401, UNAUTHORIZED)


async def test_an_approved_key_identifies_its_application(gw: Gateway) -> None:
    app, api_key = await gw.application(Tier.MEMBER)
    response = await gw.get(Tier.MEMBER, api_key)
    assert response.status_code == 200
    assert response.json() == {"caller": app.id}


async def test_unknown_and_malformed_keys_are_401(gw: Gateway) -> None:
    _, api_key = await gw.application(Tier.PUBLIC)
    forged = api_key[:21] + ("A" if api_key[21] != "A" else "B") + api_key[22:]
    for candidate in (forged, "kmn_0123456789abcdef_" + "x" * 43, "not-a-key", b"kmn_\xe9"):
        assert_refused(await gw.get(Tier.PUBLIC, candidate), 401, UNAUTHORIZED)


async def test_a_bad_key_is_refused_even_where_anonymous_callers_pass(gw: Gateway) -> None:
    # A caller that presents a credential is judged by it; it is not silently treated as anonymous.
    assert_refused(await gw.get(Tier.PUBLIC, "kmn_0123456789abcdef_" + "y" * 43), 401, UNAUTHORIZED)


async def test_two_key_headers_are_401(gw: Gateway) -> None:
    _, api_key = await gw.application(Tier.PUBLIC)
    response = await gw.client.get("/probe/public", headers=[("x-api-key", api_key), ("x-api-key", api_key)])
    assert_refused(response, 401, UNAUTHORIZED)


@pytest.mark.parametrize("status", [ReviewStatus.PENDING, ReviewStatus.SUSPENDED, ReviewStatus.REVOKED])
async def test_keys_of_applications_not_approved_are_401(gw: Gateway, status: ReviewStatus) -> None:
    app, api_key = await gw.application(Tier.PRIVATE, ReviewStatus.APPROVED)
    assert (await gw.get(Tier.PRIVATE, api_key)).status_code == 200
    if status is ReviewStatus.PENDING:
        app, api_key = await gw.application(Tier.PRIVATE, ReviewStatus.PENDING)
    else:
        await gw.change(gw.registry.set_status(app.id, status))
    for tier in Tier:
        assert_refused(await gw.get(tier, api_key), 401, UNAUTHORIZED)


async def test_approving_a_pending_application_lets_its_key_in(gw: Gateway) -> None:
    app, api_key = await gw.application(Tier.MEMBER, ReviewStatus.PENDING)
    assert_refused(await gw.get(Tier.MEMBER, api_key), 401, UNAUTHORIZED)
    await gw.change(gw.registry.set_status(app.id, ReviewStatus.APPROVED))
    assert (await gw.get(Tier.MEMBER, api_key)).json() == {"caller": app.id}


async def test_rotation_both_keys_work_and_revoking_one_leaves_the_other(gw: Gateway) -> None:
    app, old_key = await gw.application(Tier.MEMBER)
    new = await gw.change(gw.registry.create_key(app.id, label="rotated"))
    for api_key in (old_key, new.api_key):
        assert (await gw.get(Tier.MEMBER, api_key)).json() == {"caller": app.id}

    old_id = next(k.id for k in await gw.registry.list_keys(app.id) if k.id != new.key.id)
    await gw.change(gw.registry.revoke_key(old_id))
    assert_refused(await gw.get(Tier.MEMBER, old_key), 401, UNAUTHORIZED)
    assert (await gw.get(Tier.MEMBER, new.api_key)).json() == {"caller": app.id}


@pytest.mark.parametrize(
    "query",
    [
        "api_key={key}",
        "apikey={key}",
        "api-key={key}",
        "x-api-key={key}",
        "X-API-KEY={key}",
        "key={key}",
        "page=2&token={key}",  # any value that looks like a Kaimen key
        "q=%6Bmn_{prefix}_x",  # percent-encoded
    ],
)
async def test_a_key_in_the_query_string_is_400(gw: Gateway, query: str) -> None:
    _, api_key = await gw.application(Tier.PUBLIC)
    url = "/probe/public?" + query.format(key=api_key, prefix=api_key[4:20])
    assert_refused(await gw.client.get(url), 400, BAD_REQUEST)
    # ... even when the header carries a good key too.
    assert_refused(await gw.client.get(url, headers={"x-api-key": api_key}), 400, BAD_REQUEST)


async def test_harmless_query_parameters_pass(gw: Gateway) -> None:
    app, api_key = await gw.application(Tier.PUBLIC)
    response = await gw.client.get("/probe/public?monkey=1&keys_only=0", headers={"x-api-key": api_key})
    assert response.status_code == 200
    assert response.json() == {"caller": app.id}


async def test_paths_of_no_api_pass_without_identification(gw: Gateway) -> None:
    response = await gw.client.get("/healthz", headers={"x-api-key": "garbage"})
    assert response.status_code == 200
    assert response.json() == {"caller": None}
