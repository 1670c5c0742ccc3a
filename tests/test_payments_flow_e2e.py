"""A domestic payment consent authorised end to end with dynamic linking, driven by Authlib as in
tests/test_accounts_flow_e2e.py: the TPP creates the consent (signed, with an idempotency key), pushes
the authorization request naming it with scope ``openid payments``, and the customer sees the amount,
the payee and the reference, picks the account to pay from (radios ``debtor_account_id``) and approves
with SCA. What they approved is kept as a digest with the consent (PSD2 RTS Art. 5)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable

import orjson
import pytest

from kaimen.apis.payments.intents import approved_digest
from kaimen.ledger.history import seed_history
from kaimen.settings import Settings
from tests.authz_flow_support import Harness, Pkce, Tpp, claims_for, harness
from tests.fapi_client_support import RADIO, Customer, authorise, call, customer, tpp_token
from tests.payments_support import CONSENTS, consent_body, sign_with_joserfc

SCOPE = "openid payments"


@pytest.fixture
async def h(make_settings: Callable[..., Settings], database_url: str) -> AsyncIterator[Harness]:
    async with harness(make_settings(database_url=database_url)) as flow:
        yield flow


async def payment_consent(h: Harness, tpp: Tpp, **initiation: object) -> str:
    return await payment_consent_of(h, tpp, consent_body(**initiation))


def signed(h: Harness, tpp: Tpp, document: dict[str, object]) -> tuple[bytes, dict[str, str]]:
    """``document``'s body and the headers of a first submission: a fresh idempotency key and the TPP's
    detached JWS signature."""
    body = orjson.dumps(document)
    headers = {
        "x-idempotency-key": uuid.uuid4().hex,
        # A client registered without a software statement signs as its client_id (kaimen.jws).
        "x-jws-signature": sign_with_joserfc(body, tpp.key, iss=tpp.client_id, tan=h.settings.jws_tan),
    }
    return body, headers


async def payment_consent_of(h: Harness, tpp: Tpp, document: dict[str, object]) -> str:
    body, headers = signed(h, tpp, document)
    response = await call(h, "POST", CONSENTS, await tpp_token(h, tpp, "payments"), body, headers)
    assert response.status_code == 201, response.text
    consent_id: str = response.json()["Data"]["ConsentId"]
    return consent_id


async def alice(h: Harness) -> tuple[Customer, list[str]]:
    person = await customer(h, "alice")
    await seed_history(h.app.components.db, [person.customer_id], seed=11, days=30)
    accounts = await h.app.components.core_banking.accounts(person.customer_id)
    return person, [a.account_id for a in accounts if a.currency == "GBP" and str(a.status) == "Enabled"]


async def test_the_customer_approves_this_amount_to_this_payee_from_an_account_they_pick(h: Harness) -> None:
    tpp = await h.tpp()
    person, gbp_accounts = await alice(h)
    consent_id = await payment_consent(h, tpp)
    token, page = await authorise(h, tpp, person, consent_id, scope=SCOPE)

    assert "Pay 165.88 GBP to ACME Inc" in page
    assert "Payee&#x27;s account: 08080021325698" in page or "Payee's account: 08080021325698" in page
    assert "Reference: FRESCO-101" in page
    assert "No end date" not in page
    offered = RADIO.findall(page)
    assert sorted(offered) == sorted(gbp_accounts)  # every enabled account in the payment's currency

    assert token["scope"] == SCOPE and "refresh_token" not in token  # a payment consent is used once
    consent = await h.app.components.payment_consents.authorised(consent_id)
    assert consent is not None and consent.customer_id == person.customer_id
    assert consent.debtor_account_id == offered[0]
    assert consent.approved_digest == approved_digest(consent.initiation_json, offered[0])


async def test_a_debtor_account_named_by_the_tpp_is_the_only_one_offered(h: Harness) -> None:
    tpp = await h.tpp()
    person, gbp_accounts = await alice(h)
    core = h.app.components.core_banking
    named = await core.account(person.customer_id, gbp_accounts[-1])
    debtor = {"SchemeName": "UK.OBIE.SortCodeAccountNumber", "Identification": named.identification}
    consent_id = await payment_consent(h, tpp, DebtorAccount=debtor)
    _, page = await authorise(h, tpp, person, consent_id, scope=SCOPE)
    assert RADIO.findall(page) == [named.account_id]
    consent = await h.app.components.payment_consents.authorised(consent_id)
    assert consent is not None and consent.debtor_account_id == named.account_id


async def test_a_payment_consent_is_authorised_once(h: Harness) -> None:
    tpp = await h.tpp()
    person, _ = await alice(h)
    consent_id = await payment_consent(h, tpp)
    await authorise(h, tpp, person, consent_id, scope=SCOPE)
    again = await h.par(tpp, scope=SCOPE, claims=claims_for(consent_id))
    assert again.status_code == 400 and again.json()["error"] == "invalid_request"


async def test_a_forged_debtor_account_is_never_authorised(h: Harness) -> None:
    """Another customer's account id in a forged form: access_denied, the consent stays awaiting."""
    tpp = await h.tpp()
    person, _ = await alice(h)
    bob = await customer(h, "bob")
    await seed_history(h.app.components.db, [bob.customer_id], seed=12, days=1)
    theirs = (await h.app.components.core_banking.accounts(bob.customer_id))[0].account_id
    consent_id = await payment_consent(h, tpp)
    request_uri = await h.pushed(tpp, Pkce(), scope=SCOPE, claims=claims_for(consent_id))
    url = await h.finish(request_uri, customer_id=person.customer_id, debtor_account_id=theirs)
    assert "error=access_denied" in url
    consent = await h.app.components.payment_consents.get(consent_id, tpp.client_id)
    assert consent is not None and consent.status.value == "AwaitingAuthorisation"


async def test_a_consent_the_risk_engine_doubts_asks_the_customer_for_a_fresh_code(
    make_settings: Callable[..., Settings], database_url: str
) -> None:
    """Issue 5 item 4: step-up, "the consent page demands an extra factor". A gambling merchant
    (MerchantCategoryCode 7995) scores 20; with the step-up threshold at 15 the consent asks for it."""
    risk = {"step_up_score": 15, "night_score": 0}
    async with harness(make_settings(database_url=database_url, risk=risk)) as h:
        tpp = await h.tpp()
        person, _ = await alice(h)
        body = consent_body()
        body["Risk"]["MerchantCategoryCode"] = "7995"
        consent_id = await payment_consent_of(h, tpp, body)
        pending = await h.app.components.payment_consents.get(consent_id, tpp.client_id)
        assert pending is not None and pending.step_up
        token, page = await authorise(h, tpp, person, consent_id, scope=SCOPE)
        assert 'name="otp"' in page and "enter a new one-time code" in page
        assert token["scope"] == SCOPE
        consent = await h.app.components.payment_consents.authorised(consent_id)
        assert consent is not None and consent.customer_id == person.customer_id
