"""Prometheus metrics, fed only by events (DESIGN.md: "audit, risk and metrics subscribe").

    kaimen_http_requests_total{api,method,status}       every call
    kaimen_http_request_duration_seconds{api}           latency histogram
    kaimen_gateway_refusals_total{api,status}           401, 403 and 429 answers
    kaimen_ratelimit_store_down_total{api,decision}     calls decided without the rate-limit store

``api`` is the API's name, or ``none`` for paths outside every API; ``method`` is one of the RFC 9110
§9 methods or ``other``. Labels never come from raw request data, so a client cannot grow the series.
Each Metrics has its own CollectorRegistry (not the process-global one).

``/metrics`` answers only clients inside ``metrics_networks`` (by the client IP, which honours trusted
proxies); everyone else gets the same 404 as an unknown path, so the endpoint reveals nothing.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Sequence
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from kaimen.errors import MethodNotAllowed, NotFound
from kaimen.events import API_CALL_COMPLETED, RATE_LIMIT_STORE_DOWN, EventBus
from kaimen.gateway.context import Call

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"})
_REFUSALS = frozenset({401, 403, 429})
# Latency buckets in seconds: the gateway's budget is a p99 under 20 ms (issue 2, "Benchmark").
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    def __init__(self, events: EventBus) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "kaimen_http_requests", "API calls answered.", ["api", "method", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "kaimen_http_request_duration_seconds",
            "Time from the gateway's entry to the end of the call.",
            ["api"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.refusals = Counter(
            "kaimen_gateway_refusals",
            "Calls refused with 401, 403 or 429.",
            ["api", "status"],
            registry=self.registry,
        )
        self.store_down = Counter(
            "kaimen_ratelimit_store_down",
            "Calls decided while the rate-limit store was unreachable.",
            ["api", "decision"],
            registry=self.registry,
        )
        # The subscriber runs on every request: label children are looked up once and kept.
        self._requests: dict[tuple[str, str, int], Any] = {}
        self._latency: dict[str, Any] = {}
        events.subscribe(API_CALL_COMPLETED, self._on_call)
        events.subscribe(RATE_LIMIT_STORE_DOWN, self._on_store_down)

    def _on_call(self, _: str, call: Call) -> None:
        elapsed = (time.perf_counter_ns() - call.started_ns) / 1e9
        api = call.api.name if call.api is not None else "none"
        method = call.method if call.method in _METHODS else "other"
        key = (api, method, call.status)
        counter = self._requests.get(key)
        if counter is None:
            counter = self._requests[key] = self.requests.labels(api, method, str(call.status))
        counter.inc()
        histogram = self._latency.get(api)
        if histogram is None:
            histogram = self._latency[api] = self.latency.labels(api)
        histogram.observe(elapsed)
        if call.status in _REFUSALS:
            self.refusals.labels(api, str(call.status)).inc()

    def _on_store_down(self, _: str, decision: Any) -> None:
        self.store_down.labels(decision.api, "refused" if decision.refused else "served").inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def metrics_route(metrics: Metrics, networks: Sequence[Network]) -> Route:
    allowed = tuple(networks)

    def permitted(client_ip: str) -> bool:
        try:
            ip = ipaddress.ip_address(client_ip)
        except ValueError:
            return False
        return any(ip in network for network in allowed)

    async def endpoint(request: Request) -> Response:
        call: Call = request.scope["kaimen"]
        if not permitted(call.client_ip):
            raise NotFound()
        if request.method not in ("GET", "HEAD"):
            raise MethodNotAllowed()
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    # Every method is routed here, so that outsiders get 404 rather than a 405 that reveals the path.
    return Route("/metrics", endpoint, methods=sorted(_METHODS))
