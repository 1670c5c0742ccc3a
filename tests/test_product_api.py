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
    assert response.headers["content-type"] == api.media_type
    assert_conforms(api, response)  # the Swagger "default" error object
    assert response.json()["status"] == "405"


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
