"""Exact-path dispatch (kaimen.gateway.routing) answers exactly as Starlette's scan of the routes
would: first full match wins, a shadowing earlier route keeps its precedence, and methods, 404s and
405s are unchanged."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.endpoints import HTTPEndpoint
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route, Router
from starlette.types import ASGIApp, Receive, Scope, Send

from kaimen.gateway.routing import ExactPathRouter


def _answer(name: str) -> object:
    async def endpoint(request: Request) -> PlainTextResponse:
        return PlainTextResponse(name)

    return endpoint


class Refused(Exception):
    pass


async def _refuses(request: Request) -> PlainTextResponse:
    raise Refused


async def _not_here(request: Request) -> PlainTextResponse:
    raise HTTPException(status_code=418, detail="teapot")


async def _on_refused(request: Request, exc: Exception) -> PlainTextResponse:
    return PlainTextResponse("refused, handled by the app", status_code=409)


class Marks:
    """Route middleware: a route wrapped in it must still run it (never called directly)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def marked(message: dict[str, object]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message["headers"], (b"x-marked", b"yes")]  # type: ignore[misc]
            await send(message)

        await self.app(scope, receive, marked)


class ItemsEndpoint(HTTPEndpoint):
    async def get(self, request: Request) -> PlainTextResponse:
        return PlainTextResponse("class endpoint")


ROUTES = [
    Route("/items/{item_id}", _answer("item by id"), methods=["GET"]),
    Route("/items/new", _answer("shadowed: never reached by GET"), methods=["GET", "POST"]),
    Route("/token", _answer("token get"), methods=["GET"]),
    Route("/token", _answer("token post"), methods=["POST"]),
    Route("/health", _answer("health"), methods=["GET"]),
    Route("/refuses", _refuses, methods=["POST"]),
    Route("/teapot", _not_here),
    Route("/marked", _answer("marked"), methods=["GET"], middleware=[Middleware(Marks)]),
    Route("/class", ItemsEndpoint),
]
REQUESTS = [
    ("GET", "/items/new"),
    ("POST", "/items/new"),
    ("GET", "/items/7"),
    ("GET", "/token"),
    ("POST", "/token"),
    ("DELETE", "/token"),
    ("GET", "/health"),
    ("POST", "/health"),
    ("GET", "/health/"),
    ("GET", "/nowhere"),
    ("HEAD", "/health"),
    ("POST", "/refuses"),
    ("GET", "/refuses"),
    ("GET", "/teapot"),
    ("GET", "/marked"),
    ("GET", "/class"),
    ("POST", "/class"),
]


def _app(router: Router) -> Starlette:
    app = Starlette(exception_handlers={Refused: _on_refused})
    app.router = router
    return app


@pytest.mark.parametrize(("method", "path"), REQUESTS)
async def test_answers_are_those_of_starlettes_scan(method: str, path: str) -> None:
    answers = []
    for router, times in ((Router(ROUTES), 1), (ExactPathRouter(ROUTES), 2)):  # twice: then remembered
        transport = httpx.ASGITransport(app=_app(router))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            for _ in range(times):
                response = await client.request(method, path, follow_redirects=False)
                kept = ("location", "allow", "x-marked")
                headers = {k: v for k, v in response.headers.items() if k in kept}
                answers.append((response.status_code, response.text, headers))
    assert answers[0] == answers[1] == answers[2]


def test_only_paths_no_earlier_route_can_match_are_dispatched_directly() -> None:
    router = ExactPathRouter(ROUTES)
    assert sorted(router._exact) == ["/class", "/health", "/marked", "/refuses", "/teapot", "/token"]


def test_only_plain_function_routes_are_called_directly() -> None:
    router = ExactPathRouter(ROUTES)
    direct = {route.path for route in router.routes if id(route) in router._direct}  # type: ignore[attr-defined]
    assert direct == {"/items/{item_id}", "/items/new", "/token", "/health", "/refuses", "/teapot"}


async def test_a_root_path_is_matched_as_starlette_matches_it() -> None:
    routes = [Route("/token", _answer("token")), Route("/v1/token", _answer("v1 token"))]
    answers = []
    for router in (Router(routes), ExactPathRouter(routes)):
        transport = httpx.ASGITransport(app=_app(router), root_path="/v1")
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.get("/v1/token")
            answers.append((response.status_code, response.text))
    assert answers[0] == answers[1]


async def test_a_remembered_match_gives_each_request_its_own_parameters() -> None:
    seen: list[dict[str, str]] = []

    async def item(request: Request) -> PlainTextResponse:
        seen.append(dict(request.path_params))
        request.path_params["item_id"] = "changed by the endpoint"  # must not leak into the next call
        return PlainTextResponse(f"item {request.path_params}")

    router = ExactPathRouter([Route("/items/{item_id}", item, methods=["GET"])], max_matched=2)
    transport = httpx.ASGITransport(app=_app(router))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        for path in ("/items/7", "/items/7", "/items/8", "/items/9", "/items/7", "/items/7"):
            assert (await client.get(path)).status_code == 200
        assert (await client.post("/items/7")).status_code == 405  # not a full match: not remembered
    assert seen == [{"item_id": n} for n in ("7", "7", "8", "9", "7", "7")]
    assert len(router._matched.entries) == 2  # bounded
    assert all(method == "GET" for method, _, _ in router._matched.entries)
