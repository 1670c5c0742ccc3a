"""The dashboard session: a customer's visit to their consent dashboard, from login to logout.

It is not an OAuth interaction (kaimen.identity.interactions): nothing is authorised through it, and it
lives on its own cookie, path and table.

- The cookie holds 256 random bits; only their SHA-256 digest is stored. HttpOnly, SameSite=Strict (a
  page of another site can neither read it nor make the browser send it), Secure when the public base
  URL is https, Path=/dashboard.
- Steps: ``password`` -> ``second_factor`` -> ``signed_in``, each move a conditional UPDATE (``WHERE
  step = :current``), and each move to a new id and cookie (OWASP Session Management: "renew the
  session ID after any privilege level change"), so a cookie planted before login is worthless after.
- Timeouts: idle (every request of a signed-in customer moves ``idle_until`` on, never past
  ``expires_at``) and absolute. Logout deletes the row.
- CSRF: every POST carries the session's token in the hidden field ``csrf``, compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from starlette.requests import Request
from starlette.responses import Response

from kaimen.consent.models import DashboardSession
from kaimen.store.db import Database
from kaimen.store.types import utcnow

COOKIE = "kaimen_dashboard"
PATH = "/dashboard"
STEP_PASSWORD = "password"  # noqa: S105 (a step name, not a password)
STEP_SECOND_FACTOR = "second_factor"
STEP_SIGNED_IN = "signed_in"
# OWASP Session Management Cheat Sheet: 2-5 minutes idle for high-value applications; a bank's own.
IDLE_SECONDS = 300
ABSOLUTE_SECONDS = 3600
# Expired rows are swept on every PURGE_EVERY-th start, so the table stays the size of the live ones.
PURGE_EVERY = 100
_MAX_COOKIE = 100


@dataclass(frozen=True, slots=True)
class Session:
    id: str  # the digest of the cookie
    customer_id: str | None
    step: str
    csrf: str
    expires_at: datetime


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class DashboardSessions:
    def __init__(
        self,
        db: Database,
        public_base_url: str,
        *,
        idle_seconds: int = IDLE_SECONDS,
        absolute_seconds: int = ABSOLUTE_SECONDS,
    ) -> None:
        self.db = db
        self.secure = public_base_url.startswith("https://")
        self.idle = timedelta(seconds=idle_seconds)
        self.absolute = timedelta(seconds=absolute_seconds)
        self._starts = 0

    def set_cookie(self, response: Response, token: str) -> None:
        response.set_cookie(
            COOKIE,
            token,
            max_age=int(self.absolute.total_seconds()),
            path=PATH,
            secure=self.secure,
            httponly=True,
            samesite="strict",
        )

    def clear_cookie(self, response: Response) -> None:
        response.delete_cookie(COOKIE, path=PATH, secure=self.secure, httponly=True, samesite="strict")

    async def start(self) -> tuple[Session, str]:
        """A new session at the password step, and the cookie value to set (``set_cookie``)."""
        token = secrets.token_urlsafe(32)
        now = utcnow()
        row = DashboardSession(
            id=_digest(token),
            customer_id=None,
            step=STEP_PASSWORD,
            csrf=secrets.token_urlsafe(32),
            created_at=now,
            idle_until=now + self.idle,
            expires_at=now + self.absolute,
        )
        async with self.db.write() as session:
            session.add(row)
            self._starts += 1
            if self._starts % PURGE_EVERY == 0:
                await session.execute(delete(DashboardSession).where(DashboardSession.idle_until < now))
        return Session(row.id, None, row.step, row.csrf, row.expires_at), token

    async def load(self, request: Request) -> Session | None:
        """The live session the request's cookie names, or None (no cookie, unknown, idle too long,
        past its lifetime). A signed-in session's idle timeout starts again."""
        token = request.cookies.get(COOKIE)
        if not token or len(token) > _MAX_COOKIE:
            return None
        now = utcnow()
        async with self.db.read() as session:
            row = await session.get(DashboardSession, _digest(token))
        if row is None or row.idle_until <= now or row.expires_at <= now:
            return None
        if row.step == STEP_SIGNED_IN:
            async with self.db.write() as session:
                await session.execute(
                    update(DashboardSession)
                    .where(DashboardSession.id == row.id)
                    .values(idle_until=min(now + self.idle, row.expires_at))
                )
        return Session(row.id, row.customer_id, row.step, row.csrf, row.expires_at)

    @staticmethod
    def csrf_ok(session: Session, submitted: str) -> bool:
        return bool(submitted) and hmac.compare_digest(submitted.encode(), session.csrf.encode())

    async def advance(self, current: Session, to_step: str, response: Response, customer_id: str) -> bool:
        """Move ``current`` on to ``to_step`` under a new id (cookie set on ``response``) and a new CSRF
        token, only if no one else moved it first; the idle timeout starts again."""
        token = secrets.token_urlsafe(32)
        now = utcnow()
        async with self.db.write() as session:
            result = await session.execute(
                update(DashboardSession)
                .where(
                    DashboardSession.id == current.id,
                    DashboardSession.step == current.step,
                    DashboardSession.idle_until > now,
                    DashboardSession.expires_at > now,
                )
                .values(
                    id=_digest(token),
                    step=to_step,
                    customer_id=customer_id,
                    csrf=secrets.token_urlsafe(32),
                    idle_until=min(now + self.idle, current.expires_at),
                )
            )
        moved = bool(result.rowcount)  # type: ignore[attr-defined]
        if moved:
            self.set_cookie(response, token)
        return moved

    async def end(self, current: Session, response: Response) -> None:
        """Logout: the row is gone, so the cookie opens nothing even if a copy of it survives."""
        async with self.db.write() as session:
            await session.execute(delete(DashboardSession).where(DashboardSession.id == current.id))
        self.clear_cookie(response)

    async def expire_all(self, customer_id: str, at: datetime) -> None:
        """Every session of ``customer_id`` idles out at ``at`` (tests of the timeout; an operator's
        "log this customer out everywhere")."""
        async with self.db.write() as session:
            await session.execute(
                update(DashboardSession)
                .where(DashboardSession.customer_id == customer_id)
                .values(idle_until=at)
            )
