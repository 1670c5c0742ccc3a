"""The dashboard's endpoints, under ``/dashboard``.

    GET  /dashboard/login       the login form (starts a session)
    POST /dashboard/login       username + password          -> 303 /dashboard/login/otp
    GET  /dashboard/login/otp   the one-time-code form
    POST /dashboard/login/otp   otp                          -> 303 /dashboard
    GET  /dashboard             every TPP holding access
    POST /dashboard/revoke      kind + consent_id            -> 303 /dashboard
    POST /dashboard/logout                                   -> 303 /dashboard/login

Login reuses the customers' password, one-time code (each time step once), per-customer lockout and
per-IP throttle (kaimen.identity.customers), so the dashboard is no softer a target than the OAuth
login. Statuses of a page shown again, as on the login pages: 400 a field missing or malformed, 401
wrong credentials or no live session, 403 a CSRF token missing or wrong, 404 a consent that is not
there to revoke (unknown, another customer's or already ended: the same answer for all three), 429
locked or throttled (with ``Retry-After``). A GET without a live session of the right step answers
303 to where the customer stands. Every successful POST answers 303. Passwords and codes are never
logged, put in a URL or shown.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from kaimen.consent import pages
from kaimen.consent.holdings import ConsentKind, Holdings
from kaimen.consent.sessions import (
    STEP_PASSWORD,
    STEP_SECOND_FACTOR,
    STEP_SIGNED_IN,
    DashboardSessions,
    Session,
)
from kaimen.errors.render import Family
from kaimen.events import LOGIN_FAILED, SCA_FAILED
from kaimen.gateway.apis import Api
from kaimen.identity.customers import Customers, LoginRefused
from kaimen.identity.i18n import Locale, negotiate, text
from kaimen.identity.pages.base import Page, page_response
from kaimen.identity.routes import LoginFailure, refusal_answer
from kaimen.identity.visit import FormError, read_form, see_other
from kaimen.ledger.core import CoreBanking
from kaimen.settings import Settings
from kaimen.store.db import Database

log = logging.getLogger("kaimen.consent.dashboard")

# The request id of a dashboard login in login.failed / sca.failed (it belongs to no OAuth request).
REQUEST_ID = "dashboard"
_PAGE_OF_STEP = {STEP_PASSWORD: pages.LOGIN, STEP_SECOND_FACTOR: pages.OTP, STEP_SIGNED_IN: pages.HOME}


class TokenRevoker(Protocol):
    async def revoke_consent(self, consent_id: str) -> None: ...


class Events(Protocol):
    def emit(self, name: str, payload: Any) -> None: ...


class Visit:
    """One request: its locale, live session (or None), form and client address."""

    def __init__(self, request: Request, session: Session | None) -> None:
        self.request = request
        self.session = session
        self.locale: Locale = negotiate(request.headers.get("accept-language"))
        self.form: dict[str, list[str]] = {}

    def one(self, name: str) -> str:
        values = self.form.get(name, [])
        return values[0] if values else ""

    @property
    def client_ip(self) -> str:
        call = self.request.scope.get("kaimen")
        if call is not None:
            return str(call.client_ip)
        return self.request.client.host if self.request.client else "unknown"


Handler = Callable[[Visit, Session], Awaitable[Response]]


class Dashboard:
    def __init__(
        self,
        *,
        sessions: DashboardSessions,
        customers: Customers,
        holdings: Holdings,
        tokens: TokenRevoker,
        events: Events,
    ) -> None:
        self.sessions = sessions
        self.customers = customers
        self.holdings = holdings
        self.tokens = tokens
        self.events = events

    # --- the steps every endpoint shares ------------------------------------------------------------

    def endpoint(
        self, step: str, handler: Handler, *, post: bool
    ) -> Callable[[Request], Awaitable[Response]]:
        """Locale, session, step, form and CSRF token around ``handler``; errors as pages."""

        async def run(request: Request) -> Response:
            visit = Visit(request, None)
            try:
                visit.session = session = await self.sessions.load(request)
                if session is None or session.step != step:
                    if post:
                        return await self.fresh_login(visit, "dashboard.error.session", 401)
                    return see_other(_PAGE_OF_STEP[session.step] if session else pages.LOGIN)
                if post:
                    visit.form = await read_form(request)
                    if not self.sessions.csrf_ok(session, visit.one("csrf")):
                        return await self.again(visit, session, text(visit.locale, "error.csrf"), 403)
                return await handler(visit, session)
            except FormError:
                return page_response(pages.error_page(visit.locale, "error.missing", 400))
            except Exception:
                log.exception("dashboard page failed")
                return page_response(pages.error_page(visit.locale, "dashboard.error.server", 500))

        return run

    async def fresh_login(self, visit: Visit, error_key: str | None = None, status: int = 200) -> Response:
        """The login form on a new session (its cookie replaces any other)."""
        session, token = await self.sessions.start()
        error = text(visit.locale, error_key) if error_key else None
        response = page_response(pages.login_page(visit.locale, session.csrf, error, status))
        self.sessions.set_cookie(response, token)
        return response

    async def page_for(self, visit: Visit, session: Session, error: str | None = None) -> Page:
        locale = visit.locale
        if session.step == STEP_PASSWORD:
            return pages.login_page(locale, session.csrf, error)
        assert session.customer_id is not None
        customer = await self.customers.get(session.customer_id)
        name = customer.display_name if customer is not None else ""
        if session.step == STEP_SECOND_FACTOR:
            return pages.otp_page(locale, session.csrf, name, error)
        holdings = await self.holdings.of(session.customer_id)
        return pages.list_page(locale, session.csrf, name, holdings, error)

    async def again(
        self, visit: Visit, session: Session, error: str, status: int, retry_after: int | None = None
    ) -> Response:
        page = await self.page_for(visit, session, error)
        return page_response(dataclasses.replace(page, status=status, retry_after=retry_after))

    async def refused(
        self, visit: Visit, session: Session, refusal: LoginRefused, event: str, key: str
    ) -> Response:
        self.events.emit(
            event, LoginFailure(REQUEST_ID, session.customer_id, visit.client_ip, refusal.reason)
        )
        return await self.again(visit, session, *refusal_answer(visit.locale, refusal, key))

    # --- login --------------------------------------------------------------------------------------

    async def login_form(self, request: Request) -> Response:
        visit = Visit(request, None)
        try:
            session = await self.sessions.load(request)
            if session is not None and session.step == STEP_SIGNED_IN:
                return see_other(pages.HOME)
            if session is not None and session.step == STEP_PASSWORD:
                return page_response(pages.login_page(visit.locale, session.csrf))
            return await self.fresh_login(visit)
        except Exception:
            log.exception("dashboard login page failed")
            return page_response(pages.error_page(visit.locale, "dashboard.error.server", 500))

    async def submit_password(self, visit: Visit, session: Session) -> Response:
        username, password = visit.one("username").strip(), visit.one("password")
        if not username or not password:
            return await self.again(visit, session, text(visit.locale, "error.missing"), 400)
        try:
            customer_id = await self.customers.verify_password(username, password, visit.client_ip)
        except LoginRefused as refusal:
            return await self.refused(visit, session, refusal, LOGIN_FAILED, "error.invalid")
        response = see_other(pages.OTP)
        moved = await self.sessions.advance(session, STEP_SECOND_FACTOR, response, customer_id)
        return response if moved else see_other(pages.LOGIN)

    async def show(self, visit: Visit, session: Session) -> Response:
        return page_response(await self.page_for(visit, session))

    async def submit_otp(self, visit: Visit, session: Session) -> Response:
        code = visit.one("otp").strip()
        if not code:
            return await self.again(visit, session, text(visit.locale, "error.missing"), 400)
        customer_id = session.customer_id
        assert customer_id is not None
        try:
            attempt = await self.customers.one_time_code(customer_id, visit.client_ip, code)
        except LoginRefused as refusal:
            return await self.refused(visit, session, refusal, SCA_FAILED, "error.code")
        await self.customers.record_success(attempt)
        response = see_other(pages.HOME)
        moved = await self.sessions.advance(session, STEP_SIGNED_IN, response, customer_id)
        return response if moved else see_other(pages.OTP)

    # --- signed in ----------------------------------------------------------------------------------

    async def submit_revoke(self, visit: Visit, session: Session) -> Response:
        """The consent id comes from a form, so it is never trusted: the store revokes it only for the
        customer who authorised it. Then every token issued under it is revoked before the answer
        (the consent.revoked subscriber does the same off the request; whichever runs second finds
        nothing left), so the TPP's next call fails in every worker."""
        kind, consent_id = visit.one("kind"), visit.one("consent_id")
        customer_id = session.customer_id
        assert customer_id is not None
        if not kind or not consent_id:
            return await self.again(visit, session, text(visit.locale, "error.missing"), 400)
        if not await self.holdings.revoke(kind, consent_id, customer_id):
            return await self.again(visit, session, text(visit.locale, "dashboard.error.gone"), 404)
        await self.tokens.revoke_consent(consent_id)
        return see_other(pages.HOME)

    async def submit_logout(self, visit: Visit, session: Session) -> Response:
        response = see_other(pages.LOGIN)
        await self.sessions.end(session, response)
        return response

    def routes(self) -> list[Route]:
        def route(path: str, step: str, handler: Handler, method: str) -> Route:
            return Route(path, self.endpoint(step, handler, post=method == "POST"), methods=[method])

        return [
            Route(pages.LOGIN, self.login_form, methods=["GET"]),
            route(pages.LOGIN, STEP_PASSWORD, self.submit_password, "POST"),
            route(pages.OTP, STEP_SECOND_FACTOR, self.show, "GET"),
            route(pages.OTP, STEP_SECOND_FACTOR, self.submit_otp, "POST"),
            route(pages.HOME, STEP_SIGNED_IN, self.show, "GET"),
            route(pages.REVOKE, STEP_SIGNED_IN, self.submit_revoke, "POST"),
            route(pages.LOGOUT, STEP_SIGNED_IN, self.submit_logout, "POST"),
        ]


def dashboard_apis(settings: Settings) -> list[Api]:
    """The dashboard's paths in the gateway's table: audited, and rate-limited per IP as the login
    pages are (their policy)."""
    return [
        Api(
            name="dashboard",
            path=pages.HOME,
            family=Family.PLAIN,
            media_type="application/json",
            policy=settings.apis["login"],
            prefix=True,
        )
    ]


class AuthorizationParts(Protocol):
    """What the dashboard takes from the authorization server: the customers (same lockout and
    throttle store), the client registry (TPP names) and the token service."""

    customers: Customers
    clients: Any
    tokens: Any


def build_dashboard(
    settings: Settings,
    db: Database,
    events: Events,
    authz: AuthorizationParts,
    *,
    kinds: Sequence[ConsentKind],
    core: CoreBanking,
) -> Dashboard:
    return Dashboard(
        sessions=DashboardSessions(db, settings.public_base_url),
        customers=authz.customers,
        holdings=Holdings(kinds, authz.clients, core, db),
        tokens=authz.tokens,
        events=events,
    )
