"""The login session: one customer's way through login, SCA and consent for one authorization request.

- ``start`` (called by /oauth2/authorize once the pushed request is valid) creates the AuthSession and
  sets a random cookie: HttpOnly, SameSite=Lax, Secure when the public base URL is https, Path=/login.
  Only the cookie's SHA-256 digest is stored, so a copy of the database opens no session.
- Steps move forward with conditional UPDATEs (``WHERE step = :current``): of two concurrent posts only
  one moves the session on, and the consent answer is given once.
- The session id (and cookie) is replaced when the password is accepted (OWASP session management:
  renew the session id after authentication), so a cookie planted before login is worthless after it.
- Every POST carries the session's CSRF token in the hidden field ``csrf``, compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import delete, update
from starlette.requests import Request
from starlette.responses import Response

from kaimen.authz import endpoints
from kaimen.settings import Settings
from kaimen.store.db import Database
from kaimen.store.identity_models import AuthSession
from kaimen.store.types import utcnow

COOKIE = "kaimen_login"
STEP_LOGIN = "login"
STEP_SECOND_FACTOR = "second_factor"
STEP_CONSENT = "consent"
STEP_DONE = "done"
# Expired sessions are swept on every PURGE_EVERY-th start, so the table stays the size of the live ones.
PURGE_EVERY = 200
# UK OB: the acr of an authorization that passed strong customer authentication (two factors).
ACR_SCA = "urn:openbanking:psd2:sca"


class RequestSummary(Protocol):
    client_name: str
    scopes: list[str]
    intent_id: str | None
    claims: dict[str, Any]


class Flow(Protocol):
    """What the login pages need of the authorization flow (kaimen.authz.flow, issue 3 part I)."""

    async def describe(self, request_id: str, customer_id: str | None = None) -> Any: ...

    # None when the customer who just authenticated may go on to consent; else the URL of the error
    # redirect that has ended the authorization
    async def authenticated(self, *, request_id: str, customer_id: str, acr: str) -> str | None: ...

    async def finish(
        self,
        *,
        request_id: str,
        customer_id: str,
        amr: list[str],
        acr: str,
        auth_time: datetime,
        approved: bool,
        consent: dict[str, Any],
    ) -> str: ...


@dataclass(frozen=True, slots=True)
class LoginSession:
    id: str
    request_id: str
    customer_id: str | None
    step: str
    amr: list[str]
    auth_time: datetime | None
    csrf: str


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Interactions:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.ttl = timedelta(seconds=settings.oauth.login_session_ttl_seconds)
        self.secure = settings.public_base_url.startswith("https://")
        self.login_url = settings.public_base_url + endpoints.LOGIN
        self._starts = 0

    def set_cookie(self, response: Response, token: str) -> None:
        response.set_cookie(
            COOKIE,
            token,
            max_age=int(self.ttl.total_seconds()),
            path=endpoints.LOGIN,
            secure=self.secure,
            httponly=True,
            samesite="lax",
        )

    def clear_cookie(self, response: Response) -> None:
        response.delete_cookie(
            COOKIE, path=endpoints.LOGIN, secure=self.secure, httponly=True, samesite="lax"
        )

    async def start(self, request_id: str, response: Response) -> str:
        """A new login session for ``request_id``; sets its cookie on ``response`` and returns the
        URL of the login page (the caller answers 303 to it)."""
        token = secrets.token_urlsafe(32)
        now = utcnow()
        async with self.db.write() as session:
            session.add(
                AuthSession(
                    id=_digest(token),
                    request_id=request_id,
                    customer_id=None,
                    step=STEP_LOGIN,
                    amr=[],
                    auth_time=None,
                    csrf=secrets.token_urlsafe(32),
                    created_at=now,
                    expires_at=now + self.ttl,
                )
            )
            self._starts += 1
            if self._starts % PURGE_EVERY == 0:
                await session.execute(delete(AuthSession).where(AuthSession.expires_at < now))
        self.set_cookie(response, token)
        return self.login_url

    async def load(self, request: Request) -> LoginSession | None:
        """The live session the request's cookie names, or None (no cookie, unknown, expired, done)."""
        token = request.cookies.get(COOKIE)
        if not token or len(token) > 100:
            return None
        async with self.db.read() as session:
            row = await session.get(AuthSession, _digest(token))
        if row is None or row.expires_at <= utcnow() or row.step == STEP_DONE:
            return None
        return LoginSession(
            row.id, row.request_id, row.customer_id, row.step, list(row.amr), row.auth_time, row.csrf
        )

    @staticmethod
    def csrf_ok(login: LoginSession, submitted: str | None) -> bool:
        return submitted is not None and hmac.compare_digest(submitted.encode(), login.csrf.encode())

    async def advance(self, login: LoginSession, to_step: str, **values: Any) -> bool:
        """Move the session from its current step to ``to_step`` (setting ``values``), only if no one
        else moved it first."""
        async with self.db.write() as session:
            result = await session.execute(
                update(AuthSession)
                .where(
                    AuthSession.id == login.id,
                    AuthSession.step == login.step,
                    AuthSession.expires_at > utcnow(),
                )
                .values(step=to_step, **values)
            )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def advance_renewed(
        self, login: LoginSession, to_step: str, response: Response, **values: Any
    ) -> bool:
        """``advance`` under a new session id, whose cookie is set on ``response``."""
        token = secrets.token_urlsafe(32)
        moved = await self.advance(login, to_step, id=_digest(token), **values)
        if moved:
            self.set_cookie(response, token)
        return moved
