"""``kaimen db purge`` (kaimen.authz.retention), on SQLite and PostgreSQL: expired tokens of no
consent, pushed requests and codes go once they expired over the kept period; everything that can
still change an answer stays: a consent's tokens (the payment trail shows its SCA from them), a code
while a token of its grant is left, a pushed request while its login may still finish."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from kaimen.apis.payments.consents import ID_PREFIX as PAYMENT_CONSENT_PREFIX
from kaimen.authz.retention import TRAILED_CONSENT_PREFIXES, purge_expired
from kaimen.cli.main import cli
from kaimen.settings import OAuthSettings
from kaimen.store.authz_models import AuthorizationCode, AuthorizationRequest, Token
from kaimen.store.db import Database
from kaimen.store.types import utcnow

NOW = utcnow()
LONG_AGO = NOW - timedelta(days=3)
LATELY = NOW - timedelta(hours=2)
LATER = NOW + timedelta(hours=1)
OAUTH = OAuthSettings()


def _token(
    digest: str,
    expires_at: datetime,
    *,
    grant_id: str = "g",
    revoked: bool = False,
    consent_id: str | None = None,
) -> Token:
    return Token(
        digest=digest,
        kind="access",
        grant_id=grant_id,
        client_id="c",
        scope="accounts",
        jkt="j",
        consent_id=consent_id,
        details={},
        created_at=expires_at - timedelta(minutes=5),
        expires_at=expires_at,
        revoked_at=NOW if revoked else None,
    )


def _request(request_id: str, expires_at: datetime) -> AuthorizationRequest:
    return AuthorizationRequest(id=request_id, client_id="c", params={}, expires_at=expires_at)


def _code(digest: str, grant_id: str, expires_at: datetime) -> AuthorizationCode:
    return AuthorizationCode(
        digest=digest,
        grant_id=grant_id,
        client_id="c",
        customer_id="cust",
        redirect_uri="https://tpp.example/cb",
        code_challenge="x" * 43,
        scope="openid accounts",
        grant={},
        expires_at=expires_at,
    )


async def _seed(db: Database) -> None:
    async with db.write() as session:
        session.add_all(
            [
                _token("t-old", LONG_AGO),
                _token("t-old-revoked", LONG_AGO, revoked=True),
                _token("t-lately", LATELY),  # expired, but within the kept day
                _token("t-live", LATER),
                _token("t-live-revoked", LATER, revoked=True),
                _token("t-of-kept-grant", LATER, grant_id="kept-grant"),
                _request("r-old", LONG_AGO),
                _request("r-lately", LATELY),
                _request("r-live", LATER),
                _code("c-old", "ended-grant", LONG_AGO),  # its grant's only token expired long ago
                _code("c-old-live-grant", "kept-grant", LONG_AGO),  # a token of its grant lives
                _code("c-lately", "other", LATELY),
                _token("t-of-ended-grant", LONG_AGO, grant_id="ended-grant"),
                # A payment consent's tokens stay whatever their age (its trail reads them), and so
                # does its grant's code; an account-access consent's go like any other.
                _token("t-old-of-payment", LONG_AGO, grant_id="payment-grant", consent_id="pdc-1"),
                _code("c-old-of-payment", "payment-grant", LONG_AGO),
                _token("t-old-of-access", LONG_AGO, grant_id="access-grant", consent_id="aac-1"),
                _code("c-old-of-access", "access-grant", LONG_AGO),
            ]
        )


async def _left(db: Database) -> dict[str, set[str]]:
    async with db.read() as session:
        return {
            "tokens": set((await session.execute(select(Token.digest))).scalars()),
            "requests": set((await session.execute(select(AuthorizationRequest.id))).scalars()),
            "codes": set((await session.execute(select(AuthorizationCode.digest))).scalars()),
        }


@pytest.mark.parametrize("batch", [1, 2, 5000])  # batches smaller than the tables walk them in pages
async def test_purge_deletes_only_what_expired_over_the_kept_period(db: Database, batch: int) -> None:
    await _seed(db)
    purged = await purge_expired(db, OAUTH, batch=batch, now=NOW)
    assert purged.as_dict() == {"tokens": 4, "authorization_requests": 1, "authorization_codes": 2}
    assert await _left(db) == {
        "tokens": {"t-lately", "t-live", "t-live-revoked", "t-of-kept-grant", "t-old-of-payment"},
        "requests": {"r-lately", "r-live"},
        "codes": {"c-old-live-grant", "c-lately", "c-old-of-payment"},
    }
    again = await purge_expired(db, OAUTH, batch=batch, now=NOW)
    assert again.as_dict() == {"tokens": 0, "authorization_requests": 0, "authorization_codes": 0}


async def test_a_shorter_kept_period_takes_what_expired_lately_too(db: Database) -> None:
    await _seed(db)
    await purge_expired(db, OAUTH, keep=timedelta(hours=1), now=NOW)
    left = await _left(db)
    assert left["tokens"] == {"t-live", "t-live-revoked", "t-of-kept-grant", "t-old-of-payment"}
    assert left["requests"] == {"r-live"}
    assert left["codes"] == {"c-old-live-grant", "c-old-of-payment"}


async def test_a_kept_period_shorter_than_what_is_still_in_use_is_refused(db: Database) -> None:
    """A pushed request is accepted until login_session_ttl_seconds past its expiry (a login under way
    finishes with it), and a code must outlast the redemption that consumed it: a shorter period
    would break a customer's login, or take a single redemption for a second one."""
    await _seed(db)
    with pytest.raises(ValueError, match="keep must be at least 1:00:00"):
        await purge_expired(db, OAUTH, keep=timedelta(minutes=59))
    long_logins = OAuthSettings(login_session_ttl_seconds=3 * 3600)
    with pytest.raises(ValueError, match="keep must be at least 3:00:00"):
        await purge_expired(db, long_logins, keep=timedelta(hours=2))
    with pytest.raises(ValueError, match="batch"):
        await purge_expired(db, OAUTH, batch=0)
    assert len((await _left(db))["tokens"]) == 9  # nothing deleted


