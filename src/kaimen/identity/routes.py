"""The /login endpoints: login (password), second factor (one-time code or passkey), consent.

Once the second factor passes, the authorization flow is asked whether this customer may see the
consent page at all (a ``sub`` or Essential ``acr`` the client required, kaimen.authz.flow); when not,
the answer is the flow's error redirect back to the client, the session is done and the consent page
is never rendered.

GET renders the page of the session's current step (a GET or POST for another step answers 303 to the
right page). Every POST checks the CSRF token, then either moves the session on and answers **303**,
or shows the same form again with the error. Statuses of a form shown again (a scripted client reads
the status and the form):

- 400  a field is missing or malformed
- 401  wrong username or password, code or passkey (never says which part was wrong)
- 403  the CSRF token is missing or wrong
- 429  the customer is locked, or this address made too many attempts; with ``Retry-After``

No session (no cookie, unknown, expired, already answered) shows the error page with 400, a body that
is not a plain form the error page with 400, a client whose application was suspended, revoked or
deleted meanwhile the error page with 400, anything unexpected the error page with 500. None of them
redirects. No password or code is ever logged, put in a URL or shown on a page.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from kaimen.authz.errors import OAuthError, UntrustedClient
from kaimen.events import LOGIN_FAILED, SCA_FAILED
from kaimen.identity.consent_step import ConsentStep
from kaimen.identity.customers import Customers, LoginRefused
from kaimen.identity.i18n import Locale, negotiate, text
from kaimen.identity.interactions import (
    ACR_SCA,
    STEP_CONSENT,
    STEP_DONE,
    STEP_LOGIN,
    STEP_SECOND_FACTOR,
    Flow,
    Interactions,
    LoginSession,
)
from kaimen.identity.pages.base import Page, page_response
from kaimen.identity.pages.consent import CONSENT_PATH
from kaimen.identity.pages.error import error_page
from kaimen.identity.pages.login import LOGIN_PATH, OTP_PATH, PASSKEY_PATH, login_page, second_factor_page
from kaimen.identity.passkeys import PasskeyRefused, Passkeys
from kaimen.identity.visit import FormError, Visit, read_form, see_other
from kaimen.store.types import utcnow

log = logging.getLogger("kaimen.identity")

PAGE_OF_STEP = {STEP_LOGIN: LOGIN_PATH, STEP_SECOND_FACTOR: OTP_PATH, STEP_CONSENT: CONSENT_PATH}
Handler = Callable[[Visit], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class LoginFailure:
    """Payload of ``login.failed`` and ``sca.failed``: never the password or the code."""

    request_id: str
    customer_id: str | None
    client_ip: str
    reason: str


def refusal_answer(locale: Locale, refusal: LoginRefused, invalid_key: str) -> tuple[str, int, int | None]:
    """The message, status and Retry-After of a refused attempt."""
    if refusal.reason == "invalid":
        return text(locale, invalid_key), 401, None
    wait = refusal.retry_after or 1
    if refusal.reason == "locked":
        return text(locale, "error.locked", minutes=math.ceil(wait / 60)), 429, wait
    return text(locale, "error.throttled", seconds=wait), 429, wait


class LoginPages:
    def __init__(
        self, interactions: Interactions, customers: Customers, passkeys: Passkeys, flow: Flow, events: Any
    ) -> None:
        self.interactions = interactions
        self.customers = customers
        self.passkeys = passkeys
        self.flow = flow
        self.events = events
        self.consent = ConsentStep(flow, interactions, customers, self.refused)

    def step(self, step: str, handler: Handler, *, post: bool) -> Endpoint:
        """The steps every page shares around ``handler``: locale, session, step, form, CSRF token."""

        async def endpoint(request: Request) -> Response:
            locale = negotiate(request.headers.get("accept-language"))
            try:
                login = await self.interactions.load(request)
                if login is None:
                    return page_response(error_page(locale, "error.session", 400))
                if login.step != step:
                    return see_other(PAGE_OF_STEP[login.step])
                visit = Visit(request, locale, login, await read_form(request) if post else {})
                if post and not self.interactions.csrf_ok(login, visit.one("csrf") or None):
                    return await self.again(visit, text(locale, "error.csrf"), 403)
                return await handler(visit)
            except FormError:
                return page_response(error_page(locale, "error.missing", 400))
            except UntrustedClient:
                # RFC 6749 §4.1.2.1: the client is no longer valid, so "MUST NOT automatically redirect".
                return page_response(error_page(locale, "error.client", 400))
            except OAuthError:
                # The authorization request behind the session expired or was completed meanwhile.
                return page_response(error_page(locale, "error.session", 400))
            except Exception:
                log.exception("login page failed")
                return page_response(error_page(locale, "error.server", 500))

        return endpoint

    async def page_for(self, visit: Visit, error: str | None = None) -> Page:
        """The form of the session's step, with ``error`` shown above it."""
        login, locale = visit.login, visit.locale
        if login.step == STEP_LOGIN:
            summary = await self.flow.describe(login.request_id)
            return login_page(locale, login.csrf, summary.client_name, error)
        if login.step == STEP_SECOND_FACTOR:
            assert login.customer_id is not None
            customer = await self.customers.get(login.customer_id)
            options = await self.passkeys.authentication_options(login.customer_id, login.id)
            return second_factor_page(
                locale, login.csrf, customer.display_name if customer else "", options, error
            )
        return await self.consent.page(visit, error)

    async def show(self, visit: Visit) -> Response:
        return page_response(await self.page_for(visit))

    async def again(
        self, visit: Visit, message: str, status: int, retry_after: int | None = None
    ) -> Response:
        page = await self.page_for(visit, message)
        return page_response(dataclasses.replace(page, status=status, retry_after=retry_after))

    async def refused(self, visit: Visit, refusal: LoginRefused, event: str, invalid_key: str) -> Response:
        login = visit.login
        self.events.emit(
            event, LoginFailure(login.request_id, login.customer_id, visit.client_ip, refusal.reason)
        )
        return await self.again(visit, *refusal_answer(visit.locale, refusal, invalid_key))

    async def submit_password(self, visit: Visit) -> Response:
        username, password = visit.one("username").strip(), visit.one("password")
        if not username or not password:
            return await self.again(visit, text(visit.locale, "error.missing"), 400)
        try:
            customer_id = await self.customers.verify_password(username, password, visit.client_ip)
        except LoginRefused as refusal:
            return await self.refused(visit, refusal, LOGIN_FAILED, "error.invalid")
        response = see_other(OTP_PATH)
        moved = await self.interactions.advance_renewed(
            visit.login, STEP_SECOND_FACTOR, response, customer_id=customer_id, amr=["pwd"]
        )
        return response if moved else see_other(LOGIN_PATH)

    async def submit_otp(self, visit: Visit) -> Response:
        code = visit.one("otp").strip()
        if not code:
            return await self.again(visit, text(visit.locale, "error.missing"), 400)

        async def check(customer_id: str) -> str | None:
            if not await self.customers.verify_totp(customer_id, code):
                return None
            return "otp"  # RFC 8176 §2: one-time password

        return await self.second_factor(visit, check, "error.code")

    async def submit_passkey(self, visit: Visit) -> Response:
        credential = visit.one("credential")
        if not credential:
            return await self.again(visit, text(visit.locale, "error.missing"), 400)

        async def check(customer_id: str) -> str | None:
            try:
                used = await self.passkeys.authenticate(customer_id, visit.login.id, credential)
            except PasskeyRefused as exc:
                log.info("passkey refused", extra={"reason": str(exc)[:200]})
                return None
            # RFC 8176 §2: proof of possession of a hardware-secured (hwk) or software-secured key (swk).
            return "swk" if used.synced else "hwk"

        return await self.second_factor(visit, check, "error.passkey")

    async def second_factor(
        self, visit: Visit, check: Callable[[str], Awaitable[str | None]], invalid_key: str
    ) -> Response:
        """``check`` answers the amr method of a right code or passkey, None for a wrong one; it runs
        only once the guess is claimed from the customer's allowance."""
        login = visit.login
        assert login.customer_id is not None
        customer_id = login.customer_id
        try:
            attempt, method = await self.customers.second_factor(
                customer_id, visit.client_ip, lambda: check(customer_id)
            )
        except LoginRefused as refusal:
            return await self.refused(visit, refusal, SCA_FAILED, invalid_key)
        await self.customers.record_success(attempt)
        authenticated = {"amr": [*login.amr, method], "auth_time": utcnow()}
        ended = await self.flow.authenticated(
            request_id=login.request_id, customer_id=login.customer_id, acr=ACR_SCA
        )
        if ended is not None:
            return await self.end(login, ended, authenticated)
        moved = await self.interactions.advance(login, STEP_CONSENT, **authenticated)
        return see_other(CONSENT_PATH if moved else OTP_PATH)

    async def end(self, login: LoginSession, location: str, values: dict[str, Any]) -> Response:
        """The flow ended the authorization right after authentication (kaimen.authz.flow,
        ``authenticated``): the session is done, so the consent page is never shown, and the browser
        goes back to the client with the error."""
        await self.interactions.advance(login, STEP_DONE, **values)
        response = see_other(location)
        self.interactions.clear_cookie(response)
        return response

    def routes(self) -> list[Route]:
        def route(path: str, step: str, handler: Handler, method: str) -> Route:
            return Route(path, self.step(step, handler, post=method == "POST"), methods=[method])

        return [
            route(LOGIN_PATH, STEP_LOGIN, self.show, "GET"),
            route(LOGIN_PATH, STEP_LOGIN, self.submit_password, "POST"),
            route(OTP_PATH, STEP_SECOND_FACTOR, self.show, "GET"),
            route(OTP_PATH, STEP_SECOND_FACTOR, self.submit_otp, "POST"),
            route(PASSKEY_PATH, STEP_SECOND_FACTOR, self.submit_passkey, "POST"),
            route(CONSENT_PATH, STEP_CONSENT, self.show, "GET"),
            route(CONSENT_PATH, STEP_CONSENT, self.consent.submit, "POST"),
        ]
