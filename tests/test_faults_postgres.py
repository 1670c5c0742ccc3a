"""PostgreSQL restarted under the app (issue 6 item 3): while the database is down every answer is
either served (from what the worker already holds) or refused cleanly — a 503 in the API's own error
format, never a 500 and never anything internal in the body; once it is back the same app serves
again without a restart. The cluster is the test's own (initdb on a free port), never the shared one."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.exc import OperationalError

from kaimen.gateway.boundary import database_unreachable
from kaimen.settings import Settings
from kaimen.store.migrate import upgrade
from tests.authz_flow_support import Harness, assert_oauth_error, harness
from tests.faults_support import (
    ATM,
    CALLS_PER_PHASE,
    MEDIA,
    PCA,
    RECOVER_WITHIN,
    UNAVAILABLE,
    PostgresServer,
    assert_no_internals,
    product_key,
)
from tests.support import create_postgres_database


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer()
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def migrated(postgres: PostgresServer) -> str:
    url = asyncio.run(create_postgres_database(postgres.base_url + "/postgres"))
    url = url.replace("postgresql://", "postgresql+asyncpg://", 1)
    upgrade(url)
    return url


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data dir (so one secret key) for the module's one database: the signing key sealed in it
    by the first app opens in the next."""
    return tmp_path_factory.mktemp("faults-pg-data")


@pytest.fixture
async def h(make_settings: Callable[..., Settings], migrated: str, data_dir: Path) -> AsyncIterator[Harness]:
    async with harness(make_settings(database_url=migrated, data_dir=data_dir)) as flow:
        yield flow


def assert_clean(response: httpx.Response, path: str) -> None:
    """Served, or a 503 in the Open Data error format; never a 500, nothing internal."""
    assert_no_internals(response)
    if response.status_code == 200:
        return
    assert response.status_code == 503, (response.status_code, response.text)
    assert response.headers["content-type"] == MEDIA[path]
    assert int(response.headers["retry-after"]) >= 1
    body = response.json()
    assert {k: body[k] for k in UNAVAILABLE} == UNAVAILABLE


async def test_requests_fail_cleanly_while_postgres_is_down_and_recover_without_a_restart(
    h: Harness, postgres: PostgresServer
) -> None:
    key = await product_key(h)
    calls = [(PCA, {"x-api-key": key}), (ATM, {})]
    for path, headers in calls:
        assert (await h.http.get(path, headers=headers)).status_code == 200

    postgres.stop()
    statuses = []
    try:
        for _ in range(CALLS_PER_PHASE):
            for path, headers in calls:
                response = await h.http.get(path, headers=headers)
                assert_clean(response, path)
                statuses.append(response.status_code)
    finally:
        postgres.start()
    assert 503 in statuses  # the outage was seen, not hidden behind caches

    deadline = time.monotonic() + RECOVER_WITHIN
    for path, headers in calls:
        while (response := await h.http.get(path, headers=headers)).status_code != 200:
            assert_clean(response, path)
            assert time.monotonic() < deadline, response.text
            await asyncio.sleep(0.05)
    for _ in range(CALLS_PER_PHASE):
        for path, headers in calls:
            assert (await h.http.get(path, headers=headers)).status_code == 200


async def test_token_endpoint_answers_temporarily_unavailable_while_postgres_is_down(
    h: Harness, postgres: PostgresServer
) -> None:
    tpp = await h.tpp()
    form = {"grant_type": "client_credentials", "scope": "accounts"}
    assert (await h.token(tpp, form)).status_code == 200
    postgres.stop()
    try:
        for _ in range(3):
            response = await h.token(tpp, form)
            assert_no_internals(response)
            assert_oauth_error(response, 503, "temporarily_unavailable")
    finally:
        postgres.start()
    deadline = time.monotonic() + RECOVER_WITHIN
    while (response := await h.token(tpp, form)).status_code != 200:
        assert_oauth_error(response, 503, "temporarily_unavailable")
        assert time.monotonic() < deadline, response.text
        await asyncio.sleep(0.05)


class _DriverError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def _caused_by(cause: BaseException) -> Exception:
    try:
        raise RuntimeError("wrapper") from cause
    except RuntimeError as wrapper:
        return wrapper


@pytest.mark.parametrize(
    ("error", "unreachable"),
    [
        (ConnectionRefusedError(111, "refused"), True),
        (_caused_by(ConnectionResetError()), True),
        (_DriverError("08006"), True),  # connection_failure
        (_DriverError("57P01"), True),  # admin_shutdown
        (_DriverError("23505"), False),  # unique_violation: a bug or a race, not an outage
        (OperationalError("SELECT 1", {}, sqlite3.OperationalError("no such table: x")), False),
        (ValueError("bug"), False),
    ],
)
def test_only_connection_failures_count_as_the_database_being_unreachable(
    error: BaseException, unreachable: bool
) -> None:
    """What ErrorBoundary answers 503 for; every other error stays a bare 500 (it is a bug)."""
    assert database_unreachable(error) is unreachable