async def test_a_row_a_revocation_holds_is_skipped_not_waited_for(db: Database, database_url: str) -> None:
    """PostgreSQL: a revocation locks a grant's rows in its own order; a purge that waited for one of
    them while holding another deadlocked. The purge skips a locked row (it goes next run)."""
    if database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL only: SQLite has no row locks (its write lock serialises the purge)")
    await _seed(db)
    async with db.write() as holder:
        await holder.execute(select(Token).where(Token.digest == "t-old").with_for_update())
        purged = await asyncio.wait_for(purge_expired(db, OAUTH, now=NOW), 10)
        assert purged.tokens == 3  # t-old-revoked, t-of-ended-grant, t-old-of-access; t-old was locked
    assert "t-old" in (await _left(db))["tokens"]
    assert (await purge_expired(db, OAUTH, now=NOW)).tokens == 1
    assert "t-old" not in (await _left(db))["tokens"]


def test_the_command_purges_and_reports(database_url: str) -> None:
    async def seed() -> None:
        db = Database(database_url)
        try:
            await _seed(db)
        finally:
            await db.dispose()

    asyncio.run(seed())
    runner = CliRunner()

    def run(*args: str) -> Any:
        return runner.invoke(
            cli, ["--database-url", database_url, "db", "purge", *args], catch_exceptions=False
        )

    result = run("--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"tokens": 4, "authorization_requests": 1, "authorization_codes": 2}
    result = run("--keep-hours", "1")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == (
        "deleted 1 tokens, 1 pushed authorization requests and 1 authorization codes"
        " that expired over 1 h ago"
    )
    for hours in ("0", "-1", "100000000"):  # out of range: a usage error, never a traceback
        refused = runner.invoke(cli, ["--database-url", database_url, "db", "purge", "--keep-hours", hours])
        assert refused.exit_code == 2, refused.output
        assert "--keep-hours" in refused.output


def test_the_command_keeps_what_a_long_login_session_still_needs(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KAIMEN_OAUTH__LOGIN_SESSION_TTL_SECONDS", str(3 * 3600))
    result = CliRunner().invoke(
        cli, ["--database-url", database_url, "db", "purge", "--keep-hours", "2"], catch_exceptions=False
    )
    assert result.exit_code == 2
    assert "must cover at least 3:00:00" in result.output


def test_the_trailed_consents_are_the_payment_consents() -> None:
    assert TRAILED_CONSENT_PREFIXES == (PAYMENT_CONSENT_PREFIX,)
