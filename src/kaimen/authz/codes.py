"""Authorization codes: 256 random bits, stored as their SHA-256, valid for at most
``settings.oauth.code_ttl_seconds`` (FAPI 2.0 §5.3.2.1: "no more than 60 seconds"), bound to the
client, the redirect URI, the PKCE challenge and the DPoP key of the pushed request, and consumed once
in every worker by an atomic ``UPDATE ... WHERE consumed_at IS NULL``.

A code presented again (RFC 6749 §4.1.2: "If an authorization code is used more than once, the
authorization server MUST deny the request and SHOULD revoke (when possible) all tokens previously
issued based on that authorization code") is marked ``reused_at``; the redemption that won the race
looks at that mark after issuing its tokens (:meth:`was_reused`), so the tokens are revoked whichever
of the two finishes first.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from kaimen.authz.tokens import new_grant_id
from kaimen.store.authz_models import AuthorizationCode
from kaimen.store.db import Database
from kaimen.store.direct import Statement, stored_json, stored_time
from kaimen.store.types import utcnow


def digest_of(code: str) -> str:
    return hashlib.sha256(code.encode("ascii", "replace")).hexdigest()


@dataclass(frozen=True)
class CodeGrant:
    digest: str
    grant_id: str
    client_id: str
    customer_id: str
    redirect_uri: str
    code_challenge: str
    dpop_jkt: str | None
    scope: str
    grant: dict[str, Any]  # nonce, acr, amr, auth_time, claims, intent_id, consent
    expires_at: datetime
    consumed_at: datetime | None

    @property
    def expired(self) -> bool:
        return self.expires_at <= utcnow()


class AuthorizationCodes:
    def __init__(self, db: Database, ttl_seconds: int) -> None:
        self.db = db
        self.ttl_seconds = ttl_seconds

    def add(
        self,
        session: AsyncSession,
        *,
        client_id: str,
        customer_id: str,
        redirect_uri: str,
        code_challenge: str,
        dpop_jkt: str | None,
        scope: str,
        grant: dict[str, Any],
    ) -> str:
        """Add a new code to ``session`` (the transaction that consumes the pushed request); answer it."""
        code = secrets.token_urlsafe(32)
        session.add(
            AuthorizationCode(
                digest=digest_of(code),
                grant_id=new_grant_id(),
                client_id=client_id,
                customer_id=customer_id,
                redirect_uri=redirect_uri,
                code_challenge=code_challenge,
                dpop_jkt=dpop_jkt,
                scope=scope,
                grant=grant,
                expires_at=utcnow() + timedelta(seconds=self.ttl_seconds),
            )
        )
        return code

    async def find(self, code: str) -> CodeGrant | None:
        if not 20 <= len(code) <= 100:
            return None
        rows = await self.db.direct.rows(_FIND, {"digest": digest_of(code)})
        if not rows:
            return None
        (
            digest,
            grant_id,
            client_id,
            customer_id,
            redirect_uri,
            challenge,
            jkt,
            scope,
            grant,
            expires,
            consumed,
        ) = rows[0]
        expires_at = stored_time(expires)
        if expires_at is None:
            return None  # a NOT NULL column: no such row can exist
        return CodeGrant(
            digest=digest,
            grant_id=grant_id,
            client_id=client_id,
            customer_id=customer_id,
            redirect_uri=redirect_uri,
            code_challenge=challenge,
            dpop_jkt=jkt,
            scope=scope,
            grant=dict(stored_json(grant)),
            expires_at=expires_at,
            consumed_at=stored_time(consumed),
        )

    async def consume(self, digest: str) -> bool:
        """Exactly one caller, in any worker, gets True for an unexpired code."""
        now = utcnow()
        counts = await self.db.direct.run([Statement(_CONSUME, {"digest": digest, "now": now})])
        return counts[0] == 1

    async def mark_reused(self, digest: str) -> None:
        await self.db.direct.run([Statement(_MARK_REUSED, {"digest": digest, "now": utcnow()})])

    async def was_reused(self, digest: str) -> bool:
        rows = await self.db.direct.rows(_REUSED, {"digest": digest})
        return not rows or rows[0][0] is not None


# Redemption runs these on every authorization_code token request: small direct statements
# (kaimen.store.direct) rather than ORM sessions. "grant" is quoted: it is an SQL keyword.
_FIND = (
    'SELECT digest, grant_id, client_id, customer_id, redirect_uri, code_challenge, dpop_jkt, scope, "grant",'
    " expires_at, consumed_at FROM authorization_codes WHERE digest = :digest"
)
_CONSUME = (
    "UPDATE authorization_codes SET consumed_at = :now"
    " WHERE digest = :digest AND consumed_at IS NULL AND expires_at > :now"
)
_MARK_REUSED = "UPDATE authorization_codes SET reused_at = :now WHERE digest = :digest"
_REUSED = "SELECT reused_at FROM authorization_codes WHERE digest = :digest"
