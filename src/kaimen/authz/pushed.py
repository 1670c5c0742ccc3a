"""Pushed authorization requests at rest (RFC 9126): bound to the client that pushed them, short-lived,
and consumed once, in the same transaction that stores the authorization code.

The request_uri is ``urn:ietf:params:oauth:request_uri:`` plus 256 random bits (RFC 9126 §7.1: it
"MUST ... be hard to guess"); only its SHA-256 is stored, as the row id. That id is the request id the
pages (identity/) and the flow pass around: knowing it does not let anyone start an authorization.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from kaimen.authz.requests import PushedParams
from kaimen.store.authz_models import AuthorizationRequest
from kaimen.store.db import Database
from kaimen.store.types import utcnow

URN_PREFIX = "urn:ietf:params:oauth:request_uri:"


@dataclass(frozen=True)
class PushedRequest:
    id: str
    client_id: str
    params: PushedParams
    dpop_jkt: str | None
    expires_at: datetime
    consumed_at: datetime | None


def request_id_of(request_uri: str) -> str | None:
    """The row id of a request_uri, or None when it is not one of ours."""
    if not request_uri.startswith(URN_PREFIX):
        return None
    secret = request_uri[len(URN_PREFIX) :]
    if not 32 <= len(secret) <= 100:
        return None
    return hashlib.sha256(secret.encode("ascii", "replace")).hexdigest()


def _view(row: AuthorizationRequest) -> PushedRequest:
    return PushedRequest(
        id=row.id,
        client_id=row.client_id,
        params=PushedParams.from_json(row.params),
        dpop_jkt=row.dpop_jkt,
        expires_at=row.expires_at,
        consumed_at=row.consumed_at,
    )


class PushedRequests:
    def __init__(self, db: Database, ttl_seconds: int) -> None:
        self.db = db
        self.ttl_seconds = ttl_seconds

    async def push(self, client_id: str, params: PushedParams, dpop_jkt: str | None) -> str:
        """Store a validated request; answer its request_uri."""
        secret = secrets.token_urlsafe(32)
        request_uri = URN_PREFIX + secret
        async with self.db.write() as session:
            session.add(
                AuthorizationRequest(
                    id=hashlib.sha256(secret.encode("ascii")).hexdigest(),
                    client_id=client_id,
                    params=params.to_json(),
                    dpop_jkt=dpop_jkt,
                    expires_at=utcnow() + timedelta(seconds=self.ttl_seconds),
                )
            )
        return request_uri

    async def get(self, request_id: str) -> PushedRequest | None:
        async with self.db.read() as session:
            row = await session.get(AuthorizationRequest, request_id)
        return _view(row) if row is not None else None

    async def usable(self, request_uri: str, client_id: str) -> PushedRequest | None:
        """RFC 9126 §4: the request_uri must be ours, unexpired, unconsumed and pushed by ``client_id``
        ("the authorization server MUST ... check that the request_uri was issued to the client
        identified by the client_id")."""
        request_id = request_id_of(request_uri)
        if request_id is None:
            return None
        async with self.db.read() as session:
            row = (
                await session.execute(
                    select(AuthorizationRequest).where(
                        AuthorizationRequest.id == request_id,
                        AuthorizationRequest.client_id == client_id,
                        AuthorizationRequest.consumed_at.is_(None),
                        AuthorizationRequest.expires_at > utcnow(),
                    )
                )
            ).scalar_one_or_none()
        return _view(row) if row is not None else None

    @staticmethod
    async def consume(session: AsyncSession, request_id: str) -> bool:
        """Mark the request used, atomically: exactly one caller in any worker gets True (RFC 9126 §4:
        request_uri values are one-time use)."""
        result = await session.execute(
            update(AuthorizationRequest)
            .where(AuthorizationRequest.id == request_id, AuthorizationRequest.consumed_at.is_(None))
            .values(consumed_at=utcnow())
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]
