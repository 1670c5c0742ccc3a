"""Product API: GET/HEAD per the UK Open Data v2 Swagger files, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import pytest

from kaimen.apis.product.handler import caching_headers
from kaimen.apis.product.spec import PRODUCT_APIS, ProductApi
from kaimen.demo.products import demo_documents, seed_products
from kaimen.store.db import Database
from kaimen.tiers import Tier
from tests.product_support import assert_conforms, public_settings, serve

APIS = pytest.mark.parametrize("api", PRODUCT_APIS, ids=[a.short for a in PRODUCT_APIS])


async def _seed(database_url: str) -> None:
    db = Database(database_url)
    try:
        assert await seed_products(db) is True
    finally:
        await db.dispose()


@APIS
async def test_get_answers_the_demo_bank_in_the_spec_shape(make_settings, database_url, api: ProductApi):
    await _seed(database_url)
    async with serve(public_settings(make_settings, database_url)) as (_, client):
        response = await client.get(api.path)
    assert response.status_code == 200
    assert response.headers["content-type"] == api.media_type
    assert_conforms(api, response)
    body = response.json()
    assert body["data"] == demo_documents()[api.short]
    assert body["meta"]["TotalResults"] == len(body["data"][0]["Brand"][0][api.resource])
    # Swagger 200 headers: Etag (strong, quoted), Cache-Control max-age=28800, security headers.
    assert response.headers["etag"].startswith('"') and response.headers["etag"].endswith('"')
    assert response.headers["cache-control"] == "max-age=28800"
    assert "vary" not in response.headers
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["strict-transport-security"] == "max-age=31536000"
    last_modified = parsedate_to_datetime(response.headers["last-modified"])
    assert last_modified == datetime.fromisoformat(body["meta"]["LastUpdated"].replace("Z", "+00:00"))


@APIS
async def test_head_has_the_get_headers_and_no_body(make_settings, database_url, api: ProductApi):
    await _seed(database_url)
    async with serve(public_settings(make_settings, database_url)) as (_, client):
        get = await client.get(api.path)
        for _ in range(2):  # first from the router, then from the response cache
            head = await client.head(api.path)
            assert head.status_code == 200
            assert head.content == b""
            for name in ("content-type", "content-length", "etag", "last-modified", "cache-control"):
                assert head.headers[name] == get.headers[name], name


@APIS
async def test_an_api_never_loaded_answers_an_empty_valid_document(
    make_settings, sqlite_url, api: ProductApi
):
    async with serve(public_settings(make_settings, sqlite_url)) as (_, client):
        response = await client.get(api.path)
    assert response.status_code == 200
    assert_conforms(api, response)
    assert response.json()["data"] == []
    assert response.json()["meta"]["TotalResults"] == 0


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
async def test_other_methods_are_405_in_the_open_data_error_shape(make_settings, sqlite_url, method: str):
    api = PRODUCT_APIS[2]
    async with serve(public_settings(make_settings, sqlite_url)) as (_, client):
        response = await client.request(method, api.path)
    assert response.status_code == 405
    # RFC 9110 §15.5.6: "The origin server MUST generate an Allow header field in a 405 response".
    assert response.headers["allow"] == "GET, HEAD"
    assert response.headers["content-type"] == api.media_type
    assert_conforms(api, response)  # the Swagger "default" error object
    assert response.json()["status"] == "405"


NOT_FOUND_BODY = {
    "status": "404",
    "title": "Not found",
    "description": "The requested resource does not exist.",
}


@APIS
@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_a_path_below_an_endpoint_is_404_in_the_open_data_error_shape(
    make_settings, sqlite_url, api: ProductApi, method: str
):
    # Issue 2 item 6: the Product API answers errors in the Open Data v2 shape, "404 and 405 included".
    async with serve(public_settings(make_settings, sqlite_url)) as (_, client):
        for below in ("/x", "/ATM-1", "/a/b"):
            response = await client.request(method, api.path + below)
            assert response.status_code == 404
            assert response.headers["content-type"] == api.media_type
            assert response.json() == NOT_FOUND_BODY
            assert_conforms(api, response)  # the Swagger "default" error object
        # Not below the endpoint, only sharing a prefix of its name: the plain 404 of any unknown path.
        beside = await client.get(api.path + "x")
    assert (beside.status_code, beside.headers["content-type"]) == (404, "application/json")
    assert beside.json() == {"status": "404", "title": "Not found", "description": "Not found"}


async def test_a_path_below_an_endpoint_is_not_identified_tier_checked_or_rate_limited(
    make_settings, sqlite_url
):
    # Like any unknown path, it belongs to no API: no 401 for a missing key on a closed tier, no
    # rate-limit hit (a bare 404 elsewhere costs none), and the API's own counter is left alone.
    apis = {api.name: {"tier": "PUBLIC"} for api in PRODUCT_APIS}
    apis["opendata.atm"] = {"tier": "PUBLIC", "ip_rate": "2/minute"}
    apis["opendata.bca"] = {"tier": "PARTNER"}
    atm, bca = PRODUCT_APIS[2], PRODUCT_APIS[1]
    async with serve(make_settings(database_url=sqlite_url, apis=apis)) as (_, client):
        closed = await client.get(bca.path + "/x")
        below = [await client.get(atm.path + "/ATM-1") for _ in range(3)]
        served = await client.get(atm.path)
        assert (await client.get(bca.path)).status_code == 401  # the endpoint itself still asks for a key
    assert (closed.status_code, closed.json()) == (404, NOT_FOUND_BODY)
    assert [r.status_code for r in below] == [404, 404, 404]
    assert all("ratelimit-remaining" not in r.headers for r in below)
    assert (served.status_code, served.headers["ratelimit-remaining"]) == (200, "1")


def test_a_closed_tier_is_private_and_varies_on_the_api_key():
    # RFC 9111 §5.2.2.7: "private" keeps a shared cache from answering another caller; the answer
    # depends on the key the gateway admitted (Vary, RFC 9110 §12.5.5).
    for tier in (Tier.ACQUAINTANCE, Tier.MEMBER, Tier.PARTNER, Tier.PRIVATE):
        assert caching_headers(tier) == [
            (b"cache-control", b"private, max-age=28800"),
            (b"vary", b"x-api-key"),
        ]
    assert caching_headers(Tier.PUBLIC) == [(b"cache-control", b"max-age=28800")]


async def test_last_updated_is_utc_to_the_second(make_settings, sqlite_url):
    await _seed(sqlite_url)
    async with serve(public_settings(make_settings, sqlite_url)) as (_, client):
        meta = (await client.get(PRODUCT_APIS[0].path)).json()["meta"]
    stamp = datetime.strptime(meta["LastUpdated"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert abs((datetime.now(UTC) - stamp).total_seconds()) < 60
