"""Fixtures: settings on a fresh database (SQLite always; PostgreSQL when KAIMEN_TEST_DATABASE_URL is
set), the app with its lifespan running, and an httpx client over ASGI."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kaimen.settings import Settings, load_settings
from kaimen.store.migrate import upgrade
from tests.dpop_support import running
from tests.support import (
    TEST_DATABASE_URL,
    TEST_REDIS_URL,
    client_for,
    create_postgres_database,
    drop_postgres_database,
    lifespan,
)

BACKENDS = ["sqlite", "postgres"]


def _postgres_or_skip() -> str:
    if not TEST_DATABASE_URL:
        pytest.skip("PostgreSQL not available: set KAIMEN_TEST_DATABASE_URL to run this test")
    return TEST_DATABASE_URL


@pytest.fixture
def redis_url() -> str:
    if not TEST_REDIS_URL:
        pytest.skip("Redis not available: set KAIMEN_TEST_REDIS_URL to run this test")
    return TEST_REDIS_URL


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database on each backend: every test using it runs on SQLite and PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'kaimen.db'}"
        upgrade(url)
        yield url
        return
    base = _postgres_or_skip()
    url = asyncio.run(create_postgres_database(base))
    upgrade(url.replace("postgresql://", "postgresql+asyncpg://", 1))
    try:
        yield url.replace("postgresql://", "postgresql+asyncpg://", 1)
    finally:
        asyncio.run(drop_postgres_database(base, url))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'kaimen.db'}"
    upgrade(url)
    return url


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        overrides.setdefault("data_dir", tmp_path)
        return load_settings(**overrides)

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings], sqlite_url: str) -> Settings:
    """Embedded-mode settings on a fresh SQLite database."""
    return make_settings(database_url=sqlite_url)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Any]:
    from kaimen.app import create_app

    application = create_app(settings)
    async with lifespan(application):
        yield application


@pytest.fixture
async def client(app: Any) -> AsyncIterator[Any]:
    async with client_for(app) as http:
        yield http


@pytest.fixture
async def server(
    make_settings: Callable[..., Settings], database_url: str
) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    """The whole app with its lifespan and an HTTP client, on each backend (tests.dpop_support.running)."""
    async with running(make_settings(database_url=database_url)) as started:
        yield started
