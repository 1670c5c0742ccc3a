"""Helpers for the TPP registry and gateway identification tests: a gateway stack of the real steps
(Entry → ErrorBoundary → Identify → TierPolicy) in front of a probe handler, with one probe API per
tier, on a real database and generation watcher."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import orjson
from sqlalchemy import select

from kaimen.errors.render import Family
from kaimen.events import EventBus
from kaimen.gateway.apis import Api, ApiTable
from kaimen.gateway.boundary import ErrorBoundary
from kaimen.gateway.clientip import ClientIpResolver
from kaimen.gateway.context import Call
from kaimen.gateway.entry import Entry
from kaimen.gateway.identify import Identify
from kaimen.gateway.policy import TierPolicy
from kaimen.settings import ApiPolicy, Settings
from kaimen.store.db import Database
from kaimen.store.models import Generation
from kaimen.store.watch import build_watcher
from kaimen.tiers import Tier
from kaimen.tpp.directory import CallerDirectory
from kaimen.tpp.registry import ApplicationView, Registry, ReviewStatus

T = TypeVar("T")
MEDIA_TYPE = "application/prs.openbanking.opendata.v2.4+json"

# The Open Data v2 error objects the gateway answers with (kaimen.errors.render).
UNAUTHORIZED = {
    "status": "401",
    "title": "Unauthorized",
    "description": "A valid API key is required to access this resource.",
}
FORBIDDEN = {
    "status": "403",
    "title": "Forbidden",
    "description": "Your application is not admitted to the access tier of this resource.",
}
BAD_REQUEST = {
    "status": "400",
    "title": "Bad request",
    "description": "You have sent a request which could not be understood.",
}
CHALLENGE = 'ApiKey header="x-api-key"'


def probe_path(tier: Tier) -> str:
    return f"/probe/{tier.lower()}"


PROBE_APIS = [
    Api(
        name=f"probe.{tier.lower()}",
        path=probe_path(tier),
        family=Family.OPENDATA,
        media_type=MEDIA_TYPE,
        policy=ApiPolicy(tier=tier),
    )
    for tier in Tier
]


async def probe_handler(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers 200 with the identified application (or null): the gateway let the call through."""
    call: Call = scope["kaimen"]
    body = orjson.dumps({"caller": call.caller.application_id if call.caller else None})
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]}
    )
    await send({"type": "http.response.body", "body": body})


@dataclass
class Gateway:
    client: httpx.AsyncClient
    registry: Registry
    directory: CallerDirectory
    db: Database

    async def application(
        self, tier: Tier, status: ReviewStatus = ReviewStatus.APPROVED
    ) -> tuple[ApplicationView, str]:
        """A registered application of ``tier`` in ``status`` and one API key of it."""
        app = await self.registry.register(
            organisation="Probe Ltd", application=f"probe {tier}", tier=tier, status=status
        )
        issued = await self.registry.create_key(app.id)
        return app, issued.api_key

    async def change(self, work: Awaitable[T]) -> T:
        """Make a registry change, then wait until this worker has seen it (see :func:`seen_by`)."""
        return await seen_by(self.db, self.directory.watcher, work)

    async def get(self, tier: Tier, api_key: str | bytes | None = None, **kwargs: Any) -> httpx.Response:
        headers = {"x-api-key": api_key} if api_key is not None else {}
        return await self.client.get(probe_path(tier), headers=headers, **kwargs)


async def seen_by(db: Database, watcher: Any, work: Awaitable[T], within: float = 2.0) -> T:
    """Run a registry change and return once ``watcher``'s worker can no longer serve the old state.

    On SQLite the very next lookup polls ``PRAGMA data_version`` and sees the commit: nothing to wait
    for. On PostgreSQL the change reaches every worker by NOTIFY, which the server sends on commit
    and the worker receives a few milliseconds later; wait for that delivery of the generation the
    change committed (and fail if it takes longer than ``within`` seconds).
    """
    result = await work
    if db.is_sqlite:
        return result
    async with db.read() as session:
        target = (
            await session.execute(select(Generation.value).where(Generation.name == "registry"))
        ).scalar_one()
    deadline = time.monotonic() + within
    while watcher._seen.get("registry", 0) < target:
        assert time.monotonic() < deadline, "registry change not delivered by NOTIFY in time"
        await asyncio.sleep(0.001)
    return result


@asynccontextmanager
async def gateway_stack(settings: Settings) -> AsyncIterator[Gateway]:
    db = Database(settings.sqlalchemy_url)
    watcher = build_watcher(settings, db)
    await watcher.start()
    directory = CallerDirectory(db, watcher)
    app: Any = TierPolicy(probe_handler)
    app = Identify(app, directory=directory)
    app = ErrorBoundary(app)
    app = Entry(app, apis=ApiTable(PROBE_APIS), client_ip=ClientIpResolver([]), events=EventBus())
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 51234))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost:8000") as client:
            yield Gateway(client=client, registry=Registry(db), directory=directory, db=db)
    finally:
        await watcher.stop()
        await db.dispose()


def assert_refused(response: httpx.Response, status: int, body: dict[str, str]) -> None:
    """The exact refusal: status, Open Data error object, media type, interaction id, challenge on 401."""
    assert response.status_code == status
    assert response.json() == body
    assert response.headers["content-type"] == MEDIA_TYPE
    assert len(response.headers["x-fapi-interaction-id"]) == 36
    if status == 401:
        assert response.headers["www-authenticate"] == CHALLENGE
    else:
        assert "www-authenticate" not in response.headers
