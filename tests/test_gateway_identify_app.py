"""Identification and tier policy in the whole application (create_app), on the Product API paths.

Issue 2, item 3: "A key of a pending, suspended or revoked application, or a revoked key, stops
working at once, in every worker" - here even when the ``kaimen tpp`` command revokes it from another
process (SQLite), and when another instance revokes it (PostgreSQL, two apps on one database).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kaimen.app import create_app
from kaimen.events import API_CALL_COMPLETED
from kaimen.gateway.context import Call
from kaimen.settings import Settings
from kaimen.store.migrate import upgrade
from kaimen.tiers import Tier
from kaimen.tpp.registry import Registry, ReviewStatus
from tests.support import (
    REPO,
    TEST_DATABASE_URL,
    client_for,
    create_postgres_database,
    drop_postgres_database,
    lifespan,
)
from tests.tpp_support import BAD_REQUEST, CHALLENGE, FORBIDDEN, UNAUTHORIZED, seen_by

PCA = "/open-banking/v2.4/personal-current-accounts"  # ACQUAINTANCE by default (settings.apis)
BCA = "/open-banking/v2.4/business-current-accounts"  # PARTNER
ATM = "/open-banking/v2.3/atms"  # PUBLIC
GATEWAY_REFUSALS = {400, 401, 403}


def _callers(app: Any) -> list[Call]:
    """Every call the app completes, as the gateway recorded it (who was identified, what status)."""
    calls: list[Call] = []
    app.components.events.subscribe(API_CALL_COMPLETED, lambda _name, call: calls.append(call))
    return calls


async def _approved_key(registry: Registry, tier: Tier = Tier.ACQUAINTANCE) -> tuple[str, str, str]:
    app = await registry.register(
        organisation="Acme", application=f"Acme {tier}", tier=tier, status=ReviewStatus.APPROVED
    )
    issued = await registry.create_key(app.id)
    return app.id, issued.key.id, issued.api_key


def _assert_refusal(app: Any, response: httpx.Response, api: str, status: int, body: dict[str, str]) -> None:
    assert response.status_code == status
    assert response.json() == body
    assert response.headers["content-type"] == app.components.apis.by_name(api).media_type
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert len(response.headers["x-fapi-interaction-id"]) == 36
    assert response.headers.get("www-authenticate") == (CHALLENGE if status == 401 else None)


async def test_product_api_refusals_in_the_open_data_format(app: Any, client: httpx.AsyncClient) -> None:
    registry = Registry(app.components.db)
    app_id, _, api_key = await _approved_key(registry, Tier.ACQUAINTANCE)
    calls = _callers(app)

    _assert_refusal(app, await client.get(PCA), "opendata.pca", 401, UNAUTHORIZED)
    _assert_refusal(
        app, await client.get(PCA, headers={"x-api-key": "kmn_x"}), "opendata.pca", 401, UNAUTHORIZED
    )
    _assert_refusal(
        app, await client.get(BCA, headers={"x-api-key": api_key}), "opendata.bca", 403, FORBIDDEN
    )
    _assert_refusal(app, await client.get(f"{PCA}?api_key={api_key}"), "opendata.pca", 400, BAD_REQUEST)

    # Its own tier and a more open one: through the gateway, identified.
    for path in (PCA, ATM):
        response = await client.get(path, headers={"x-api-key": api_key})
        assert response.status_code not in GATEWAY_REFUSALS
        assert calls[-1].caller is not None and calls[-1].caller.application_id == app_id
    # Anonymous on the PUBLIC API: through, unidentified.
    response = await client.get(ATM)
    assert response.status_code not in GATEWAY_REFUSALS
    assert calls[-1].caller is None


async def test_operator_paths_pass_untouched(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz", headers={"x-api-key": "garbage"})
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_a_key_in_the_query_string_is_written_to_no_log(
    make_settings: Any, sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    from kaimen.app import create_app

    app = create_app(make_settings(database_url=sqlite_url, access_log=True))
    async with lifespan(app), client_for(app) as client:
        _, _, api_key = await _approved_key(Registry(app.components.db))
        caplog.set_level(logging.DEBUG)
        for url in (f"{PCA}?api_key={api_key}", f"{ATM}?q={api_key}", f"/nowhere?key={api_key}"):
            response = await client.get(url)
            assert response.status_code == 400
            assert api_key not in response.text
        await asyncio.sleep(0.3)  # let anything logged off the request path (audit batches) be written
    # Kaimen's records; httpx's are the test's own client logging the URL it sent.
    records = [record for record in caplog.records if record.name != "httpx"]
    assert any(record.name == "kaimen.access" for record in records), "expected the calls to be logged"
    secret = api_key[21:]
    for record in records:
        dumped = repr(record.__dict__) + record.getMessage()
        assert secret not in dumped, record


async def _kaimen(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        str(REPO / ".venv" / "bin" / "kaimen"),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_revocation_by_the_tpp_command_applies_to_the_very_next_request(
    app: Any, client: httpx.AsyncClient, settings: Settings
) -> None:
    registry = Registry(app.components.db)
    app_id, key_id, api_key = await _approved_key(registry)
    _, _, spare_key = await _approved_key(registry)
    calls = _callers(app)
    for _ in range(2):  # the second call is answered from the directory's cache
        assert (await client.get(PCA, headers={"x-api-key": api_key})).status_code not in GATEWAY_REFUSALS
        assert calls[-1].caller is not None and calls[-1].caller.key_id == key_id

    code, out, err = await _kaimen("--database-url", settings.sqlalchemy_url, "tpp", "keys", "revoke", key_id)
    assert code == 0, err
    assert key_id in out and "revoked" in out

    _assert_refusal(
        app, await client.get(PCA, headers={"x-api-key": api_key}), "opendata.pca", 401, UNAUTHORIZED
    )

    # An application suspended by the command: its keys stop at once too.
    assert (await client.get(PCA, headers={"x-api-key": spare_key})).status_code not in GATEWAY_REFUSALS
    spare_app = next(k for k in await registry.list() if k.id != app_id).id
    code, _, err = await _kaimen("--database-url", settings.sqlalchemy_url, "tpp", "suspend", spare_app)
    assert code == 0, err
    _assert_refusal(
        app, await client.get(PCA, headers={"x-api-key": spare_key}), "opendata.pca", 401, UNAUTHORIZED
    )


@pytest.fixture
def postgres_url() -> Iterator[str]:
    if not TEST_DATABASE_URL:
        pytest.skip("PostgreSQL not available: set KAIMEN_TEST_DATABASE_URL to run this test")
    url = asyncio.run(create_postgres_database(TEST_DATABASE_URL))
    upgrade(url.replace("postgresql://", "postgresql+asyncpg://", 1))
    try:
        yield url
    finally:
        asyncio.run(drop_postgres_database(TEST_DATABASE_URL, url))


@pytest.fixture
async def two_instances(
    postgres_url: str, make_settings: Callable[..., Settings], tmp_path: Path
) -> AsyncIterator[tuple[Any, Any]]:
    """Two workers: two create_app on one PostgreSQL database, each with its lifespan running. Workers
    of one deployment share KAIMEN_SECRET_KEY (production mode requires it)."""
    shared = {"database_url": postgres_url, "secret_key": "S" * 43}
    first = create_app(make_settings(**shared, data_dir=tmp_path / "a"))
    second = create_app(make_settings(**shared, data_dir=tmp_path / "b"))
    async with lifespan(first), lifespan(second):
        yield first, second


async def test_a_revocation_in_one_worker_is_seen_by_another(two_instances: tuple[Any, Any]) -> None:
    first, second = two_instances
    registry = Registry(first.components.db)
    app_id, key_id, api_key = await _approved_key(registry)
    other = await registry.create_key(app_id, label="rotated")
    headers = {"x-api-key": api_key}
    async with client_for(first) as one, client_for(second) as two:
        for client in (one, two, two):  # warm both workers' caches
            assert (await client.get(PCA, headers=headers)).status_code not in GATEWAY_REFUSALS

        # Revoked through the first worker; the second learns it by NOTIFY (a few ms after commit).
        await seen_by(second.components.db, second.components.watcher, registry.revoke_key(key_id))
        for app, client in ((first, one), (second, two)):
            _assert_refusal(app, await client.get(PCA, headers=headers), "opendata.pca", 401, UNAUTHORIZED)
            rotated = await client.get(PCA, headers={"x-api-key": other.api_key})
            assert rotated.status_code not in GATEWAY_REFUSALS

        # Suspending the application stops its remaining key everywhere.
        await seen_by(
            second.components.db,
            second.components.watcher,
            registry.set_status(app_id, ReviewStatus.SUSPENDED),
        )
        for app, client in ((first, one), (second, two)):
            response = await client.get(PCA, headers={"x-api-key": other.api_key})
            _assert_refusal(app, response, "opendata.pca", 401, UNAUTHORIZED)


@pytest.mark.parametrize(
    "path", [ATM + "/", "/oauth2/register/", "/open-banking/v3.1/aisp/accounts/", "/healthz/"]
)
async def test_a_trailing_slash_is_not_found_never_a_redirect_to_the_host_header(
    client: httpx.AsyncClient, path: str
) -> None:
    """URLs come from the public base URL only (DESIGN.md): Starlette's redirect of "/path/" to
    "/path" would build its Location from the Host header the client sent."""
    response = await client.get(path, headers={"host": "evil.example"})
    # Not found; the Account API asks for its token first (401), before any routing.
    assert response.status_code == (401 if "/aisp/" in path else 404), response.headers
    assert "location" not in response.headers
    assert "evil.example" not in response.text
