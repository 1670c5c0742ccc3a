"""A suspension, deletion or tier change of a TPP application counts on the very next call in every
worker, for its OAuth client too, including a worker that has not yet heard the change's NOTIFY
(project rule: "revocations and suspensions take effect at once in every worker"). An audit found, on
PostgreSQL, the client cache of another worker still treating a suspended client as approved for the
few milliseconds before the NOTIFY arrived (12 calls in 100), and a tier downgrade late (17 in 100).

Two services on one database stand for two workers (tests/test_revocation_window.py): on SQLite the
real watcher, which is exact; on PostgreSQL one that has not been told anything yet. The resource
APIs read the client's standing with the token (no extra round trip on the Account API's hot path);
client authentication (token, PAR) confirms it with one indexed read.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from kaimen.authz.clients import ClientRegistry
from kaimen.authz.tokens import TokenService
from kaimen.gateway.dpop_auth import DpopAuth, ResourceRefusal
from kaimen.settings import Settings
from kaimen.store.db import Database
from kaimen.store.watch import build_watcher
from kaimen.tiers import Tier
from kaimen.tpp.directory import CallerDirectory
from kaimen.tpp.registry import Registry, ReviewStatus
from tests.test_revocation_window import NotYetNotified

JKT = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"


@dataclass
class Workers:
    registry: Registry  # the operator's worker
    changing_clients: ClientRegistry
    clients: ClientRegistry  # the serving worker's
    tokens: TokenService
    keys: CallerDirectory
    gateway: DpopAuth
    app_id: str
    client_id: str
    api_key: str
    access_token: str


@pytest.fixture
async def workers(make_settings: Callable[..., Settings], database_url: str) -> AsyncIterator[Workers]:
    settings = make_settings(database_url=database_url)
    changing_db, serving_db = Database(settings.sqlalchemy_url), Database(settings.sqlalchemy_url)
    watcher = build_watcher(settings, serving_db) if serving_db.is_sqlite else NotYetNotified()
    await watcher.start()
    try:
        registry = Registry(changing_db)
        app = await registry.register(
            organisation="Acme", application="Acme Budget", tier=Tier.PARTNER, status=ReviewStatus.APPROVED
        )
        key = await registry.create_key(app.id)
        changing_clients = ClientRegistry(changing_db, settings)
        client = await changing_clients.insert(app.id, {"redirect_uris": ["https://tpp.example/cb"]})
        issued = await TokenService(changing_db, NotYetNotified(), settings).issue(
            client_id=client.client_id,
            customer_id="cust-1",
            scope="openid accounts",
            jkt=JKT,
            grant_id="grant-1",
            consent_id=None,
            details={},
            refresh=False,
        )
        tokens = TokenService(serving_db, watcher, settings)
        clients = ClientRegistry(serving_db, settings, watcher=watcher)
        keys = CallerDirectory(serving_db, watcher)
        gateway = DpopAuth(None, tokens=tokens, dpop=None, clients=clients)  # type: ignore[arg-type]
        yield Workers(
            registry, changing_clients, clients, tokens, keys, gateway, app.id, client.client_id,
            key.api_key, issued.access_token,
        )  # fmt: skip
    finally:
        await watcher.stop()
        await changing_db.dispose()
        await serving_db.dispose()


async def _resource_caller(w: Workers) -> Any:
    """What DpopAuth makes of the token once its DPoP proof checked out."""
    token = await w.tokens.access(w.access_token)
    assert token is not None
    return await w.gateway._caller(token)


async def _served_before(w: Workers) -> None:
    for _ in range(2):  # the serving worker has answered for all of them before: they are cached
        assert (await _resource_caller(w)).tier == Tier.PARTNER
        assert (await w.clients.current(w.client_id)) is not None
        assert await w.keys.lookup(w.api_key) is not None


@pytest.mark.parametrize("status", [ReviewStatus.SUSPENDED, ReviewStatus.REVOKED])
async def test_a_suspended_client_is_refused_before_the_notification_arrives(
    workers: Workers, status: ReviewStatus
) -> None:
    await _served_before(workers)
    await workers.registry.set_status(workers.app_id, status)

    with pytest.raises(ResourceRefusal, match="the client is not approved"):
        await _resource_caller(workers)
    client = await workers.clients.current(workers.client_id)
    assert client is not None and client.status == status and not client.approved
    assert await workers.keys.lookup(workers.api_key) is None


async def test_a_deleted_client_is_refused_before_the_notification_arrives(workers: Workers) -> None:
    await _served_before(workers)
    await workers.changing_clients.delete(workers.client_id)

    assert await workers.clients.current(workers.client_id) is None
    with pytest.raises(ResourceRefusal, match="the client is not approved"):
        await _resource_caller(workers)


async def test_a_tier_change_counts_before_the_notification_arrives(workers: Workers) -> None:
    await _served_before(workers)
    await workers.registry.set_tier(workers.app_id, Tier.PUBLIC)

    assert (await _resource_caller(workers)).tier == Tier.PUBLIC
    client = await workers.clients.current(workers.client_id)
    assert client is not None and client.tier == Tier.PUBLIC
    caller = await workers.keys.lookup(workers.api_key)
    assert caller is not None and caller.tier == Tier.PUBLIC
