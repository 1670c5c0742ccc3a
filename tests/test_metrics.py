"""Prometheus metrics (issue 2, item 4): fed only by events; /metrics only for the operator's networks
(by the client IP, which honours trusted proxies); everyone else gets the unknown-path 404."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from prometheus_client import CONTENT_TYPE_LATEST

from kaimen.app import create_app
from kaimen.events import API_CALL_COMPLETED, RATE_LIMIT_STORE_DOWN, EventBus
from kaimen.gateway.context import Call
from kaimen.gateway.metrics import Metrics
from kaimen.gateway.ratelimit import StoreDownDecision
from kaimen.settings import Settings
from tests.support import client_for, lifespan
from tests.test_ratelimit import APIS

NOT_FOUND = {"status": "404", "title": "Not found", "description": "Not found"}


def finished(api_index: int | None, status: int, method: str = "GET") -> Call:
    return Call(
        interaction_id="00000000-0000-4000-8000-000000000000",
        client_ip="203.0.113.7",
        api=APIS[api_index] if api_index is not None else None,
        started_ns=time.perf_counter_ns() - 3_000_000,  # 3 ms ago
        method=method,
        status=status,
    )


def test_metrics_count_calls_from_events_only() -> None:
    events = EventBus()
    metrics = Metrics(events)
    for call in (finished(0, 200), finished(0, 200), finished(1, 401), finished(1, 403), finished(0, 429)):
        events.emit(API_CALL_COMPLETED, call)
    events.emit(API_CALL_COMPLETED, finished(None, 200, method="BREW"))
    sample = metrics.registry.get_sample_value
    requests = "kaimen_http_requests_total"
    assert sample(requests, {"api": "test.public", "method": "GET", "status": "200"}) == 2
    assert sample(requests, {"api": "test.member", "method": "GET", "status": "401"}) == 1
    assert sample(requests, {"api": "none", "method": "other", "status": "200"}) == 1
    refusals = "kaimen_gateway_refusals_total"
    assert sample(refusals, {"api": "test.member", "status": "401"}) == 1
    assert sample(refusals, {"api": "test.member", "status": "403"}) == 1
    assert sample(refusals, {"api": "test.public", "status": "429"}) == 1
    assert sample(refusals, {"api": "test.public", "status": "200"}) is None
    latency = "kaimen_http_request_duration_seconds"
    assert sample(f"{latency}_count", {"api": "test.public"}) == 3
    assert sample(f"{latency}_bucket", {"api": "test.public", "le": "0.001"}) == 0
    assert sample(f"{latency}_bucket", {"api": "test.public", "le": "+Inf"}) == 3


def test_store_down_decisions_are_counted() -> None:
    events = EventBus()
    metrics = Metrics(events)
    events.emit(RATE_LIMIT_STORE_DOWN, StoreDownDecision("test.member", refused=True))
    events.emit(RATE_LIMIT_STORE_DOWN, StoreDownDecision("test.public", refused=False))
    events.emit(RATE_LIMIT_STORE_DOWN, StoreDownDecision("test.public", refused=False))
    sample = metrics.registry.get_sample_value
    name = "kaimen_ratelimit_store_down_total"
    assert sample(name, {"api": "test.member", "decision": "refused"}) == 1
    assert sample(name, {"api": "test.public", "decision": "served"}) == 2


def test_each_metrics_has_its_own_registry() -> None:
    first, second = Metrics(EventBus()), Metrics(EventBus())
    assert first.registry is not second.registry


@pytest.fixture
async def proxied_app(make_settings: Callable[..., Settings], sqlite_url: str) -> AsyncIterator[Any]:
    application = create_app(make_settings(database_url=sqlite_url, trusted_proxies=["10.0.0.0/8"]))
    async with lifespan(application):
        yield application


async def test_metrics_endpoint_serves_the_operator(app: Any) -> None:
    async with client_for(app, client_ip="127.0.0.1") as http:
        await http.get("/healthz")
        await http.get("/healthz")
        response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"] == CONTENT_TYPE_LATEST
    assert response.headers["cache-control"] == "no-store"
    assert 'kaimen_http_requests_total{api="none",method="GET",status="200"} 2.0' in response.text
    assert 'kaimen_http_request_duration_seconds_count{api="none"} 2.0' in response.text


async def test_metrics_endpoint_is_an_unknown_path_to_everyone_else(app: Any) -> None:
    async with client_for(app, client_ip="203.0.113.7") as http:
        unknown = await http.get("/nowhere")
        answers = [await http.get("/metrics"), await http.post("/metrics"), await http.head("/metrics")]
    for response in answers:
        assert response.status_code == 404
        assert response.headers["content-type"] == unknown.headers["content-type"]
    assert [r.json() for r in answers[:2]] == [NOT_FOUND, NOT_FOUND]
    assert unknown.json() == NOT_FOUND


async def test_metrics_endpoint_refuses_other_methods_to_the_operator(app: Any) -> None:
    async with client_for(app, client_ip="127.0.0.1") as http:
        response = await http.post("/metrics")
    assert response.status_code == 405
    assert response.json() == {
        "status": "405",
        "title": "Method not allowed",
        "description": "Method not allowed",
    }


@pytest.mark.parametrize(
    ("peer", "forwarded", "status"),
    [
        ("10.0.0.1", "127.0.0.1", 200),  # a trusted proxy forwarding the operator
        ("10.0.0.1", "198.51.100.1", 404),  # a trusted proxy forwarding an outsider
        ("203.0.113.7", "127.0.0.1", 404),  # an outsider claiming to be the operator
    ],
)
async def test_metrics_access_follows_the_client_ip_behind_proxies(
    proxied_app: Any, peer: str, forwarded: str, status: int
) -> None:
    async with client_for(proxied_app, client_ip=peer) as http:
        response = await http.get("/metrics", headers={"x-forwarded-for": forwarded})
    assert response.status_code == status
