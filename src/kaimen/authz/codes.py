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

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from kaimen.authz.tokens import new_grant_id
from kaimen.store.authz_models import AuthorizationCode
from kaimen.store.db import Database
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
        async with self.db.read() as session:
            row = await session.get(AuthorizationCode, digest_of(code))
        if row is None:
            return None
        return CodeGrant(
            digest=row.digest,
            grant_id=row.grant_id,
            client_id=row.client_id,
            customer_id=row.customer_id,
            redirect_uri=row.redirect_uri,
            code_challenge=row.code_challenge,
            dpop_jkt=row.dpop_jkt,
            scope=row.scope,
            grant=dict(row.grant),
            expires_at=row.expires_at,
            consumed_at=row.consumed_at,
        )

    async def consume(self, digest: str) -> bool:
        """Exactly one caller, in any worker, gets True for an unexpired code."""
        now = utcnow()
        async with self.db.write() as session:
            result = await session.execute(
                update(AuthorizationCode)
                .where(
                    AuthorizationCode.digest == digest,
                    AuthorizationCode.consumed_at.is_(None),
                    AuthorizationCode.expires_at > now,
                )
                .values(consumed_at=now)
            )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def mark_reused(self, digest: str) -> None:
        async with self.db.write() as session:
            await session.execute(
                update(AuthorizationCode).where(AuthorizationCode.digest == digest).values(reused_at=utcnow())
            )

    async def was_reused(self, digest: str) -> bool:
        async with self.db.read() as session:
            row = await session.get(AuthorizationCode, digest)
        return row is None or row.reused_at is not None
