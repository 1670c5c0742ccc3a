"""Schemathesis over the four Open Data v2 Swagger files against the app (ASGI): no 5xx, every response
conforms to its file (status, media type, headers, body schema)."""

from __future__ import annotations

import asyncio

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.core.transport import Response
from schemathesis.python import asgi

from kaimen.apis.product.spec import PRODUCT_APIS, ProductApi
from kaimen.demo.products import seed_products
from kaimen.store.db import Database
from tests.product_support import public_settings, spec_path

EXAMPLES_PER_OPERATION = 15


def assert_not_modified_shape(response: Response) -> None:
    """The files declare If-None-Match and If-Modified-Since but list no 304 response, so schemathesis
    would judge a 304 by the "default" error schema. A 304 "cannot contain content" and carries the
    ETag and Cache-Control of the 200 (RFC 9110 §15.4.5): that is what is checked instead."""
    assert response.content == b""
    (etag,) = response.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"')
    assert response.headers["cache-control"] == ["max-age=28800"]


async def _seed(database_url: str) -> None:
    db = Database(database_url)
    try:
        await seed_products(db)
    finally:
        await db.dispose()


@pytest.mark.parametrize("api", PRODUCT_APIS, ids=[a.short for a in PRODUCT_APIS])
def test_every_generated_request_gets_a_conforming_answer(make_settings, sqlite_url, api: ProductApi):
    from kaimen.app import create_app

    asyncio.run(_seed(sqlite_url))
    app = create_app(public_settings(make_settings, sqlite_url))
    schema = schemathesis.openapi.from_path(spec_path(api))
    schema.app = app
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.method.upper() for op in operations} == {"GET", "HEAD"}
    try:
        for operation in operations:

            @given(case=operation.as_strategy())
            @settings(
                max_examples=EXAMPLES_PER_OPERATION,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def check(case: schemathesis.Case) -> None:
                response = case.call()
                assert response.status_code < 500, response.text
                if response.status_code == 304:
                    assert_not_modified_shape(response)
                else:
                    case.validate_response(response)

            check()
    finally:
        asgi.shutdown_lifespans()  # stops the app's lifespan the ASGI transport started
