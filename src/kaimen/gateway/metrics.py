"""Prometheus metrics, fed only by events (DESIGN.md: "audit, risk and metrics subscribe").

From ``api.call.completed``, every call through the gateway:

    kaimen_http_requests_total{api,method,status}           every call
    kaimen_http_request_duration_seconds{api}               latency histogram
    kaimen_gateway_refusals_total{api,status}               401, 403 and 429 answers
    kaimen_error_responses_total{api,code}                  answers carrying a UK OB ErrorCode or an
                                                            OAuth ``error``
    kaimen_authz_requests_total{route,method,status}        the authorization server's calls (its APIs,
    kaimen_authz_request_duration_seconds{route}            "oauth" and "login"), per endpoint

From the other events (kaimen.gateway.metrics_events): rate-limit store outages, risk decisions,
payments, consents, tokens, authorizations and customer login failures.

``api`` is the API's name, or ``none`` for paths outside every API; ``method`` is one of the RFC 9110
§9 methods or ``other``; ``route`` is the path template of the route that answered (as the audit
records it), or ``none`` when no route did; ``code`` is one of the codes UK OB v3.1.11 or Kaimen's
OAuth errors define, else ``other``. Labels never come from raw request data, so a client cannot grow
the series. Each Metrics has its own CollectorRegistry (not the process-global one).

``/metrics`` answers only clients inside ``metrics_networks`` (by the client IP, which honours trusted
proxies); everyone else gets the same 404 as an unknown path, so the endpoint reveals nothing.
"""

from __future__ import annotations

import ipaddress
import os
import time
from collections.abc import Collection, Sequence
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from kaimen.authz.errors import ERROR_CODES as OAUTH_ERROR_CODES
from kaimen.errors import MethodNotAllowed, NotFound
from kaimen.errors.render import OB_ERROR_CODES
from kaimen.events import API_CALL_COMPLETED, EventBus
from kaimen.gateway.context import Call
from kaimen.gateway.metrics_events import EventMetrics

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# prometheus_client's multiprocess mode: each worker's values live in files in this directory, chosen
# when prometheus_client is first imported (kaimen.server sets it before the workers start).
MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"})
_REFUSALS = frozenset({401, 403, 429})
_CODES = OB_ERROR_CODES | OAUTH_ERROR_CODES
# Latency buckets in seconds: the gateway's budget is a p99 under 20 ms (issue 2, "Benchmark").
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    """``authz_apis``: the names of the authorization server's APIs (kaimen.authz.server.authz_apis),
    whose calls are also counted per route."""

    def __init__(self, events: EventBus, *, authz_apis: Collection[str] = ()) -> None:
        self.registry = registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "kaimen_http_requests", "API calls answered.", ["api", "method", "status"], registry=registry
        )
        self.latency = Histogram(
            "kaimen_http_request_duration_seconds",
            "Time from the gateway's entry to the end of the call.",
            ["api"],
            buckets=_BUCKETS,
            registry=registry,
        )
        self.refusals = Counter(
            "kaimen_gateway_refusals",
            "Calls refused with 401, 403 or 429.",
            ["api", "status"],
            registry=registry,
        )
        self.errors = Counter(
            "kaimen_error_responses",
            "Error answers by their UK OB ErrorCode or OAuth error code.",
            ["api", "code"],
            registry=registry,
        )
        self.authz_requests = Counter(
            "kaimen_authz_requests",
            "Authorization server calls answered, per endpoint.",
            ["route", "method", "status"],
            registry=registry,
        )
        self.authz_latency = Histogram(
            "kaimen_authz_request_duration_seconds",
            "Time from the gateway's entry to the end of an authorization server call, per endpoint.",
            ["route"],
            buckets=_BUCKETS,
            registry=registry,
        )
        self.event_metrics = EventMetrics(registry, events)
        self._authz = frozenset(authz_apis)
        # The subscriber runs on every request: label children are looked up once and kept.
        self._requests: dict[tuple[str, str, int], Any] = {}
        self._latency: dict[str, Any] = {}
        self._authz_requests: dict[tuple[str, str, int], Any] = {}
        self._authz_latency: dict[str, Any] = {}
        events.subscribe(API_CALL_COMPLETED, self._on_call)

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
        if call.error_code is not None:
            self.errors.labels(api, call.error_code if call.error_code in _CODES else "other").inc()
        if api in self._authz:
            self._on_authz_call(call, method, elapsed)

    def _on_authz_call(self, call: Call, method: str, elapsed: float) -> None:
        # call.route is a registered route's path template (kaimen.gateway.routing), never the path.
        route = call.route or "none"
        key = (route, method, call.status)
        counter = self._authz_requests.get(key)
        if counter is None:
            counter = self._authz_requests[key] = self.authz_requests.labels(route, method, str(call.status))
        counter.inc()
        histogram = self._authz_latency.get(route)
        if histogram is None:
            histogram = self._authz_latency[route] = self.authz_latency.labels(route)
        histogram.observe(elapsed)

    def exposition(self) -> bytes:
        """The text exposition: of this process's registry, or, when ``kaimen serve`` runs several
        workers (``PROMETHEUS_MULTIPROC_DIR`` set, kaimen.server), of every worker's values summed, so
        a scrape reads the same totals whichever worker answers it."""
        if os.environ.get(MULTIPROCESS_DIR):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
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
            raise MethodNotAllowed(headers={"Allow": "GET, HEAD"})  # RFC 9110 §15.5.6
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    # Every method is routed here, so that outsiders get 404 rather than a 405 that reveals the path.
    return Route("/metrics", endpoint, methods=sorted(_METHODS))
