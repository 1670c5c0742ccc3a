"""Confirmation of funds end to end, driven by Authlib as in tests/test_accounts_flow_e2e.py: the TPP
creates a funds-confirmation consent naming the customer's account, pushes the authorization request
naming the consent, the customer approves that account (the only one offered), and the TPP asks
whether funds are available: yes for a small amount, no for more than the account holds."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import pytest

from kaimen.ledger.history import seed_history
from kaimen.settings import Settings
from kaimen.store.types import utcnow
from tests.authz_flow_support import Harness, Tpp, harness
from tests.fapi_client_support import CHECKBOX, Customer, authorise, call, customer, tpp_token
from tests.funds_support import CONFIRMATIONS, CONSENTS, assert_answer
from tests.test_ledger_support import hold_at_least

SCOPE = "fundsconfirmations"


@pytest.fixture
async def h(make_settings: Callable[..., Settings], database_url: str) -> AsyncIterator[Harness]:
    async with harness(make_settings(database_url=database_url)) as flow:
        yield flow


async def funds_consent(h: Harness, tpp: Tpp, identification: str) -> str:
    body = {
        "Data": {
            "DebtorAccount": {"SchemeName": "UK.OBIE.SortCodeAccountNumber", "Identification": identification}
        }
    }
    response = await call(h, "POST", CONSENTS, await tpp_token(h, tpp, SCOPE), body)
    document = assert_answer(response, 201, "OBFundsConfirmationConsentResponse1")
    consent_id: str = document["Data"]["ConsentId"]
    return consent_id


async def confirm(h: Harness, token: str, consent_id: str, amount: str) -> bool:
    body = {
        "Data": {
            "ConsentId": consent_id,
            "Reference": "Purchase01",
            "InstructedAmount": {"Amount": amount, "Currency": "GBP"},
        }
    }
    response = await call(h, "POST", CONFIRMATIONS, token, body)
    available: bool = assert_answer(response, 201, "OBFundsConfirmationResponse1")["Data"]["FundsAvailable"]
    return available


async def test_a_tpp_confirms_funds_on_the_account_the_customer_approved(h: Harness) -> None:
    tpp = await h.tpp()
    person: Customer = await customer(h, "alice")
    await seed_history(h.app.components.db, [person.customer_id], seed=11, days=30)
    accounts = await h.app.components.core_banking.accounts(person.customer_id)
    current = next(a for a in accounts if a.currency == "GBP")
    await hold_at_least(h.app.components.db, current.account_id, 100, utcnow() - timedelta(days=1))  # 1.00
    consent_id = await funds_consent(h, tpp, current.identification)

    token, page = await authorise(h, tpp, person, consent_id, scope="openid " + SCOPE)
    assert CHECKBOX.findall(page) == [current.account_id]  # only the consent's DebtorAccount
    assert "Ask whether your account has enough money for a payment" in page
    assert token["scope"] == "openid " + SCOPE and token["refresh_token"]

    access = token["access_token"]
    assert await confirm(h, access, consent_id, "1.00") is True
    assert await confirm(h, access, consent_id, "99999999.00") is False

    status = await call(h, "GET", f"{CONSENTS}/{consent_id}", await tpp_token(h, tpp, SCOPE))
    assert assert_answer(status, 200, "OBFundsConfirmationConsentResponse1")["Data"]["Status"] == "Authorised"


async def test_a_customer_without_the_named_account_can_only_deny(h: Harness) -> None:
    tpp = await h.tpp()
    person = await customer(h, "bob")
    await seed_history(h.app.components.db, [person.customer_id], seed=12, days=1)
    consent_id = await funds_consent(h, tpp, "40400499999999")  # nobody's account
    callback, page = await authorise(h, tpp, person, consent_id, scope="openid " + SCOPE, decision="deny")
    assert CHECKBOX.findall(page) == []
    assert "None of your accounts can be shared" in page
    assert callback["error"] == "access_denied"
    status = await call(h, "GET", f"{CONSENTS}/{consent_id}", await tpp_token(h, tpp, SCOPE))
    assert assert_answer(status, 200, "OBFundsConfirmationConsentResponse1")["Data"]["Status"] == "Rejected"


async def test_an_authorised_consent_is_re_authenticated_on_its_account(h: Harness) -> None:
    """CoF profile, "Consent Re-authentication": "A funds-confirmation-consent can be re-authenticated
    if: the funds-confirmation-consent resource has a status of Authorised and The
    ExpirationDateTime, if specified, has not elapsed". The CBPII sends the customer through the flow
    again with the same ConsentId; the page ticks the consent's account, and the new token works."""
    tpp = await h.tpp()
    person = await customer(h, "alice")
    await seed_history(h.app.components.db, [person.customer_id], seed=11, days=5)
    accounts = await h.app.components.core_banking.accounts(person.customer_id)
    current = next(a for a in accounts if a.currency == "GBP")
    consent_id = await funds_consent(h, tpp, current.identification)
    await authorise(h, tpp, person, consent_id, scope="openid " + SCOPE)
    # A code is used once: the second login uses the next time step's (within the accepted window).
    again, page = await authorise(h, tpp, person, consent_id, scope="openid " + SCOPE, later=30)
    assert "already has this permission" in page
    assert re.search(rf'value="{re.escape(current.account_id)}" checked', page)
    assert await confirm(h, again["access_token"], consent_id, "1.00") is True
    status = await call(h, "GET", f"{CONSENTS}/{consent_id}", await tpp_token(h, tpp, SCOPE))
    assert assert_answer(status, 200, "OBFundsConfirmationConsentResponse1")["Data"]["Status"] == "Authorised"
