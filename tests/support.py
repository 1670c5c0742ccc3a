"""Test helpers shared by every test module: apps with lifespan, spec validators, databases."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
SPECS = SHARED / "specs"
SHARED_OB_SPECS = SPECS / "uk-ob-v3.1.11"
PACKAGED_OB_SPECS = REPO / "src" / "kaimen" / "apis" / "accounts" / "specs"


def ob_spec(file_name: str) -> Path:
    """A UK OB v3.1.11 OpenAPI file: ../shared's when this checkout sits beside it, else the packaged
    byte-identical copy its API keeps in ``src/kaimen/apis/<api>/specs/`` (each API's tests check
    the two are the same)."""
    shared = SHARED_OB_SPECS / file_name
    if shared.exists():
        return shared
    packaged = sorted((REPO / "src" / "kaimen" / "apis").glob(f"*/specs/{file_name}"))
    if not packaged:
        raise FileNotFoundError(f"{file_name}: neither in {SHARED_OB_SPECS} nor packaged with an API")
    return packaged[0]


TEST_DATABASE_URL = os.environ.get("KAIMEN_TEST_DATABASE_URL")
TEST_REDIS_URL = os.environ.get("KAIMEN_TEST_REDIS_URL")


@asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[None]:
    """Run an ASGI app's lifespan startup, yield, then its shutdown (fails loudly if either fails)."""
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    sent: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def receive() -> dict[str, Any]:
        return await queue.get()

    async def send(message: dict[str, Any]) -> None:
        await sent.put(message)

    task = asyncio.create_task(
        app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, receive, send)
    )
    await queue.put({"type": "lifespan.startup"})
    message = await asyncio.wait_for(sent.get(), 30)
    if message["type"] != "lifespan.startup.complete":
        raise RuntimeError(f"startup failed: {message}")
    try:
        yield
    finally:
        await queue.put({"type": "lifespan.shutdown"})
        message = await asyncio.wait_for(sent.get(), 30)
        await task
        if message["type"] != "lifespan.shutdown.complete":
            raise RuntimeError(f"shutdown failed: {message}")


def client_for(app: Any, client_ip: str = "203.0.113.7") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(client_ip, 51234))
    return httpx.AsyncClient(transport=transport, base_url="http://localhost:8000")


async def create_postgres_database(base_url: str, template: str | None = None) -> str:
    """A fresh database on the test PostgreSQL server, empty or a copy of the database ``template``
    names; returns its URL."""
    import asyncpg

    name = "kaimen_t_" + uuid.uuid4().hex[:12]
    copy_of = f' TEMPLATE "{template}"' if template else ""
    admin = await asyncpg.connect(base_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"{copy_of}')
    finally:
        await admin.close()
    return base_url.rsplit("/", 1)[0] + "/" + name


async def drop_postgres_database(base_url: str, url: str) -> None:
    import asyncpg

    name = url.rsplit("/", 1)[1]
    admin = await asyncpg.connect(base_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def load_json(path: Path) -> Any:
    return json.loads(path.read_text())
