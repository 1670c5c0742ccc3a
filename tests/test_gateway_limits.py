"""RequestLimits and ErrorBoundary: refusals happen before any handler parses anything, in the API's
error format, and nothing internal leaks from a 500."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import orjson
import pytest
from starlette.requests import Request
from starlette.responses import Response

from kaimen.gateway.limits import json_depth_exceeds
from tests.support import client_for, lifespan

ATM = "/open-banking/v2.3/atms"
OPENDATA_V23 = "application/prs.openbanking.opendata.v2.3+json"


@pytest.fixture
def small_limits(make_settings: Any, sqlite_url: str) -> Any:
    return make_settings(
        database_url=sqlite_url,
        limits={
            "max_body_bytes": 2048,
            "max_header_bytes": 2048,
            "max_header_count": 16,
            "max_json_depth": 4,
        },
    )


@pytest.fixture
async def limited(small_limits: Any) -> Any:
    from kaimen.app import create_app

    app = create_app(small_limits)
    async with lifespan(app), client_for(app) as http:
        yield http


async def test_declared_body_over_limit_is_413_in_open_data_format(limited: Any) -> None:
    response = await limited.post(ATM, content=b"x" * 4096, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.headers["content-type"] == OPENDATA_V23
    assert response.json() == {
        "status": "413",
        "title": "Payload too large",
        "description": "The request body is larger than this resource accepts.",
    }
    assert response.headers["x-fapi-interaction-id"]


async def test_streamed_body_over_limit_is_413(limited: Any) -> None:
    async def chunks() -> Any:
        for _ in range(8):
            yield b"y" * 512

    response = await limited.post(ATM, content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413


@pytest.fixture
async def impatient(make_settings: Any, sqlite_url: str) -> Any:
    from kaimen.app import create_app

    app = create_app(make_settings(database_url=sqlite_url, limits={"body_timeout_seconds": 0.3}))
    async with lifespan(app), client_for(app) as http:
        yield http


async def trickled() -> Any:
    """A body whose second part comes long after the gateway stopped waiting."""
    yield b"grant_type="
    await asyncio.sleep(5)
    yield b"client_credentials"


@pytest.mark.parametrize(
    ("path", "content_type", "expected"),
    [
        (ATM, "application/json",  # the Open Data spec's own fixed texts for 408
         {"status": "408", "title": "Client timeout",
          "description": "Your client has failed to submit a request, and a timeout has occurred."}),
        ("/open-banking/v3.1/aisp/account-access-consents", "application/json",
         {"Code": "408 RequestTimeout", "Message": "Request timeout",
          "Errors": [{"ErrorCode": "UK.OBIE.UnexpectedError",
                      "Message": "the request body did not arrive in time"}]}),
        ("/oauth2/token", "application/x-www-form-urlencoded",
         {"error": "invalid_request", "error_description": "Request timeout"}),
    ],
)  # fmt: skip
async def test_a_trickled_body_is_408_and_the_connection_closed(
    impatient: Any, path: str, content_type: str, expected: dict[str, Any]
) -> None:
    started = time.monotonic()
    response = await impatient.post(path, content=trickled(), headers={"content-type": content_type})
    assert time.monotonic() - started < 3  # the gateway stopped waiting; the client's sleep did not end
    assert response.status_code == 408
    body = response.json()
    body.pop("Id", None)  # the OB error's interaction id
    assert body == expected
    assert response.headers["connection"] == "close"
    assert response.headers["x-fapi-interaction-id"]


async def test_too_many_header_fields_is_431(limited: Any) -> None:
    headers = {f"x-extra-{i}": "1" for i in range(20)}
    response = await limited.get(ATM, headers=headers)
    assert response.status_code == 431
    assert response.json()["status"] == "431"
    assert response.json()["title"] == "Request header fields too large"


async def test_header_bytes_over_limit_is_431(limited: Any) -> None:
    response = await limited.get(ATM, headers={"x-big": "z" * 3000})
    assert response.status_code == 431


async def test_json_nested_too_deep_is_400_with_the_fixed_open_data_text(limited: Any) -> None:
    body = b"[" * 6 + b"]" * 6
    response = await limited.post(ATM, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json() == {
        "status": "400",
        "title": "Bad request",
        "description": "You have sent a request which could not be understood.",
    }


async def test_json_within_limits_reaches_the_router(limited: Any) -> None:
    response = await limited.post(ATM, content=b'{"a": [1]}', headers={"content-type": "application/json"})
    assert response.status_code == 405  # the Product API is GET/HEAD only; the body was let through


def test_depth_scanner_ignores_brackets_inside_strings() -> None:
    assert not json_depth_exceeds(b'{"a": "[[[[[[[[[[\\"[[["}', 2)
    assert json_depth_exceeds(b'{"a": {"b": {"c": 1}}}', 2)
    assert not json_depth_exceeds(b'{"a": {"b": 1}}', 2)


async def test_unexpected_exception_is_a_bare_500_and_details_stay_in_the_log(
    settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from kaimen.app import create_app

    app = create_app(settings)

    async def boom(request: Request) -> Response:
        raise RuntimeError("secret internal detail")

    app.router.add_route("/boom", boom, methods=["GET"])
    caplog.set_level(logging.ERROR)
    async with lifespan(app), client_for(app) as http:
        response = await http.get("/boom")
    assert response.status_code == 500
    assert response.json() == {
        "status": "500",
        "title": "Internal server error",
        "description": "Internal server error",
    }
    assert "secret internal detail" not in response.text
    assert response.headers["x-fapi-interaction-id"]
    assert any("secret internal detail" in (r.exc_text or "") or r.exc_info for r in caplog.records)


async def test_a_database_busy_past_its_deadline_is_a_503_to_retry(settings: Any) -> None:
    from kaimen.app import create_app
    from kaimen.store.direct import DatabaseBusy

    app = create_app(settings)

    async def locked(request: Request) -> Response:
        raise DatabaseBusy("the database stayed locked by another writer")

    app.router.add_route("/locked", locked, methods=["GET"])
    async with lifespan(app), client_for(app) as http:
        response = await http.get("/locked")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.json()["title"] == "Service temporarily unavailable"


async def test_an_oauth_endpoint_answers_temporarily_unavailable_when_the_database_is_busy() -> None:
    from kaimen.authz.http import oauth_endpoint
    from kaimen.store.direct import DatabaseBusy

    async def token(request: Request) -> Response:
        raise DatabaseBusy("the database stayed locked by another writer")

    response = await oauth_endpoint(token)(Request({"type": "http", "method": "POST", "headers": []}))
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.headers["cache-control"] == "no-store"
    assert response.body.startswith(b'{"error":"temporarily_unavailable"')


# -- HTTP/2: a body without Content-Length (RFC 9113 §8.1.1) -----------------------------------------


class Exchange:
    """One request driven straight through the ASGI app, as a server on ``http_version`` would: the
    body arrives in ``parts``, then (``stall``) nothing more, or the end of the stream. Records how
    often the app asked for the body."""

    def __init__(self, parts: list[bytes], *, stall: bool = False) -> None:
        self.parts = list(parts)
        self.stall = stall
        self.receives = 0
        self.sent: list[dict[str, Any]] = []

    async def receive(self) -> dict[str, Any]:
        self.receives += 1
        if self.parts:
            part = self.parts.pop(0)
            return {"type": "http.request", "body": part, "more_body": bool(self.parts) or self.stall}
        if self.stall:
            await asyncio.sleep(5)
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    async def run(
        self, app: Any, method: str, path: str, headers: list[tuple[bytes, bytes]], http_version: str
    ) -> None:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": http_version,
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"localhost:8000"), *headers],
            "client": ("203.0.113.7", 51234),
            "server": ("localhost", 8000),
            "state": {},
        }
        await app(scope, self.receive, self.send)

    @property
    def status(self) -> int:
        return int(next(m for m in self.sent if m["type"] == "http.response.start")["status"])

    @property
    def headers(self) -> dict[bytes, bytes]:
        start = next(m for m in self.sent if m["type"] == "http.response.start")
        return dict(start["headers"])

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent if m["type"] == "http.response.body")


JSON = [(b"content-type", b"application/json")]


async def _body_length(request: Request) -> Response:
    return Response(str(len(await request.body())), media_type="text/plain")


@pytest.fixture
async def limited_app(small_limits: Any) -> Any:
    from kaimen.app import create_app

    app = create_app(small_limits)
    app.router.add_route("/body-length", _body_length, methods=["GET", "POST"])
    async with lifespan(app):
        yield app


async def test_http2_body_without_content_length_over_limit_is_413(limited_app: Any) -> None:
    # RFC 9113 §8.1.1: an HTTP/2 body needs no Content-Length; the limit (2048 bytes) holds all the same.
    exchange = Exchange([b"y" * 512] * 8)
    await exchange.run(limited_app, "POST", ATM, JSON, http_version="2")
    assert exchange.status == 413
    assert exchange.headers[b"content-type"] == OPENDATA_V23.encode()
    assert orjson.loads(exchange.body) == {
        "status": "413",
        "title": "Payload too large",
        "description": "The request body is larger than this resource accepts.",
    }


async def test_http2_json_without_content_length_nested_too_deep_is_400(limited_app: Any) -> None:
    exchange = Exchange([b"[" * 3, b"[" * 3 + b"]" * 6])  # depth 6 > max_json_depth 4
    await exchange.run(limited_app, "POST", "/oauth2/register", JSON, http_version="2")
    assert exchange.status == 400
    assert orjson.loads(exchange.body) == {"error": "invalid_request", "error_description": "Bad request"}


async def test_http2_body_without_content_length_that_stalls_is_408(impatient: Any) -> None:
    app = impatient._transport.app
    exchange = Exchange([b"grant_type="], stall=True)
    started = time.monotonic()
    form = [(b"content-type", b"application/x-www-form-urlencoded")]
    await exchange.run(app, "POST", "/oauth2/token", form, http_version="2")
    assert time.monotonic() - started < 3  # the gateway stopped waiting (body_timeout_seconds 0.3)
    assert exchange.status == 408
    assert exchange.headers[b"connection"] == b"close"
    assert orjson.loads(exchange.body) == {"error": "invalid_request", "error_description": "Request timeout"}


async def test_http2_body_within_limits_reaches_the_handler_whole(limited_app: Any) -> None:
    exchange = Exchange([b"a" * 1000, b"b" * 1000])
    await exchange.run(limited_app, "POST", "/body-length", [], http_version="2")
    assert (exchange.status, exchange.body) == (200, b"2000")


async def test_http2_body_shorter_than_its_content_length_is_400(limited_app: Any) -> None:
    # RFC 9113 §8.1.1: malformed when content-length "does not equal the sum of the DATA frame payload
    # lengths".
    exchange = Exchange([b"a" * 10])
    await exchange.run(limited_app, "POST", "/body-length", [(b"content-length", b"20")], http_version="2")
    assert exchange.status == 400
    assert orjson.loads(exchange.body)["description"] == "the request body's length is not its Content-Length"


@pytest.mark.parametrize(("http_version", "receives"), [("1.1", 0), ("1.0", 0), ("2", 1)])
async def test_only_http1_requests_without_length_headers_skip_the_body_read(
    limited_app: Any, http_version: str, receives: int
) -> None:
    # RFC 9112 §6.3: an HTTP/1.x request with neither Content-Length nor Transfer-Encoding has no body,
    # so a GET is passed on unread (the Product API's hot path); an HTTP/2 GET may still carry one.
    exchange = Exchange([b""])
    await exchange.run(limited_app, "GET", "/healthz", [], http_version=http_version)
    assert exchange.status == 200
    assert exchange.receives == receives
