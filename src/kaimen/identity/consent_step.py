"""The consent step: show what the TPP asks for, take the customer's answer, and hand it to the
authorization flow, which answers with the redirect back to the client (code, or access_denied).

The answer is given once: the session moves to ``done`` with a conditional UPDATE before the flow is
told, so two submissions cannot both finish. Only accounts the page offered may be chosen.

A step-up code is a second factor like the login's: a wrong one, a locked customer or a throttled
address goes through the login pages' refusal (``Refuse``), so it emits ``sca.failed`` (issue 3, item 9:
"SCA failed" is an audit event) and answers as they do: 401, or 429 with ``Retry-After``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from starlette.responses import Response

from kaimen.events import SCA_FAILED
from kaimen.identity.customers import Attempt, LoginRefused
from kaimen.identity.i18n import text
from kaimen.identity.interactions import ACR_SCA, STEP_DONE, Flow, Interactions
from kaimen.identity.pages.base import Page, page_response
from kaimen.identity.pages.consent import account_choices, consent_page, field_of
from kaimen.identity.pages.error import error_page
from kaimen.identity.visit import Visit, see_other
from kaimen.store.types import utcnow

DECISIONS = ("approve", "deny")


def _unapprovable(summary: Any) -> str | None:
    """Why the request cannot be approved, whatever is chosen (the message key), or None: the consent
    was withdrawn or expired since PAR, or none of the customer's accounts can be offered for it."""
    if field_of(summary, "intent") is None:
        return "error.consent_gone"
    if not field_of(summary, "accounts") and not field_of(summary, "debtor_accounts"):
        return "error.no_accounts"
    return None


class SecondFactor(Protocol):
    async def one_time_code(self, customer_id: str, client_ip: str, code: str) -> Attempt: ...

    async def release(self, attempt: Attempt) -> None: ...


# The login pages' answer to a refused attempt: emit the event, show the form again with the message
# and status of the refusal (kaimen.identity.routes.LoginPages.refused).
Refuse = Callable[[Visit, LoginRefused, str, str], Awaitable[Response]]


class ConsentStep:
    def __init__(
        self, flow: Flow, interactions: Interactions, customers: SecondFactor, refuse: Refuse
    ) -> None:
        self.flow = flow
        self.interactions = interactions
        self.customers = customers
        self.refuse = refuse

    async def _describe(self, visit: Visit) -> Any:
        return await self.flow.describe(visit.login.request_id, visit.login.customer_id)

    async def page(self, visit: Visit, error: str | None = None) -> Page:
        summary = await self._describe(visit)
        if error is None:
            problem = _unapprovable(summary)
            error = text(visit.locale, problem) if problem else None
        return consent_page(
            visit.locale,
            visit.login.csrf,
            summary,
            error=error,
            chosen_accounts=set(visit.many("account_id")) or None,
            chosen_debtor=visit.one("debtor_account_id") or None,
        )

    async def _again(self, visit: Visit, message_key: str) -> Response:
        page = await self.page(visit, text(visit.locale, message_key))
        return page_response(dataclasses.replace(page, status=400))

    def _choice_error(self, visit: Visit, summary: Any) -> str | None:
        """The message key of what is wrong with the chosen accounts, or None."""
        problem = _unapprovable(summary)
        if problem:
            return problem
        offered = {c.account_id for c in account_choices(field_of(summary, "accounts"))}
        chosen = set(visit.many("account_id"))
        if not chosen <= offered or (offered and not chosen):
            return "error.accounts"
        debtors = {c.account_id for c in account_choices(field_of(summary, "debtor_accounts"))}
        debtor = visit.one("debtor_account_id")
        if (debtors and debtor not in debtors) or (debtor and not debtors):
            return "error.debtor"
        return None

    async def _step_up(self, visit: Visit) -> Response | None:
        """The risk engine asked for more than the login's SCA: a fresh one-time code (each time step
        is accepted once, so the login's code does not do), counted against the lockout like any."""
        code = visit.one("otp").strip()
        if not code:
            return await self._again(visit, "error.step_up")
        customer_id = visit.login.customer_id
        assert customer_id is not None  # the consent step comes after the login
        try:
            attempt = await self.customers.one_time_code(customer_id, visit.client_ip, code)
        except LoginRefused as refusal:
            return await self.refuse(visit, refusal, SCA_FAILED, "error.code")
        await self.customers.release(attempt)  # the login's SCA already reset the counters
        return None

    async def submit(self, visit: Visit) -> Response:
        decision = visit.one("decision")
        if decision not in DECISIONS:
            return await self._again(visit, "error.decision")
        approved = decision == "approve"
        login = visit.login
        if approved:
            summary = await self._describe(visit)
            problem = self._choice_error(visit, summary)
            if problem:
                return await self._again(visit, problem)
            if field_of(field_of(summary, "intent"), "step_up"):
                refused = await self._step_up(visit)
                if refused is not None:
                    return refused
        if not await self.interactions.advance(login, STEP_DONE):
            return page_response(error_page(visit.locale, "error.session", 400))
        assert login.customer_id is not None
        location = await self.flow.finish(
            request_id=login.request_id,
            customer_id=login.customer_id,
            amr=login.amr,
            acr=ACR_SCA,
            auth_time=login.auth_time or utcnow(),
            approved=approved,
            consent={
                "account_ids": sorted(set(visit.many("account_id"))) if approved else [],
                "debtor_account_id": (visit.one("debtor_account_id") or None) if approved else None,
            },
        )
        response = see_other(location)
        self.interactions.clear_cookie(response)
        return response
