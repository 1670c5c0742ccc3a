"""Liveness and readiness, for load balancers and orchestrators (issue 6, item 1).

- ``GET /livez`` (and ``/healthz``, its older name): the process answers. No I/O, so a slow database
  never gets a healthy worker restarted.
- ``GET /readyz``: this worker can serve. The database answers a trivial query and, when configured,
  Redis answers PING, each within ``timeout`` seconds (checked side by side). 200
  ``{"status":"ready","checks":{...}}`` or 503 ``{"status":"not ready","checks":{...}}`` naming each
  check ``ok`` or ``failed``; the reason goes to the log as an exception class name only, never a
  stack trace or a connection string (it holds the password).

These paths belong to no API (kaimen.gateway.apis): the gateway lets them through without an API key
or a rate limit, as it does ``/metrics``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from kaimen.store.db import Database

log = logging.getLogger("kaimen.health")

CHECK_TIMEOUT_SECONDS = 1.0
_ALIVE = b'{"status":"ok"}'


async def _alive(request: Request) -> Response:
    return Response(_ALIVE, media_type="application/json")


class Readiness:
    def __init__(
        self, db: Database, redis_url: str | None, *, timeout: float = CHECK_TIMEOUT_SECONDS
    ) -> None:
        self.db = db
        self.redis_url = redis_url
        self.timeout = timeout

    async def _database(self) -> None:
        async with self.db.read() as session:
            await session.execute(text("SELECT 1"))

    async def _redis(self) -> None:
        from redis.asyncio import Redis

        client: Any = Redis.from_url(
            self.redis_url or "", socket_connect_timeout=self.timeout, socket_timeout=self.timeout
        )
        try:
            await client.ping()
        finally:
            await client.aclose()

    async def _run(self, name: str, check: Callable[[], Awaitable[None]]) -> str:
        try:
            await asyncio.wait_for(check(), self.timeout)
        except Exception as exc:  # any failure is "not ready"; only its class name is logged
            log.warning("readiness check %s failed: %s", name, type(exc).__name__)
            return "failed"
        return "ok"

    async def checks(self) -> dict[str, str]:
        named: dict[str, Callable[[], Awaitable[None]]] = {"database": self._database}
        if self.redis_url:
            named["redis"] = self._redis
        results = await asyncio.gather(*(self._run(name, check) for name, check in named.items()))
        return dict(zip(named, results, strict=True))

    async def endpoint(self, request: Request) -> Response:
        checks = await self.checks()
        ready = all(result == "ok" for result in checks.values())
        body = {"status": "ready" if ready else "not ready", "checks": checks}
        return Response(orjson.dumps(body), status_code=200 if ready else 503, media_type="application/json")


def health_routes(db: Database, redis_url: str | None) -> list[Route]:
    readiness = Readiness(db, redis_url)
    return [
        Route("/livez", _alive, methods=["GET"]),
        Route("/healthz", _alive, methods=["GET"]),
        Route("/readyz", readiness.endpoint, methods=["GET"]),
    ]
