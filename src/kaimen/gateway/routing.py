"""Route dispatch by exact path before Starlette's scan of every route.

Starlette's router tries each route's regular expression in order until one matches; the token
endpoint sat behind some thirty routes (discovery, registration, the login pages), and the scan was
8% of a token request's time (bench/profile_token.py under py-spy). Most of Kaimen's paths have no
parameters, so a dictionary finds them at once.

The answer is always the one the scan would give: a path goes to the dictionary only when no route
before its own could match it too (checked once, at start-up, against every earlier route's
pattern), and anything else (parameters, a method the route does not serve, no match at all) takes
Starlette's own path, with its 405s, 404s and redirects.

A path with parameters (``/accounts/{AccountId}/transactions``) still needs the scan, some ten regular
expressions in; its outcome for a (method, path) is remembered in a bounded table, as the scan's answer
depends on nothing else (the routes never change after start-up). Only full matches of plain routes
are remembered; each request gets its own copy of the path parameters.

A plain route (a ``Route`` around an async function) is then called directly: the request, the
endpoint, the response. Starlette's own ``Route.matches`` and ``request_response`` would rebuild the
route's scope and wrap the call in a second copy of the exception handling that
``ExceptionMiddleware`` already wraps around the whole router, with the same handlers; together they
were some 4% of a token request (bench/profile_token.py under py-spy). A route with a method it does
not serve, or any other kind of route, still goes through ``Route.handle``, with its 405.

The route a request matched is recorded on the gateway's call as its path template (``call.route``),
so the audit record says "/open-banking/v3.1/aisp/accounts/{AccountId}", never the client's path.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from starlette._utils import is_async_callable
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route, Router
from starlette.types import Receive, Scope, Send

from kaimen.store.bounded import BoundedDict

# (route, the scope items its match adds: endpoint and path parameters)
_Matched = tuple[BaseRoute, dict[str, Any]]


def _exact_routes(routes: Sequence[BaseRoute]) -> dict[str, Route]:
    exact: dict[str, Route] = {}
    for index, route in enumerate(routes):
        if not isinstance(route, Route) or route.param_convertors or route.path in exact:
            continue
        earlier = routes[:index]
        if all(_cannot_match(other, route.path) for other in earlier):
            exact[route.path] = route
    return exact


Endpoint = Callable[[Request], Awaitable[Response]]


def _direct_endpoint(route: BaseRoute) -> Endpoint | None:
    """The endpoint of a route whose ASGI app is exactly Starlette's ``request_response`` around it
    (no route middleware, not a class endpoint, not a mount), else None."""
    if type(route) is not Route or not is_async_callable(route.endpoint):
        return None
    if getattr(route.app, "__qualname__", "") != "request_response.<locals>.app":
        return None
    return route.endpoint


def _cannot_match(route: BaseRoute, path: str) -> bool:
    pattern = getattr(route, "path_regex", None)
    return pattern is not None and pattern.match(path) is None


class ExactPathRouter(Router):
    def __init__(self, routes: Sequence[BaseRoute], *, max_matched: int = 4096, **kwargs: Any) -> None:
        super().__init__(list(routes), **kwargs)
        self._exact = _exact_routes(self.routes)
        self._direct = {id(route): endpoint for route in self.routes if (endpoint := _direct_endpoint(route))}
        self._matched = BoundedDict[_Matched](max_matched)

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            route = self._exact.get(path)
            if (
                route is not None
                and not scope.get("root_path")  # else Starlette matches the path without it
                and (route.methods is None or scope["method"] in route.methods)
            ):
                # What Route.matches would add for a path without parameters.
                scope["route"] = route
                scope["endpoint"] = route.endpoint
                scope["path_params"] = dict(scope.get("path_params", {}))
                _record(scope, route)
                await self._handle(route, scope, receive, send)
                return
            if route is None:
                key = (scope["method"], scope.get("root_path", ""), path)
                known = self._matched.entries.get(key)
                if known is not None:
                    candidate, added = known
                    scope["route"] = candidate
                    scope.update(added)
                    scope["path_params"] = dict(added["path_params"])
                    _record(scope, candidate)
                    await self._handle(candidate, scope, receive, send)
                    return
            candidates: Sequence[BaseRoute] = (route,) if route is not None else self.routes
            for candidate in candidates:
                match, child_scope = candidate.matches(scope)
                if match is Match.FULL:  # the first full match, as Starlette's scan takes it
                    if route is None and type(candidate) is Route:
                        params = dict(child_scope.get("path_params", {}))
                        self._matched.put(key, (candidate, {**child_scope, "path_params": params}))
                    scope["route"] = candidate
                    scope.update(child_scope)
                    _record(scope, candidate)
                    await candidate.handle(scope, receive, send)
                    return
        await super().app(scope, receive, send)

    async def _handle(self, route: BaseRoute, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = self._direct.get(id(route))
        methods = getattr(route, "methods", None)
        if endpoint is None or (methods is not None and scope["method"] not in methods):
            await route.handle(scope, receive, send)
            return
        response = await endpoint(Request(scope, receive, send))
        await response(scope, receive, send)


def _record(scope: Scope, route: BaseRoute) -> None:
    call = scope.get("kaimen")
    path = getattr(route, "path", None)
    if call is not None and isinstance(path, str):
        call.route = path
