"""Route dispatch by exact path before Starlette's scan of every route.

Starlette's router tries each route's regular expression in order until one matches; the token
endpoint sat behind some thirty routes (discovery, registration, the login pages), and the scan was
8% of a token request's time (bench/profile_token.py under py-spy). Most of Kaimen's paths have no
parameters, so a dictionary finds them at once.

The answer is always the one the scan would give: a path goes to the dictionary only when no route
before its own could match it too (checked once, at start-up, against every earlier route's
pattern), and anything else (parameters, a method the route does not serve, no match at all) takes
Starlette's own path, with its 405s, 404s and redirects.

The route a request matched is recorded on the gateway's call as its path template (``call.route``),
so the audit record says "/open-banking/v3.1/aisp/accounts/{AccountId}", never the client's path.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.routing import BaseRoute, Match, Route, Router
from starlette.types import Receive, Scope, Send


def _exact_routes(routes: Sequence[BaseRoute]) -> dict[str, Route]:
    exact: dict[str, Route] = {}
    for index, route in enumerate(routes):
        if not isinstance(route, Route) or route.param_convertors or route.path in exact:
            continue
        earlier = routes[:index]
        if all(_cannot_match(other, route.path) for other in earlier):
            exact[route.path] = route
    return exact


def _cannot_match(route: BaseRoute, path: str) -> bool:
    pattern = getattr(route, "path_regex", None)
    return pattern is not None and pattern.match(path) is None


class ExactPathRouter(Router):
    def __init__(self, routes: Sequence[BaseRoute], **kwargs: Any) -> None:
        super().__init__(list(routes), **kwargs)
        self._exact = _exact_routes(self.routes)

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            route = self._exact.get(scope["path"])
            candidates: Sequence[BaseRoute] = (route,) if route is not None else self.routes
            for candidate in candidates:
                match, child_scope = candidate.matches(scope)
                if match is Match.FULL:  # the first full match, as Starlette's scan takes it
                    scope["route"] = candidate
                    scope.update(child_scope)
                    _record(scope, candidate)
                    await candidate.handle(scope, receive, send)
                    return
        await super().app(scope, receive, send)


def _record(scope: Scope, route: BaseRoute) -> None:
    call = scope.get("kaimen")
    path = getattr(route, "path", None)
    if call is not None and isinstance(path, str):
        call.route = path
