"""``kaimen db purge`` (kaimen.authz.retention), on SQLite and PostgreSQL: expired tokens, pushed
requests and codes go once they expired over the kept period; everything that can still change an
answer stays, a code included while a token of its grant is left."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from kaimen.authz.retention import purge_expired
from kaimen.cli.main import cli
from kaimen.store.authz_models import AuthorizationCode, AuthorizationRequest, Token
from kaimen.store.db import Database
from kaimen.store.types import utcnow

NOW = utcnow()
LONG_AGO = NOW - timedelta(days=3)
LATELY = NOW - timedelta(hours=2)
LATER = NOW + timedelta(hours=1)


def _token(digest: str, expires_at: datetime, *, grant_id: str = "g", revoked: bool = False) -> Token:
    return Token(
        digest=digest,
        kind="access",
        grant_id=grant_id,
        client_id="c",
        scope="accounts",
        jkt="j",
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
    purged = await purge_expired(db, batch=batch, now=NOW)
    assert purged.as_dict() == {"tokens": 3, "authorization_requests": 1, "authorization_codes": 1}
    assert await _left(db) == {
        "tokens": {"t-lately", "t-live", "t-live-revoked", "t-of-kept-grant"},
        "requests": {"r-lately", "r-live"},
        "codes": {"c-old-live-grant", "c-lately"},
    }
    again = await purge_expired(db, batch=batch, now=NOW)
    assert again.as_dict() == {"tokens": 0, "authorization_requests": 0, "authorization_codes": 0}


async def test_a_shorter_kept_period_takes_what_expired_lately_too(db: Database) -> None:
    await _seed(db)
    await purge_expired(db, keep=timedelta(hours=1), now=NOW)
    left = await _left(db)
    assert left["tokens"] == {"t-live", "t-live-revoked", "t-of-kept-grant"}
    assert left["requests"] == {"r-live"}
    assert left["codes"] == {"c-old-live-grant"}


async def test_bad_arguments_are_refused(db: Database) -> None:
    with pytest.raises(ValueError, match="keep"):
        await purge_expired(db, keep=timedelta(seconds=-1))
    with pytest.raises(ValueError, match="batch"):
        await purge_expired(db, batch=0)


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
    assert json.loads(result.stdout) == {"tokens": 3, "authorization_requests": 1, "authorization_codes": 1}
    result = run("--keep-hours", "1")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == (
        "deleted 1 tokens, 1 pushed authorization requests and 1 authorization codes"
        " that expired over 1 h ago"
    )
    refused = runner.invoke(cli, ["--database-url", database_url, "db", "purge", "--keep-hours", "-1"])
    assert refused.exit_code == 2
    assert "--keep-hours" in refused.output
