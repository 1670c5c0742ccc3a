"""PLACEHOLDER: replaced by the observability work."""
from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


class Metrics:
    def __init__(self, events: Any) -> None:
        self.events = events


def metrics_route(metrics: Metrics, networks: Any) -> Route:
    async def endpoint(request: Request) -> Response:
        return Response(b"", media_type="text/plain")

    return Route("/metrics", endpoint, methods=["GET"])
