"""Hostile requests at the gateway, through the whole app in-process (issue 6 item 4): the Product API
with hostile headers (``x-api-key``, ``x-fapi-*``, ``authorization``, conditional-request headers, many
and long headers) and queries answers its success or the Open Data v2 error object; raw ASGI requests
(paths, query strings and methods no HTTP client would send) to every part of the app answer below
500. The Account API: tests/test_fuzz_accounts.py. Budget and case count: tests.fuzz_support.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from kaimen.settings import Settings
from kaimen.tiers import Tier
from kaimen.tpp.registry import Registry, ReviewStatus
from tests.account_consents_support import CONSENTS
from tests.fuzz_app_support import fuzz_settings
from tests.fuzz_support import (
    FUZZ,
    GATEWAY_HEADERS,
    MANY_HEADERS,
    OUTCOMES,
    QUERIES,
    accepted,
    assert_opendata_refusal,
    count,
    with_headers,
)
from tests.support import client_for, lifespan

__all__ = ["fuzz_settings"]  # fixtures
pytest_plugins = ["tests.fuzz_plugin"]

PRODUCT_PATHS = [
    "/open-banking/v2.4/personal-current-accounts",  # ACQUAINTANCE
    "/open-banking/v2.4/business-current-accounts",  # PARTNER
    "/open-banking/v2.3/atms",  # PUBLIC
    "/open-banking/v2.3/branches",  # PUBLIC
]


# -- the Product API (Open Data v2) ----------------------------------------------------------------


@pytest.fixture
async def product(fuzz_settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    from kaimen.app import create_app

    app = create_app(fuzz_settings)
    async with lifespan(app), client_for(app) as http:
        registry = Registry(app.components.db)
        application = await registry.register(
            organisation="Fuzz Ltd", application="Fuzz", tier=Tier.ACQUAINTANCE, status=ReviewStatus.APPROVED
        )
        issued = await registry.create_key(application.id)
        yield http, issued.api_key


@FUZZ
@given(
    path=st.sampled_from(PRODUCT_PATHS),
    suffix=st.sampled_from(["", "", "", "", "/", "/x", "%00", "/..", "//"]),
    method=st.sampled_from(["GET", "GET", "HEAD", "POST", "OPTIONS"]),
    with_key=st.booleans(),
    hostile=GATEWAY_HEADERS,
    many=MANY_HEADERS,
    query=QUERIES,
    replace=st.booleans(),
)
@example(
    path=PRODUCT_PATHS[2],
    suffix="",
    method="GET",
    with_key=False,
    hostile=[(b"if-modified-since", b"Sun, 99 Foo 0000 99:99:99 GMT")],
    many=[],
    query={},
    replace=False,
)
@example(
    path=PRODUCT_PATHS[0],
    suffix="",
    method="GET",
    with_key=True,
    hostile=[(b"x-api-key", b"\xff" * 50)],
    many=[],
    query={},
    replace=True,
)
async def test_product_api_hostile_headers(
    product: tuple[httpx.AsyncClient, str],
    path: str,
    suffix: str,
    method: str,
    with_key: bool,
    hostile: list[tuple[bytes, bytes]],
    many: list[tuple[bytes, bytes]],
    query: dict[str, str],
    replace: bool,
) -> None:
    count("product API: headers and queries")
    http, api_key = product
    base = [(b"x-api-key", api_key.encode())] if with_key else []
    headers = with_headers(base, hostile, replace) + many
    response = await http.request(method, path + suffix, params=query, headers=headers)
    if response.status_code < 400:
        accepted(response)
        return
    if method == "HEAD":
        assert response.status_code < 500, response.status_code
        return
    # Below the operation's path (suffix) no API answers: the same object, without the fixed texts.
    assert_opendata_refusal(response, fixed_texts=suffix == "")


# -- raw ASGI requests: bytes no HTTP client would send ---------------------------------------------

RAW_PREFIXES = st.sampled_from(
    [
        b"/open-banking/v2.3/atms",
        b"/open-banking/v3.1/aisp/accounts",
        CONSENTS.encode(),
        b"/oauth2/token",
        b"/oauth2/par",
        b"/oauth2/authorize",
        b"/oauth2/register/x",
        b"/oauth2/userinfo",
        b"/login",
        b"/",
        b"/healthz",
        b"/.well-known/openid-configuration",
        b"/open-banking/v3.1/cbpii/funds-confirmations",
    ]
)


async def _asgi(app: Any, scope: dict[str, Any], body: bytes) -> tuple[int, bytes]:
    """Drive ``app`` with one request as a server would; the status and body it answered."""
    sent: list[dict[str, Any]] = []
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if delivered:
            return {"type": "http.disconnect"}
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    return start["status"], b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


@FUZZ
@given(
    prefix=RAW_PREFIXES,
    tail=st.just(b"") | st.binary(max_size=30),
    query=st.binary(max_size=60),
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "TRACE", "G\x00T", "get"]),
    headers=GATEWAY_HEADERS,
    body=st.binary(max_size=200),
)
@example(
    prefix=b"/oauth2/token",
    tail=b"",
    query=b"",
    method="POST",
    body=b"a=%ff",
    headers=[(b"content-type", b"application/x-www-form-urlencoded")],
)
async def test_raw_asgi_requests(
    product: tuple[httpx.AsyncClient, str],
    prefix: bytes,
    tail: bytes,
    query: bytes,
    method: str,
    headers: list[tuple[bytes, bytes]],
    body: bytes,
) -> None:
    """Raw paths (any bytes, percent-escapes that are not UTF-8), raw query strings and methods."""
    count("ASGI: raw requests")
    from urllib.parse import unquote_to_bytes

    http, _ = product
    app = http._transport.app  # type: ignore[attr-defined]
    raw_path = prefix + tail
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": unquote_to_bytes(raw_path).decode("utf-8", "replace"),
        "raw_path": raw_path,
        "query_string": query,
        "root_path": "",
        "headers": [(b"host", b"localhost:8000"), *headers],
        "client": ("203.0.113.7", 51234),
        "server": ("localhost", 8000),
        "state": {},
    }
    status, _ = await _asgi(app, scope, body)
    OUTCOMES[("ASGI: raw requests", status, prefix.decode())] += 1
    assert status < 500, (status, scope)
