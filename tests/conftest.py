"""Fixtures: settings on a fresh database (SQLite always; PostgreSQL when KAIMEN_TEST_DATABASE_URL is
set), the app with its lifespan running, and an httpx client over ASGI."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest

from kaimen.settings import Settings, load_settings
from kaimen.store.db import Database
from kaimen.store.migrate import upgrade
from tests.dpop_support import running
from tests.keys_support import POOL, install
from tests.postgres_supply_support import DatabaseSupply
from tests.support import (
    TEST_DATABASE_URL,
    TEST_REDIS_URL,
    client_for,
    create_postgres_database,
    drop_postgres_database,
    lifespan,
)

BACKENDS = ["sqlite", "postgres"]


@pytest.fixture(scope="session", autouse=True)
def pooled_rsa_keys() -> Iterator[None]:
    """RSA keys drawn from a pool and PEM loads memoised (tests.keys_support says why that is safe)."""
    with pytest.MonkeyPatch.context() as patch:
        install(patch)
        yield


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    # Before the item's fixtures, so that a module's own fixtures draw their keys as that module.
    fixtures = getattr(item, "_fixtureinfo", None)
    definitions = fixtures.name2fixturedefs.values() if fixtures is not None else []
    stateful = any(d.scope in ("class", "module", "package") for defs in definitions for d in defs)
    POOL.enter(str(item.path), item.nodeid, stateful)


def _postgres_or_skip() -> str:
    if not TEST_DATABASE_URL:
        pytest.skip("PostgreSQL not available: set KAIMEN_TEST_DATABASE_URL to run this test")
    return TEST_DATABASE_URL


@pytest.fixture
def redis_url() -> str:
    if not TEST_REDIS_URL:
        pytest.skip("Redis not available: set KAIMEN_TEST_REDIS_URL to run this test")
    return TEST_REDIS_URL


def _asyncpg(url: str) -> str:
    return url.replace("postgresql://", "postgresql+asyncpg://", 1)


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite database migrated once per run; each test gets a copy (migrating costs ~0.35 s)."""
    path = tmp_path_factory.mktemp("template") / "kaimen.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    with closing(sqlite3.connect(path)) as connection:  # everything in the main file, none in the WAL
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


@pytest.fixture(scope="session")
def migrated_postgres() -> Iterator[str | None]:
    """One PostgreSQL database migrated once per run, the template of each test's database."""
    if not TEST_DATABASE_URL:
        yield None
        return
    url = asyncio.run(create_postgres_database(TEST_DATABASE_URL))
    try:
        upgrade(_asyncpg(url))
        yield url.rsplit("/", 1)[1]
    finally:
        asyncio.run(drop_postgres_database(TEST_DATABASE_URL, url))


@pytest.fixture(scope="session")
def postgres_supply(migrated_postgres: str | None) -> Iterator[DatabaseSupply]:
    """Copies of the migrated template, made ahead and dropped behind (tests.postgres_supply_support)."""
    base = _postgres_or_skip()
    assert migrated_postgres is not None
    supply = DatabaseSupply(base, migrated_postgres)
    try:
        yield supply
    finally:
        supply.close()


def _fresh_sqlite(template: Path, tmp_path: Path) -> str:
    target = tmp_path / "kaimen.db"
    shutil.copyfile(template, target)
    return f"sqlite+aiosqlite:///{target}"


@pytest.fixture(params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    migrated_sqlite: Path,
    migrated_postgres: str | None,
) -> Iterator[str]:
    """A migrated, empty database on each backend: every test using it runs on SQLite and PostgreSQL."""
    if request.param == "sqlite":
        yield _fresh_sqlite(migrated_sqlite, tmp_path)
        return
    _postgres_or_skip()
    supply: DatabaseSupply = request.getfixturevalue("postgres_supply")
    url = supply.take()
    try:
        yield _asyncpg(url)
    finally:
        supply.give_back(url)


@pytest.fixture
def sqlite_url(tmp_path: Path, migrated_sqlite: Path) -> str:
    return _fresh_sqlite(migrated_sqlite, tmp_path)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """A ``Database`` on :func:`database_url`, disposed after the test. A module that needs something
    else (SQLite only, rows written first) defines its own ``db``, which pytest uses there instead."""
    database = Database(database_url)
    try:
        yield database
    finally:
        await database.dispose()


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
