"""``kaimen db purge``: the authorization server's rows that can no longer change any answer.

Every token request adds a token row, every PAR call a pushed request, every approval a code, and none
of them was ever deleted: under a test suite's traffic a sandbox's tables (and its disk) grew without
end. A row goes once it expired more than ``keep`` ago (default a day):

- ``tokens``, revoked or not, but those of payment consents. An unknown token is answered as an
  expired one: ``invalid_token`` at the resource server and userinfo, ``active: false`` at
  introspection (RFC 7662 §2.2), ``invalid_grant`` for a refresh; at revocation, another client's
  long-expired token was refused and is now unknown, 200 (RFC 7009 §2.2: "invalid tokens do not
  cause an error response"). A payment consent's tokens stay with it, for good: they record when and
  how its customer authenticated, which ``kaimen payments trail`` shows (a handful per payment:
  payment tokens are never refreshed). Account-access and funds-confirmation consents' tokens go like
  any other: nothing reads them after they expire, and a consent refreshed every five minutes for 90
  days leaves some 26,000.
- ``authorization_requests`` (RFC 9126 request_uris): an expired one is refused like an unknown one,
  once the login that may still finish it (``login_session_ttl_seconds`` past its expiry) cannot.
- ``authorization_codes``: only once no token of their grant is left. RFC 6749 §4.1.2: "If an
  authorization code is used more than once, the authorization server MUST deny the request and
  SHOULD revoke (when possible) all tokens previously issued based on that authorization code"; the
  code row is what recognises a second use, so it stays while a token it led to is kept.

``keep`` is never shorter than :func:`minimum_keep`. Run it from cron (or any scheduler) on one
machine; running it twice at once, or beside serving workers, is safe: each batch is one short
transaction that deletes only rows it read as expired, and on PostgreSQL it takes their row locks with
``SKIP LOCKED``, so it never waits for a row a revocation holds (the two locking the same grant's rows
in different orders deadlocked); a row skipped goes on the next run. The tables are walked in
primary-key order, a batch at a time, so a run reads each row once and never holds SQLite's write
lock for long; no index on ``expires_at`` is needed, which would cost every token request an index
insert.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, exists, or_, select

from kaimen.settings import OAuthSettings
from kaimen.store.authz_models import AuthorizationCode, AuthorizationRequest, Token
from kaimen.store.db import Database
from kaimen.store.types import utcnow

DEFAULT_KEEP = timedelta(days=1)
DEFAULT_BATCH = 5000
# Consents whose tokens a trail reads (kaimen.apis.payments.trail): domestic payment consents, by the
# prefix of their ids (kaimen.apis.payments.consents.ID_PREFIX; a test holds the two equal).
TRAILED_CONSENT_PREFIXES = ("pdc-",)
# A code redeemed just before it expired has its tokens inserted a moment later; its row must outlast
# that by far (codes.was_reused reads a code without tokens as used before).
_CODE_MARGIN = timedelta(hours=1)


@dataclass(frozen=True)
class Purged:
    tokens: int
    authorization_requests: int
    authorization_codes: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def minimum_keep(oauth: OAuthSettings) -> timedelta:
    """The shortest ``keep`` that deletes nothing still in use: a pushed request is accepted until
    ``login_session_ttl_seconds`` past its expiry (kaimen.authz.flow), and a code must outlast the
    redemption that consumed it."""
    return max(timedelta(seconds=oauth.login_session_ttl_seconds), _CODE_MARGIN)


async def purge_expired(
    db: Database,
    oauth: OAuthSettings,
    *,
    keep: timedelta = DEFAULT_KEEP,
    batch: int = DEFAULT_BATCH,
    now: datetime | None = None,
) -> Purged:
    """Delete what expired before ``now - keep``; the counts deleted. Tokens go first, so the codes
    whose grants they ended can go in the same run. Raises ValueError for a ``keep`` shorter than
    :func:`minimum_keep`."""
    if keep < minimum_keep(oauth):
        raise ValueError(f"keep must be at least {minimum_keep(oauth)}")
    if batch < 1:
        raise ValueError("batch must be at least 1")
    cutoff = (now or utcnow()) - keep
    tokens = await _purge(db, Token.digest, Token.expires_at, cutoff, batch, _UNTRAILED)
    requests = await _purge(db, AuthorizationRequest.id, AuthorizationRequest.expires_at, cutoff, batch)
    codes = await _purge(
        db, AuthorizationCode.digest, AuthorizationCode.expires_at, cutoff, batch, _WITHOUT_TOKENS
    )
    return Purged(tokens, requests, codes)


# Tokens no trail reads: of no consent, or of one that is not a payment consent.
_UNTRAILED = or_(
    Token.consent_id.is_(None),
    and_(*(Token.consent_id.not_like(prefix + "%") for prefix in TRAILED_CONSENT_PREFIXES)),
)
# Codes no token of whose grant is left.
_WITHOUT_TOKENS = ~exists().where(Token.grant_id == AuthorizationCode.grant_id)


async def _purge(
    db: Database,
    key: Any,
    expires_at: Any,
    cutoff: datetime,
    batch: int,
    also: ColumnElement[bool] | None = None,
) -> int:
    """Walk the table in ``key`` order, ``batch`` rows per transaction, deleting those that expired
    before ``cutoff`` (and that meet ``also``, when given)."""
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
            if expired:
                # Locked here or skipped (a revocation holds it: it goes next run), so the delete
                # never waits for a row lock; the expiry again, as the statement's own guard.
                locked = select(key).where(key.in_(expired), expires_at < cutoff)
                if also is not None:
                    locked = locked.where(also)
                expired = list((await session.execute(locked.with_for_update(skip_locked=True))).scalars())
            if expired:
                result = await session.execute(delete(key.class_).where(key.in_(expired)))
                deleted += result.rowcount or 0  # type: ignore[attr-defined]
