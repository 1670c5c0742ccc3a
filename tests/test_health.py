"""Liveness and readiness (issue 6, item 1): ``/livez`` and ``/healthz`` answer without I/O, ``/readyz``
checks the database and Redis, and neither needs an API key nor says anything about internals."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from kaimen.health import Readiness
from kaimen.settings import Settings
from kaimen.store.db import Database
from tests.support import client_for, lifespan

CLOSED_REDIS = "redis://:hunter2@127.0.0.1:1/0"
CLOSED_POSTGRES = "postgresql+asyncpg://kaimen:hunter2@127.0.0.1:1/kaimen"


@pytest.fixture
async def redis_down_client(
    make_settings: Callable[..., Settings], sqlite_url: str
) -> AsyncIterator[httpx.AsyncClient]:
    from kaimen.app import create_app

    app: Any = create_app(make_settings(database_url=sqlite_url, redis_url=CLOSED_REDIS))
    async with lifespan(app), client_for(app) as http:
        yield http


@pytest.mark.parametrize("path", ["/livez", "/healthz"])
async def test_liveness_answers_without_a_key(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-fapi-interaction-id"]


async def test_readiness_checks_the_database(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"database": "ok"}}


@pytest.mark.parametrize("path", ["/livez", "/readyz"])
async def test_health_paths_ignore_a_bad_key(client: httpx.AsyncClient, path: str) -> None:
    # They belong to no API: the gateway neither identifies nor limits the caller (as for /metrics).
    response = await client.get(path, headers={"x-api-key": "kmn_garbage"})
    assert response.status_code == 200


async def test_readiness_names_redis_when_it_cannot_be_reached(
    redis_down_client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="kaimen.health"):
        response = await redis_down_client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "not ready", "checks": {"database": "ok", "redis": "failed"}}
    assert "hunter2" not in response.text and "127.0.0.1" not in response.text
    assert "hunter2" not in caplog.text and "Traceback" not in caplog.text
    assert "readiness check redis failed" in caplog.text
    # Liveness does no I/O: Redis being down does not make the process look dead.
    assert (await redis_down_client.get("/livez")).status_code == 200


async def test_readiness_names_the_database_when_it_cannot_be_reached(
    caplog: pytest.LogCaptureFixture,
) -> None:
    db = Database(CLOSED_POSTGRES)
    try:
        with caplog.at_level(logging.WARNING, logger="kaimen.health"):
            checks = await Readiness(db, None, timeout=0.5).checks()
    finally:
        await db.dispose()
    assert checks == {"database": "failed"}
    assert "hunter2" not in caplog.text and "Traceback" not in caplog.text


@pytest.mark.redis
async def test_readiness_checks_redis_when_configured(redis_url: str, sqlite_url: str) -> None:
    db = Database(sqlite_url)
    try:
        assert await Readiness(db, redis_url).checks() == {"database": "ok", "redis": "ok"}
    finally:
        await db.dispose()
