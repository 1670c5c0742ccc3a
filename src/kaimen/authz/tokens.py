"""Access and refresh tokens: issue, look up, revoke (issue 3 items 6-8).

Tokens are opaque: 256 random bits (RFC 6749 §10.10: "The probability of an attacker guessing
generated tokens ... MUST be less than or equal to 2^(-128)"), stored only as their SHA-256 digest, so
a copy of the database holds no usable token. Access tokens are always DPoP-bound (RFC 9449 §6: the
``jkt`` the proof's key hashes to). Refresh tokens are bound to the client they were issued to and
carry the key of the access token they came with; RFC 9449 §5 leaves a confidential client's refresh
token unbound to that key, so whether to enforce it is the token endpoint's choice.

Refresh tokens are not rotated. FAPI 2.0 §5.3.2.1 (item 10): the authorization server "shall not use
refresh token rotation unless, in the case a response with a new refresh token is not received and
stored by the client, retrying the request (with the previous refresh token) will succeed"; without
rotation a retry with the same refresh token always works.

``access()`` runs on every protected API call. A revoked token must stop working at once in every
worker. On SQLite its answers are cached in this process and the cache is dropped whenever the
``tokens`` generation moves (kaimen.store.watch): every revocation bumps it in the same transaction,
and every worker sees the bump on its next call (``PRAGMA data_version``). On PostgreSQL the bump
reaches other workers by NOTIFY, a few milliseconds after the revoking worker has answered, so a
cached "valid" could outlive the revocation (tests/test_multiprocess.py caught one call in ~150): there
a cached token is served only after one indexed read without the ORM confirms it is still unrevoked
(refusals, unknown or revoked digests, never become valid and are served from the cache). The same
read returns the token's client's application status and tier (``AccessToken.standing``), which the
resource gateway uses instead of its cached client, so a suspension, deletion or tier change made in
another worker counts on the very next call without another round trip. Expiry is
checked on every lookup, cached or not; while the watcher is unhealthy the cache is bypassed.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, NamedTuple

from sqlalchemy import insert, select, update

from kaimen.events import TOKEN_REVOKED
from kaimen.settings import Settings
from kaimen.store.authz_models import OAuthClient, Token
from kaimen.store.bounded import BoundedDict
from kaimen.store.db import Database
from kaimen.store.direct import Statement
from kaimen.store.models import Application
from kaimen.store.types import utcnow
from kaimen.store.watch import Watcher, bump

GENERATION = "tokens"
ACCESS = "access"
REFRESH = "refresh"
MAX_TOKEN_LENGTH = 512


@dataclass(frozen=True, slots=True)
class ClientStanding:
    """The token's client's application as the database holds it at this call: its review status
    and tier (both None when the client or its application no longer exists)."""

    status: str | None
    tier: str | None


@dataclass(frozen=True, slots=True)
class AccessToken:
    client_id: str
    customer_id: str | None
    scope: frozenset[str]
    jkt: str
    consent_id: str | None
    grant_id: str
    expires_at: datetime
    details: dict[str, Any] = field(default_factory=dict)
    issued_at: datetime | None = None
    # Read with the token on every call where per-process caches are not exact (PostgreSQL), so a
    # suspension or tier change made by another worker counts at once; None on SQLite, where the
    # client cache is exact (see the module docstring).
    standing: ClientStanding | None = None


@dataclass(frozen=True, slots=True)
class RefreshToken:
    client_id: str
    customer_id: str | None
    scope: frozenset[str]
    jkt: str | None
    consent_id: str | None
    grant_id: str
    expires_at: datetime
    details: dict[str, Any] = field(default_factory=dict)
    issued_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    access_token: str
    expires_in: int
    refresh_token: str | None = None
    refresh_expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class TokenRevoked:
    """Payload of ``token.revoked`` (audit): which grant (or consent) lost how many tokens, and why."""

    client_id: str | None
    grant_id: str | None  # None when a consent ended: its tokens may come from several grants
    count: int
    reason: str
    consent_id: str | None = None


class Revocation(StrEnum):
    REVOKED = "revoked"  # revoked now, or already revoked before
    UNKNOWN = "unknown"  # no such token (RFC 7009 §2.2: still answered 200)
    OTHER_CLIENT = "other_client"  # issued to another client: left alone


# The per-call liveness read on PostgreSQL: the token is unrevoked, and its client's application's
# status and tier as they are now; one round trip, primary-key lookups only.
_LIVE = (
    "SELECT tokens.digest, applications.status, applications.tier FROM tokens"
    " LEFT JOIN oauth_clients ON oauth_clients.client_id = tokens.client_id"
    " LEFT JOIN applications ON applications.id = oauth_clients.application_id"
    " WHERE tokens.digest = :digest AND tokens.revoked_at IS NULL"
)
_INSERT_ROW = (
    "INSERT INTO tokens (digest, kind, grant_id, client_id, customer_id, scope, jkt, consent_id, details,"
    " created_at, expires_at) VALUES (:digest, :kind, :grant_id, :client_id, :customer_id, :scope, :jkt,"
    " :consent_id, :details, :created_at, :expires_at)"
)


class LiveRead(NamedTuple):
    """The per-call liveness read of a cached access token (:meth:`TokenService.live_read`)."""

    token: AccessToken
    sql: str
    params: dict[str, Any]


def _standing(found: AccessToken, live: list[tuple[Any, ...]]) -> AccessToken | None:
    """``found`` with its client's standing from a ``_LIVE`` read; None when the read found no
    unrevoked row: revoked by another worker whose NOTIFY has not arrived yet."""
    return replace(found, standing=ClientStanding(*live[0][1:])) if live else None


def new_grant_id() -> str:
    """An authorization grant's id: time-ordered (the hex of the current time in nanoseconds, then 96
    random bits), so the tokens table's index on grant_id grows at its end instead of taking a
    random page per token. Not a secret: it names a grant in revocations and audit events."""
    return f"{time.time_ns():016x}{secrets.token_hex(12)}"


def digest_of(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _view(row: Token) -> AccessToken | RefreshToken:
    scope = frozenset(row.scope.split())
    details = dict(row.details or {})
    if row.kind == ACCESS and row.jkt:
        return AccessToken(
            row.client_id, row.customer_id, scope, row.jkt, row.consent_id, row.grant_id,
            row.expires_at, details, row.created_at,
        )  # fmt: skip
    return RefreshToken(
        row.client_id, row.customer_id, scope, row.jkt, row.consent_id, row.grant_id,
        row.expires_at, details, row.created_at,
    )  # fmt: skip


class TokenService:
    def __init__(
        self,
        db: Database,
        watcher: Watcher,
        settings: Settings,
        *,
        events: Any = None,
        max_cached: int = 100_000,
        max_refused: int = 10_000,
    ) -> None:
        self.db = db
        self.watcher = watcher
        self.access_ttl = settings.oauth.access_token_ttl_seconds
        self.refresh_ttl = settings.oauth.refresh_token_ttl_seconds
        self.events = events
        # Kept apart, so a flood of made-up tokens can neither grow memory nor push live ones out.
        self._valid = BoundedDict[AccessToken | None](max_cached)
        self._refused = BoundedDict[AccessToken | None](max_refused)
        self._epoch = 0  # moved on every drop: a read that raced a revocation is never cached
        # Whether every worker sees a revocation on its next call (see the module docstring).
        self._cache_exact = db.is_sqlite
        watcher.on_change(GENERATION, self.clear)

    def clear(self) -> None:
        self._epoch += 1
        self._valid.entries.clear()
        self._refused.entries.clear()

    async def issue(
        self,
        *,
        client_id: str,
        customer_id: str | None,
        scope: str,
        jkt: str,
        grant_id: str,
        consent_id: str | None,
        details: dict[str, Any],
        refresh: bool,
        refresh_expires_at: datetime | None = None,
    ) -> IssuedTokens:
        if not jkt:
            raise ValueError("access tokens are always DPoP-bound: jkt is required")
        now = utcnow()
        access_expires = now + timedelta(seconds=self.access_ttl)
        access_token = secrets.token_urlsafe(32)
        refresh_token = secrets.token_urlsafe(32) if refresh else None
        refresh_expires = refresh_expires_at or now + timedelta(seconds=self.refresh_ttl)
        common = {
            "grant_id": grant_id,
            "client_id": client_id,
            "customer_id": customer_id,
            "scope": scope,
            "jkt": jkt,
            "consent_id": consent_id,
            "details": details,
            "created_at": now,
        }
        rows = [{**common, "digest": digest_of(access_token), "kind": ACCESS, "expires_at": access_expires}]
        if refresh_token is not None:
            rows.append(
                {**common, "digest": digest_of(refresh_token), "kind": REFRESH, "expires_at": refresh_expires}
            )
        # One small direct transaction (kaimen.store.direct): this runs on every token request.
        await self.db.direct.run([Statement(_INSERT_ROW, row) for row in rows])
        return IssuedTokens(
            access_token=access_token,
            expires_in=self.access_ttl,
            refresh_token=refresh_token,
            refresh_expires_at=refresh_expires if refresh_token is not None else None,
        )

    async def issue_refreshed(
        self, refresh_token: str, *, client_id: str, scope: str, jkt: str
    ) -> IssuedTokens | None:
        """A new access token from ``refresh_token`` (RFC 6749 §6), or None when that token is not an
        unexpired, unrevoked refresh token of ``client_id``.

        The check and the insert are one transaction holding the refresh token's row
        (``SELECT ... FOR UPDATE``), and every revocation that takes the refresh token with it (its
        grant, its consent) locks that row before it revokes (:meth:`_revoke_where`). So a refresh
        either commits first, and the revocation's next statement sees and revokes its access token,
        or it waits for the revocation and finds the refresh token revoked: no access token minted
        after a revocation answered stays live (an audit saw 32 such in 300 races when the check and
        the insert were separate). SQLite's ``BEGIN IMMEDIATE`` serialises the two in any case."""
        if not jkt:
            raise ValueError("access tokens are always DPoP-bound: jkt is required")
        if not refresh_token or len(refresh_token) > MAX_TOKEN_LENGTH:
            return None
        now = utcnow()
        async with self.db.transaction() as conn:
            row = (await conn.execute(self._locked_refresh(digest_of(refresh_token)))).one_or_none()
            if row is None or row.kind != REFRESH or row.client_id != client_id or row.expires_at <= now:
                return None
            access_token = secrets.token_urlsafe(32)
            await conn.execute(
                insert(Token).values(
                    digest=digest_of(access_token),
                    kind=ACCESS,
                    grant_id=row.grant_id,
                    client_id=client_id,
                    customer_id=row.customer_id,
                    scope=scope,
                    jkt=jkt,
                    consent_id=row.consent_id,
                    details=row.details or {},
                    created_at=now,
                    expires_at=now + timedelta(seconds=self.access_ttl),
                )
            )
        return IssuedTokens(access_token=access_token, expires_in=self.access_ttl)

    @staticmethod
    def _locked_refresh(digest: str) -> Any:
        """The unrevoked token row ``digest``, locked until the transaction ends (no-op on SQLite)."""
        return (
            select(
                Token.kind, Token.client_id, Token.customer_id, Token.grant_id, Token.consent_id,
                Token.details, Token.expires_at,
            )
            .where(Token.digest == digest, Token.revoked_at.is_(None))
            .with_for_update()
        )  # fmt: skip

    async def access(self, token: str) -> AccessToken | None:
        """The access token ``token`` names, when it is neither expired nor revoked."""
        live = self.live_read(token)
        if live is not None:  # held here, where the cache is not exact: confirmed in the database
            return self.confirmed(live, await self.read_live(live))
        if not token or len(token) > MAX_TOKEN_LENGTH:
            return None
        digest = digest_of(token)
        watcher = self.watcher
        watcher.poll()
        if watcher.healthy:
            entries = self._valid.entries
            if digest in entries:
                found = entries[digest]
            elif digest in self._refused.entries:
                found = None
            else:
                epoch = self._epoch
                found = await self._read_access(digest)
                if epoch == self._epoch and watcher.healthy:
                    (self._valid if found is not None else self._refused).put(digest, found)
        else:
            found = await self._read_access(digest)
        if found is None or found.expires_at <= utcnow():
            return None
        return found

    def live_read(self, token: str) -> LiveRead | None:
        """Where :meth:`access` would answer ``token`` from this worker's cache after reading only its
        liveness and standing (PostgreSQL), that read, for a caller that sends it in one round trip
        with other work (kaimen.gateway.dpop_auth: with the DPoP proof's one-time use); then
        :meth:`confirmed` makes of its rows what :meth:`access` would. None otherwise: call
        :meth:`access`."""
        if self._cache_exact or not token or len(token) > MAX_TOKEN_LENGTH:
            return None
        self.watcher.poll()
        if not self.watcher.healthy:
            return None
        digest = digest_of(token)
        found = self._valid.entries.get(digest)
        return None if found is None else LiveRead(found, _LIVE, {"digest": digest})

    async def read_live(self, live: LiveRead) -> list[tuple[Any, ...]]:
        """The read of ``live`` on its own."""
        return await self.db.direct.rows(live.sql, live.params)

    @staticmethod
    def confirmed(live: LiveRead, rows: list[tuple[Any, ...]]) -> AccessToken | None:
        """The token of ``live`` as :meth:`access` answers it, given the rows its read brought back."""
        found = _standing(live.token, rows)
        if found is None or found.expires_at <= utcnow():
            return None
        return found

    async def _read_access(self, digest: str) -> AccessToken | None:
        """The live access token ``digest``; where caches are not exact, with its client's standing,
        read in the same query (a cached copy's standing is replaced on every hit, see :meth:`access`)."""
        if self._cache_exact:
            view = await self._read(digest)
            return view if isinstance(view, AccessToken) else None
        query = (
            select(Token, Application.status, Application.tier)
            .outerjoin(OAuthClient, OAuthClient.client_id == Token.client_id)
            .outerjoin(Application, Application.id == OAuthClient.application_id)
            .where(Token.digest == digest, Token.revoked_at.is_(None))
        )
        async with self.db.read() as session:
            row = (await session.execute(query)).first()
        if row is None or not isinstance(view := _view(row[0]), AccessToken):
            return None
        return replace(view, standing=ClientStanding(row[1], row[2]))

    async def _read(self, digest: str) -> AccessToken | RefreshToken | None:
        """The live (unrevoked) token with ``digest``, expired or not."""
        async with self.db.read() as session:
            row = (
                await session.execute(select(Token).where(Token.digest == digest, Token.revoked_at.is_(None)))
            ).scalar_one_or_none()
        return None if row is None else _view(row)

    async def refresh(self, token: str) -> RefreshToken | None:
        """The refresh token ``token`` names, when it is neither expired nor revoked (not cached)."""
        found = await self.find(token)
        return found if isinstance(found, RefreshToken) else None

    async def find(self, token: str) -> AccessToken | RefreshToken | None:
        """Either kind of token, when it is neither expired nor revoked, read from the database (for
        introspection: exact, never from a cache)."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            return None
        found = await self._read(digest_of(token))
        if found is None or found.expires_at <= utcnow():
            return None
        return found

    async def revoke(self, token: str, client_id: str) -> Revocation:
        """RFC 7009 §2.1: revoke ``token`` if it was issued to ``client_id``. A refresh token takes its
        whole grant with it ("the authorization server SHOULD also invalidate all access tokens based
        on the same authorization grant"); an access token goes alone."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            return Revocation.UNKNOWN
        async with self.db.write() as session:
            row = (
                await session.execute(select(Token).where(Token.digest == digest_of(token)))
            ).scalar_one_or_none()
            if row is None:
                return Revocation.UNKNOWN
            if row.client_id != client_id:
                return Revocation.OTHER_CLIENT
            if row.kind == REFRESH:
                count = await self._revoke_where(session, Token.grant_id == row.grant_id, lock_refresh=True)
            else:
                count = await self._revoke_where(session, Token.digest == row.digest)
        self._revoked_here(count)
        self._emit(client_id, row.grant_id, count, "client")
        return Revocation.REVOKED

    async def revoke_grant(self, grant_id: str) -> None:
        """Revoke every token issued from one grant. RFC 6749 §4.1.2: "If an authorization code is
        used more than once, the authorization server MUST deny the request and SHOULD revoke (when
        possible) all tokens previously issued based on that authorization code."""
        async with self.db.write() as session:
            count = await self._revoke_where(session, Token.grant_id == grant_id, lock_refresh=True)
        self._revoked_here(count)
        self._emit(None, grant_id, count, "grant")

    async def revoke_consent(self, consent_id: str) -> None:
        """Revoke every token issued under a UK OB consent that has ended (revoked by the customer,
        deleted by the TPP): refresh tokens must not outlive it (issue 4; UK OB v3.1.11 Account and
        Transaction API profile, "Consent Revocation")."""
        async with self.db.write() as session:
            count = await self._revoke_where(session, Token.consent_id == consent_id, lock_refresh=True)
        self._revoked_here(count)
        self._emit(None, None, count, "consent", consent_id)

    async def _revoke_where(self, session: Any, where: Any, *, lock_refresh: bool = False) -> int:
        """Revoke the unrevoked tokens ``where`` selects. ``lock_refresh``: first lock the refresh
        tokens among them (in digest order, so two revocations never deadlock), then revoke in a
        statement of its own: under READ COMMITTED that statement's snapshot is taken after the locks
        are held, so it also sees an access token that a refresh holding one of them had just
        committed (:meth:`issue_refreshed`); one UPDATE alone would wait for the row and then miss
        the new token, which its snapshot predates. SQLite ignores the lock: its writers are serial."""
        if lock_refresh:
            await session.execute(
                select(Token.digest)
                .where(where, Token.kind == REFRESH, Token.revoked_at.is_(None))
                .order_by(Token.digest)
                .with_for_update()
            )
        result = await session.execute(
            update(Token).where(where, Token.revoked_at.is_(None)).values(revoked_at=utcnow())
        )
        count = int(result.rowcount)
        if count:
            # Same transaction as the revocation: every worker drops its cache when this commits.
            await bump(session, GENERATION)
        return count

    def _revoked_here(self, count: int) -> None:
        """This worker drops its cache as soon as the revocation commits; the others when the bumped
        generation reaches them (at once on SQLite; by NOTIFY, milliseconds later, on PostgreSQL)."""
        if count:
            self.clear()

    def _emit(
        self,
        client_id: str | None,
        grant_id: str | None,
        count: int,
        reason: str,
        consent_id: str | None = None,
    ) -> None:
        if count and self.events is not None:
            self.events.emit(TOKEN_REVOKED, TokenRevoked(client_id, grant_id, count, reason, consent_id))
