"""The gateway's response cache: conditional requests, serving from memory, invalidation across processes."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from sqlalchemy import text

from kaimen.apis.product.spec import BY_SHORT
from kaimen.demo.products import demo_documents, seed_products
from kaimen.store.db import Database
from tests.product_support import KAIMEN, public_settings, serve

ATM = BY_SHORT["atm"]


async def _seed(database_url: str) -> None:
    db = Database(database_url)
    try:
        await seed_products(db)
    finally:
        await db.dispose()


def _assert_not_modified(response, etag: str) -> None:
    # RFC 9110 §15.4.5: a 304 carries the ETag, Cache-Control and Vary a 200 would, and no content.
    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["etag"] == etag
    assert response.headers["cache-control"] == "max-age=28800"
    assert "content-type" not in response.headers


async def test_if_none_match_is_answered_304_by_the_handler_and_by_the_cache(make_settings, database_url):
    await _seed(database_url)
    async with serve(public_settings(make_settings, database_url)) as (_, client):
        etag = (await client.head(ATM.path)).headers["etag"]  # a HEAD does not fill the cache
        _assert_not_modified(await client.get(ATM.path, headers={"if-none-match": etag}), etag)  # router
        assert (await client.get(ATM.path)).status_code == 200  # fills the cache
        for field in (etag, f'"x", W/{etag}', "*"):
            _assert_not_modified(await client.get(ATM.path, headers={"if-none-match": field}), etag)
        _assert_not_modified(await client.head(ATM.path, headers={"if-none-match": etag}), etag)
        assert (await client.get(ATM.path, headers={"if-none-match": '"other"'})).status_code == 200


async def test_if_modified_since_is_answered_304_unless_if_none_match_disagrees(make_settings, sqlite_url):
    await _seed(sqlite_url)
    async with serve(public_settings(make_settings, sqlite_url)) as (_, client):
        first = await client.get(ATM.path)
        etag, since = first.headers["etag"], first.headers["last-modified"]
        _assert_not_modified(await client.get(ATM.path, headers={"if-modified-since": since}), etag)
        earlier = "Sun, 06 Nov 1994 08:49:37 GMT"
        assert (await client.get(ATM.path, headers={"if-modified-since": earlier})).status_code == 200
        # RFC 9110 §13.1.3: If-Modified-Since is ignored when If-None-Match is present.
        both = {"if-modified-since": since, "if-none-match": '"other"'}
        assert (await client.get(ATM.path, headers=both)).status_code == 200


PRECONDITION_FAILED_BODY = {
    "status": "412",
    "title": "Precondition failed",
    "description": "A precondition in the request headers does not hold for this resource.",
}


def _assert_precondition_failed(response, method: str) -> None:
    # RFC 9110 §13.2.2 steps 1-2: 412, in the Open Data v2 error shape and media type.
    assert response.status_code == 412
    assert response.headers["content-type"] == ATM.media_type
    assert "etag" not in response.headers
    if method == "GET":
        assert response.json() == PRECONDITION_FAILED_BODY


async def test_a_false_if_match_or_if_unmodified_since_is_412_from_the_handler_and_the_cache(
    make_settings, sqlite_url
):
    await _seed(sqlite_url)
    async with serve(public_settings(make_settings, sqlite_url)) as (app, client):
        head = await client.head(ATM.path)  # a HEAD does not fill the cache
        etag, modified = head.headers["etag"], head.headers["last-modified"]
        refused = [{"if-match": '"other"'}, {"if-match": f"W/{etag}"}]
        refused.append({"if-unmodified-since": "Sun, 06 Nov 1994 08:49:37 GMT"})
        for method in ("GET", "HEAD"):
            for headers in refused:
                _assert_precondition_failed(await client.request(method, ATM.path, headers=headers), method)
        assert (await client.get(ATM.path)).status_code == 200  # fills the cache

        async def unreachable(short: str):
            raise AssertionError("the router was called")

        app.components.products.document = unreachable
        for method in ("GET", "HEAD"):
            for headers in refused:
                _assert_precondition_failed(await client.request(method, ATM.path, headers=headers), method)
            for headers in ({"if-match": etag}, {"if-match": "*"}, {"if-unmodified-since": modified}):
                assert (await client.request(method, ATM.path, headers=headers)).status_code == 200
            # §13.1.4: ignored when not a valid HTTP-date, or when If-Match is present.
            for headers in (
                {"if-unmodified-since": "yesterday"},
                {"if-match": etag, "if-unmodified-since": "Sun, 06 Nov 1994 08:49:37 GMT"},
            ):
                assert (await client.request(method, ATM.path, headers=headers)).status_code == 200
            # §13.2.2: step 1 (412) comes before step 3 (304), and a true If-Match continues to it.
            both = {"if-match": '"other"', "if-none-match": etag}
            _assert_precondition_failed(await client.request(method, ATM.path, headers=both), method)
            _assert_not_modified(
                await client.request(method, ATM.path, headers={"if-match": etag, "if-none-match": etag}),
                etag,
            )


async def test_a_hit_is_served_without_calling_the_router(make_settings, sqlite_url):
    await _seed(sqlite_url)
    async with serve(public_settings(make_settings, sqlite_url)) as (app, client):
        first = await client.get(ATM.path)
        products = app.components.products

        async def unreachable(short: str):
            raise AssertionError("the router was called")

        products.document = unreachable
        again = await client.get(ATM.path)
    assert again.status_code == 200
    assert again.content == first.content
    assert again.headers["etag"] == first.headers["etag"]
    assert again.headers["content-type"] == ATM.media_type


async def test_memory_is_trusted_only_while_the_watcher_is_healthy(make_settings, database_url):
    await _seed(database_url)
    async with serve(public_settings(make_settings, database_url)) as (app, client):
        before = await client.get(ATM.path)
        # A change that bypasses ProductStore.replace (no generation bump) is invisible to memory...
        async with app.components.db.write() as session:
            await session.execute(text("UPDATE product_documents SET body = '[]' WHERE api = 'atm'"))
        assert (await client.get(ATM.path)).content == before.content
        # ...until the watcher cannot vouch for memory: then every read goes to the database.
        app.components.watcher.healthy = False
        after = await client.get(ATM.path)
        assert after.json()["data"] == []
        assert after.headers["etag"] != before.headers["etag"]


async def test_products_load_in_another_process_invalidates_the_cache(
    make_settings, database_url, tmp_path: Path
):
    await _seed(database_url)
    changed = demo_documents()["atm"]
    del changed[0]["Brand"][0]["ATM"][-1]
    file = tmp_path / "products.json"
    file.write_text(json.dumps({"atm": changed}))
    async with serve(public_settings(make_settings, database_url)) as (_, client):
        before = await client.get(ATM.path)
        process = await asyncio.create_subprocess_exec(
            str(KAIMEN),
            "--data-dir",
            str(tmp_path),
            "--database-url",
            database_url,
            "products",
            "load",
            str(file),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await process.communicate()
        assert process.returncode == 0, err.decode()
        assert out.decode().strip() == "replaced: atm"
        after = await client.get(ATM.path)
        if database_url.startswith("postgresql"):
            # PostgreSQL delivers the NOTIFY asynchronously: allow it a moment to arrive.
            for _ in range(50):
                if after.headers["etag"] != before.headers["etag"]:
                    break
                await asyncio.sleep(0.05)
                after = await client.get(ATM.path)
    assert after.status_code == 200
    assert after.headers["etag"] != before.headers["etag"]
    assert after.json()["data"] == changed
    assert after.json()["meta"]["TotalResults"] == before.json()["meta"]["TotalResults"] - 1


async def test_a_closed_tier_api_is_private_varies_on_the_key_and_never_leaks_from_the_cache(settings):
    # Default policy: BCA is a PARTNER API (kaimen.settings). The cache sits after identification and
    # tier policy, so a cached answer is only ever given to a caller the gateway admitted.
    from kaimen.tiers import Tier
    from kaimen.tpp.registry import Registry, ReviewStatus

    bca = BY_SHORT["bca"]
    await _seed(settings.sqlalchemy_url)
    async with serve(settings) as (app, client):
        registry = Registry(app.components.db)
        partner = await registry.register(
            organisation="Acme", application="Acme app", tier=Tier.PARTNER, status=ReviewStatus.APPROVED
        )
        key = {"x-api-key": (await registry.create_key(partner.id)).api_key}
        for _ in range(2):  # from the router, then from the cache
            ok = await client.get(bca.path, headers=key)
            assert ok.status_code == 200
            assert ok.headers["cache-control"] == "private, max-age=28800"
            assert ok.headers["vary"] == "x-api-key"
        etag = ok.headers["etag"]
        not_modified = await client.get(bca.path, headers={**key, "if-none-match": etag})
        assert not_modified.status_code == 304
        assert not_modified.headers["vary"] == "x-api-key"
        assert not_modified.headers["cache-control"] == "private, max-age=28800"
        assert (await client.get(bca.path)).status_code == 401
        assert (await client.get(bca.path, headers={"if-none-match": etag})).status_code == 401
