"""``kaimen db purge``: the authorization server's rows that can no longer change any answer.

Every token request adds a token row, every PAR call a pushed request, every approval a code, and none
of them was ever deleted: under a test suite's traffic a sandbox's tables (and its disk) grew without
end. A row goes once it expired more than ``keep`` ago (default a day):

- ``tokens``: access and refresh tokens, revoked or not. An unknown token gets the same answer as an
  expired one everywhere: ``invalid_token`` at the resource server and userinfo, ``active: false`` at
  introspection (RFC 7662 §2.2), 200 at revocation (RFC 7009 §2.2), ``invalid_grant`` for a refresh.
- ``authorization_requests`` (RFC 9126 request_uris): an expired one is refused like an unknown one.
- ``authorization_codes``: only once no token of their grant is left. RFC 6749 §4.1.2: "If an
  authorization code is used more than once, the authorization server MUST deny the request and
  SHOULD revoke (when possible) all tokens previously issued based on that authorization code"; the
  code row is what recognises a second use, so it stays while a refresh token it led to could live.

Run it from cron (or any scheduler) on one machine; running it twice at once, or beside serving
workers, is safe: each batch is one short transaction that deletes only rows it read as expired.
The tables are walked in primary-key order, a batch at a time, so a run reads each row once and never
holds the write lock for long (SQLite); no index on ``expires_at`` is needed, which would cost every
token request an index insert.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select

from kaimen.store.authz_models import AuthorizationCode, AuthorizationRequest, Token
from kaimen.store.db import Database
from kaimen.store.types import utcnow

DEFAULT_KEEP = timedelta(days=1)
DEFAULT_BATCH = 5000


@dataclass(frozen=True)
class Purged:
    tokens: int
    authorization_requests: int
    authorization_codes: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


async def purge_expired(
    db: Database, *, keep: timedelta = DEFAULT_KEEP, batch: int = DEFAULT_BATCH, now: datetime | None = None
) -> Purged:
    """Delete what expired before ``now - keep``; the counts deleted. Tokens go first, so the codes
    whose grants they ended can go in the same run."""
    if keep < timedelta(0):
        raise ValueError("keep must not be negative")
    if batch < 1:
        raise ValueError("batch must be at least 1")
    cutoff = (now or utcnow()) - keep
    tokens = await _purge(db, Token.digest, Token.expires_at, cutoff, batch)
    requests = await _purge(db, AuthorizationRequest.id, AuthorizationRequest.expires_at, cutoff, batch)
    codes = await _purge(
        db, AuthorizationCode.digest, AuthorizationCode.expires_at, cutoff, batch, _without_tokens
    )
    return Purged(tokens, requests, codes)


async def _without_tokens(session: Any, digests: list[str]) -> list[str]:
    """Of these expired codes, the ones no token of whose grant is left."""
    grants = dict(
        (
            await session.execute(
                select(AuthorizationCode.digest, AuthorizationCode.grant_id).where(
                    AuthorizationCode.digest.in_(digests)
                )
            )
        ).all()
    )
    alive = set(
        (
            await session.execute(
                select(Token.grant_id).where(Token.grant_id.in_(set(grants.values()))).distinct()
            )
        ).scalars()
    )
    return [digest for digest in digests if grants.get(digest) not in alive]


async def _purge(
    db: Database,
    key: Any,
    expires_at: Any,
    cutoff: datetime,
    batch: int,
    also: Callable[[Any, list[str]], Awaitable[list[str]]] | None = None,
) -> int:
    """Walk the table in ``key`` order, ``batch`` rows per transaction, deleting those that expired
    before ``cutoff`` (and that ``also`` keeps, when given)."""
    deleted = 0
    after: str | None = None
    while True:
        async with db.write() as session:
            query = select(key, expires_at).order_by(key).limit(batch)
            if after is not None:
                query = query.where(key > after)
            rows = (await session.execute(query)).all()
            if not rows:
                return deleted
            after = rows[-1][0]
            expired = [row[0] for row in rows if row[1] < cutoff]
            if expired and also is not None:
                expired = await also(session, expired)
            if expired:
                # The condition again: the statement itself says it deletes only expired rows.
                result = await session.execute(
                    delete(key.class_).where(key.in_(expired), expires_at < cutoff)
                )
                deleted += result.rowcount or 0  # type: ignore[attr-defined]
