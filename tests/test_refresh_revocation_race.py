"""A refresh never mints an access token that outlives a revocation of its grant or consent that has
already answered (RFC 7009 §2.1: revoking a refresh token "SHOULD also invalidate all access tokens
based on the same authorization grant"; UK OB "Consent Revocation"). An audit found, on PostgreSQL, a
refresh that checked its refresh token, then a revocation that committed, then the refresh's insert:
a live access token minted after the revocation returned (32 races in 300).

Two services on one database stand for two workers (tests/test_revocation_window.py). The
interleavings are forced, not hoped for: the revocation runs between the refresh's check and its
insert.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from types import SimpleNamespace
from typing import Any

import pytest

from kaimen.authz.errors import InvalidGrant
from kaimen.authz.grants import RefreshTokenGrant
from kaimen.authz.tokens import IssuedTokens, TokenService
from kaimen.events import EventBus
from kaimen.settings import Settings
from kaimen.store.db import Database
from tests.test_revocation_window import NotYetNotified

JKT = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
REVOCATIONS: dict[str, Callable[[TokenService, IssuedTokens], Awaitable[object]]] = {
    "grant": lambda tokens, _: tokens.revoke_grant("grant-1"),
    "consent": lambda tokens, _: tokens.revoke_consent("consent-1"),
    "refresh token": lambda tokens, issued: tokens.revoke(issued.refresh_token or "", "client-a"),
}


@pytest.fixture
async def services(
    make_settings: Callable[..., Settings], database_url: str
) -> AsyncIterator[tuple[TokenService, TokenService]]:
    settings = make_settings(database_url=database_url)
    refreshing_db, revoking_db = Database(settings.sqlalchemy_url), Database(settings.sqlalchemy_url)
    try:
        yield (
            TokenService(refreshing_db, NotYetNotified(), settings),
            TokenService(revoking_db, NotYetNotified(), settings),
        )
    finally:
        await refreshing_db.dispose()
        await revoking_db.dispose()


async def _issue(tokens: TokenService) -> IssuedTokens:
    return await tokens.issue(
        client_id="client-a",
        customer_id="cust-1",
        scope="openid accounts",
        jkt=JKT,
        grant_id="grant-1",
        consent_id="consent-1",
        details={"intent_id": "consent-1"},
        refresh=True,
    )


class _RevokedAfterTheCheck:
    """The refreshing worker's tokens, where the other worker's revocation runs to completion right
    after the refresh token was read and found valid."""

    def __init__(self, tokens: TokenService, revocation: Callable[[], Awaitable[object]]) -> None:
        self._tokens = tokens
        self._revocation = revocation

    async def refresh(self, token: str) -> Any:
        found = await self._tokens.refresh(token)
        await self._revocation()
        return found

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tokens, name)


@pytest.mark.parametrize("revoked", list(REVOCATIONS))
async def test_a_refresh_checked_before_a_revocation_mints_nothing_after_it(
    services: tuple[TokenService, TokenService], revoked: str
) -> None:
    refreshing, revoking = services
    issued = await _issue(refreshing)
    grant = RefreshTokenGrant(
        tokens=_RevokedAfterTheCheck(refreshing, lambda: REVOCATIONS[revoked](revoking, issued)),  # type: ignore[arg-type]
        events=EventBus(),
    )
    client = SimpleNamespace(client_id="client-a")
    with pytest.raises(InvalidGrant, match="the refresh token is invalid"):
        await grant({"grant_type": "refresh_token", "refresh_token": issued.refresh_token or ""}, client, JKT)  # type: ignore[arg-type]
    assert (
        await refreshing.issue_refreshed(
            issued.refresh_token or "", client_id="client-a", scope="openid accounts", jkt=JKT
        )
        is None
    )


@pytest.mark.parametrize("revoked", list(REVOCATIONS))
async def test_a_revocation_while_a_refresh_inserts_takes_the_new_token_too(
    services: tuple[TokenService, TokenService], revoked: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    refreshing, revoking = services
    issued = await _issue(refreshing)
    revocations: list[asyncio.Task[object]] = []
    transaction = refreshing.db.transaction

    class CheckedThenRevoking:
        """After the refresh's check (its first statement) the revocation starts and is given time to
        commit, or to wait for the refresh's lock, before the insert."""

        def __init__(self, conn: Any) -> None:
            self._conn = conn

        async def execute(self, *args: Any, **kwargs: Any) -> Any:
            result = await self._conn.execute(*args, **kwargs)
            if not revocations:
                revocations.append(asyncio.ensure_future(REVOCATIONS[revoked](revoking, issued)))
                await asyncio.sleep(0.3)
            return result

    @asynccontextmanager
    async def hooked() -> AsyncIterator[Any]:
        async with transaction() as conn:
            yield CheckedThenRevoking(conn)

    monkeypatch.setattr(refreshing.db, "transaction", hooked)
    minted = await refreshing.issue_refreshed(
        issued.refresh_token or "", client_id="client-a", scope="openid accounts", jkt=JKT
    )
    await revocations[0]
    assert minted is not None  # the refresh held the token first: it may answer...
    assert await revoking.find(minted.access_token) is None  # ...but its token died with the grant
    assert await refreshing.access(minted.access_token) is None
