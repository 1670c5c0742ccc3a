"""TokenService: opaque tokens stored as digests, DPoP-bound access tokens, revocation at once in every
worker (two services on one database stand for two workers), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from kaimen.authz.tokens import AccessToken, IssuedTokens, RefreshToken, Revocation, TokenService, digest_of
from kaimen.events import EventBus
from kaimen.settings import Settings
from kaimen.store.authz_models import Token
from kaimen.store.db import Database
from kaimen.store.types import utcnow
from kaimen.store.watch import build_watcher
from tests.dpop_support import tokens_seen

JKT = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"


@dataclass
class Worker:
    db: Database
    watcher: Any
    tokens: TokenService


@pytest.fixture
async def workers(
    make_settings: Callable[..., Settings], database_url: str
) -> AsyncIterator[Callable[[], Any]]:
    started: list[Worker] = []
    settings = make_settings(database_url=database_url)

    async def start() -> Worker:
        db = Database(settings.sqlalchemy_url)
        watcher = build_watcher(settings, db)
        await watcher.start()
        worker = Worker(db, watcher, TokenService(db, watcher, settings, events=EventBus()))
        started.append(worker)
        return worker

    yield start
    for worker in started:
        await worker.watcher.stop()
        await worker.db.dispose()


async def issue(
    tokens: TokenService, *, client_id: str = "client-a", grant_id: str = "g1", **kw: Any
) -> IssuedTokens:
    arguments: dict[str, Any] = {
        "client_id": client_id,
        "customer_id": "cust-1",
        "scope": "openid accounts",
        "jkt": JKT,
        "grant_id": grant_id,
        "consent_id": "aac-1",
        "details": {"sub": "pairwise-sub"},
        "refresh": True,
        **kw,
    }
    return await tokens.issue(**arguments)


async def test_tokens_are_256_bit_opaque_values_stored_only_as_digests(workers: Any) -> None:
    worker = await workers()
    issued = await issue(worker.tokens)
    assert len(issued.access_token) >= 43 and len(issued.refresh_token or "") >= 43
    assert issued.access_token != issued.refresh_token
    assert issued.expires_in == 300
    async with worker.db.read() as session:
        rows = (await session.execute(select(Token))).scalars().all()
    stored = {row.digest for row in rows}
    assert stored == {digest_of(issued.access_token), digest_of(issued.refresh_token or "")}
    for row in rows:
        assert issued.access_token not in repr(row.__dict__)


async def test_access_returns_the_dpop_bound_token(workers: Any) -> None:
    worker = await workers()
    issued = await issue(worker.tokens)
    found = await worker.tokens.access(issued.access_token)
    assert isinstance(found, AccessToken)
    assert (found.client_id, found.customer_id, found.jkt, found.consent_id) == (
        "client-a",
        "cust-1",
        JKT,
        "aac-1",
    )
    assert found.scope == frozenset({"openid", "accounts"})
    assert found.details == {"sub": "pairwise-sub"}
    # A refresh token is not an access token, and an unknown one is nothing.
    assert await worker.tokens.access(issued.refresh_token or "") is None
    assert await worker.tokens.access("unknown") is None
    assert await worker.tokens.access("x" * 600) is None


async def test_access_tokens_are_always_dpop_bound(workers: Any) -> None:
    worker = await workers()
    with pytest.raises(ValueError):
        await issue(worker.tokens, jkt="")


async def test_an_expired_access_token_is_refused_even_from_the_cache(workers: Any) -> None:
    worker = await workers()
    issued = await issue(worker.tokens)
    assert await worker.tokens.access(issued.access_token) is not None  # now cached
    cached = worker.tokens._valid.entries[digest_of(issued.access_token)]
    assert cached is not None
    worker.tokens._valid.entries[digest_of(issued.access_token)] = AccessToken(
        **{**{f: getattr(cached, f) for f in cached.__slots__}, "expires_at": utcnow() - timedelta(seconds=1)}
    )
    assert await worker.tokens.access(issued.access_token) is None


async def test_revocation_takes_effect_at_once_in_another_worker(workers: Any) -> None:
    first, second = await workers(), await workers()
    issued = await issue(first.tokens)
    assert await second.tokens.access(issued.access_token) is not None  # cached in the second worker
    assert await first.tokens.revoke(issued.access_token, "client-a") is Revocation.REVOKED
    await tokens_seen(second.db, second.watcher)
    assert await second.tokens.access(issued.access_token) is None
    assert await first.tokens.access(issued.access_token) is None


async def test_revoke_grant_revokes_everything_issued_from_one_code(workers: Any) -> None:
    first, second = await workers(), await workers()
    one = await issue(first.tokens, grant_id="code-1")
    two = await issue(first.tokens, grant_id="code-1", refresh=False)
    other = await issue(first.tokens, grant_id="code-2")
    for token in (one.access_token, two.access_token, other.access_token):
        assert await second.tokens.access(token) is not None
    await first.tokens.revoke_grant("code-1")
    await tokens_seen(second.db, second.watcher)
    assert await second.tokens.access(one.access_token) is None
    assert await second.tokens.access(two.access_token) is None
    assert await second.tokens.refresh(one.refresh_token or "") is None
    assert await second.tokens.access(other.access_token) is not None


async def test_a_client_cannot_revoke_another_clients_token(workers: Any) -> None:
    worker = await workers()
    issued = await issue(worker.tokens, client_id="client-a")
    assert await worker.tokens.revoke(issued.access_token, "client-b") is Revocation.OTHER_CLIENT
    assert await worker.tokens.revoke(issued.refresh_token or "", "client-b") is Revocation.OTHER_CLIENT
    assert await worker.tokens.access(issued.access_token) is not None
    assert await worker.tokens.refresh(issued.refresh_token or "") is not None


async def test_unknown_token_revocation_is_fine(workers: Any) -> None:
    worker = await workers()
    assert await worker.tokens.revoke("never-issued", "client-a") is Revocation.UNKNOWN


async def test_revoking_an_access_token_leaves_the_refresh_token(workers: Any) -> None:
    worker = await workers()
    issued = await issue(worker.tokens)
    await worker.tokens.revoke(issued.access_token, "client-a")
    assert await worker.tokens.refresh(issued.refresh_token or "") is not None
    # Revoking twice is still a success (RFC 7009 §2.2).
    assert await worker.tokens.revoke(issued.access_token, "client-a") is Revocation.REVOKED


async def test_revoking_a_refresh_token_revokes_its_grant(workers: Any) -> None:
    # RFC 7009 §2.1: "SHOULD also invalidate all access tokens based on the same authorization grant"
    worker = await workers()
    issued = await issue(worker.tokens)
    assert await worker.tokens.access(issued.access_token) is not None
    await worker.tokens.revoke(issued.refresh_token or "", "client-a")
    assert await worker.tokens.refresh(issued.refresh_token or "") is None
    assert await worker.tokens.access(issued.access_token) is None


async def test_refresh_tokens_are_bound_to_their_client_and_not_rotated(workers: Any) -> None:
    worker = await workers()
    issued = await issue(worker.tokens)
    first = await worker.tokens.refresh(issued.refresh_token or "")
    again = await worker.tokens.refresh(issued.refresh_token or "")  # a retry still works
    assert isinstance(first, RefreshToken) and first == again
    assert first.client_id == "client-a" and first.grant_id == "g1" and first.jkt == JKT
    assert await worker.tokens.refresh(issued.access_token) is None


async def test_refresh_expiry_is_honoured(workers: Any) -> None:
    worker = await workers()
    issued = await issue(worker.tokens, refresh_expires_at=utcnow() + timedelta(seconds=60))
    assert issued.refresh_expires_at is not None
    async with worker.db.write() as session:
        await session.execute(
            update(Token)
            .where(Token.digest == digest_of(issued.refresh_token or ""))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert await worker.tokens.refresh(issued.refresh_token or "") is None


async def test_without_a_healthy_watcher_the_cache_is_bypassed(workers: Any) -> None:
    first, second = await workers(), await workers()
    issued = await issue(first.tokens)
    assert await second.tokens.access(issued.access_token) is not None
    second.watcher.healthy = False
    # Revoke behind the watcher's back (no generation bump): only a database read can see it.
    async with first.db.write() as session:
        await session.execute(
            update(Token).where(Token.digest == digest_of(issued.access_token)).values(revoked_at=utcnow())
        )
    assert await second.tokens.access(issued.access_token) is None


async def test_revocations_are_events(workers: Any) -> None:
    worker = await workers()
    seen: list[Any] = []
    worker.tokens.events.subscribe("token.revoked", lambda _name, payload: seen.append(payload))
    issued = await issue(worker.tokens)
    await worker.tokens.revoke(issued.refresh_token or "", "client-a")
    await worker.tokens.revoke_grant("g1")  # nothing left: no event
    assert [(e.client_id, e.grant_id, e.count, e.reason) for e in seen] == [("client-a", "g1", 2, "client")]


async def test_revoke_consent_revokes_every_token_issued_under_it_in_every_worker(workers: Any) -> None:
    first, second = await workers(), await workers()
    seen: list[Any] = []
    first.tokens.events.subscribe("token.revoked", lambda _name, payload: seen.append(payload))
    one = await issue(first.tokens, grant_id="code-1", consent_id="aac-ended")
    two = await issue(first.tokens, grant_id="code-2", consent_id="aac-ended")
    other = await issue(first.tokens, grant_id="code-3", consent_id="aac-live")
    for token in (one.access_token, two.access_token, other.access_token):
        assert await second.tokens.access(token) is not None
    await first.tokens.revoke_consent("aac-ended")
    await tokens_seen(second.db, second.watcher)
    assert await second.tokens.access(one.access_token) is None
    assert await second.tokens.access(two.access_token) is None
    assert await second.tokens.refresh(two.refresh_token or "") is None
    assert await second.tokens.access(other.access_token) is not None
    assert [(e.grant_id, e.count, e.reason, e.consent_id) for e in seen] == [
        (None, 4, "consent", "aac-ended")
    ]


async def test_a_consent_that_ends_takes_its_tokens_with_it(make_settings: Any, database_url: str) -> None:
    """consent.revoked and consent.deleted (kaimen.apis.accounts) reach the authorization server."""
    from kaimen.apis.consent_lifecycle import ConsentChanged
    from kaimen.app import create_app
    from kaimen.events import CONSENT_DELETED, CONSENT_REVOKED
    from tests.support import lifespan

    app = create_app(make_settings(database_url=database_url))
    async with lifespan(app):
        authz, events = app.components.authz, app.components.events
        revoked = await issue(authz.tokens, consent_id="aac-revoked")
        deleted = await issue(authz.tokens, consent_id="aac-deleted")
        kept = await issue(authz.tokens, consent_id="aac-kept")
        events.emit(CONSENT_REVOKED, ConsentChanged("aac-revoked", "client-a", "cust-1", "Revoked"))
        events.emit(CONSENT_DELETED, ConsentChanged("aac-deleted", "client-a", None, "Authorised"))
        await asyncio.gather(*authz._revoking)
        assert await authz.tokens.access(revoked.access_token) is None
        assert await authz.tokens.access(deleted.access_token) is None
        assert await authz.tokens.access(kept.access_token) is not None
