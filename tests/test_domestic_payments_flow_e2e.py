"""A domestic payment end to end, driven by Authlib as tests/test_payments_flow_e2e.py drives the
consent: the TPP creates the consent, the customer approves this amount to this payee from an
account they pick with SCA, and the TPP pays with the token it got, signed and with an idempotency
key; the money leaves that account once. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from kaimen.apis.payments.settlement import REJECTED_BY_CHECKS
from kaimen.apis.payments.trail import payment_trail
from kaimen.authz.retention import purge_expired
from kaimen.cli.main import cli
from kaimen.ledger.core import BalanceType
from kaimen.risk.engine import RiskEngine
from kaimen.risk.store import RiskStore
from kaimen.settings import Settings
from kaimen.store.types import utcnow
from tests.authz_flow_support import Harness, claims_for, harness
from tests.domestic_payments_support import PAYMENTS, payment_body
from tests.fapi_client_support import authorise, call, tpp_token
from tests.payments_support import CONSENTS, assert_valid, consent_body
from tests.test_ledger_support import hold_at_least
from tests.test_payments_flow_e2e import SCOPE, alice, payment_consent, payment_consent_of, signed

# The risk engine is on, as in the sandbox bank, with its two clock-bound rules made neutral so the
# answer does not depend on when the test runs: the night-time rule, and the consent-age rule (this
# test pays within seconds of the consent, which a real TPP's customer cannot do).
STEADY_RISK = {"night_score": 0, "min_consent_age_seconds": 0}


@pytest.fixture
async def h(make_settings: Callable[..., Settings], database_url: str) -> AsyncIterator[Harness]:
    async with harness(make_settings(database_url=database_url, risk=STEADY_RISK)) as flow:
        yield flow


async def funded_pick(h: Harness, consent_id: str) -> str:
    """The account the customer picked on the consent page, paid a day ago what it takes to hold at
    least the consent's 165.88: seed_history's balances follow the customer's (random) id, and after
    its 30 days about a third of the GBP accounts it makes hold less than that (some are overdrawn), so
    a payment from them would be Rejected."""
    consent = await h.app.components.payment_consents.authorised(consent_id)
    assert consent is not None and consent.debtor_account_id is not None
    await hold_at_least(h.app.components.db, consent.debtor_account_id, 16_588, utcnow() - timedelta(days=1))
    return consent.debtor_account_id


async def test_the_tpp_pays_what_the_customer_approved_once(h: Harness) -> None:
    tpp = await h.tpp()
    person, _ = await alice(h)
    consent_id = await payment_consent(h, tpp)
    token, _ = await authorise(h, tpp, person, consent_id, scope=SCOPE)
    debtor_account_id = await funded_pick(h, consent_id)
    core = h.app.components.core_banking

    async def booked() -> int:
        balances = await core.balances(person.customer_id, debtor_account_id)
        minor: int = next(b.amount.minor for b in balances if b.type is BalanceType.INTERIM_BOOKED)
        return minor

    before = await booked()
    assert before >= 16_588
    body, headers = signed(h, tpp, payment_body(consent_id, consent_body()))
    paid = await call(h, "POST", PAYMENTS, token["access_token"], body, headers)
    assert paid.status_code == 201, paid.text
    assert_valid("OBWriteDomesticResponse5", paid.json())
    payment_id = paid.json()["Data"]["DomesticPaymentId"]
    assert paid.json()["Data"]["Status"] == "AcceptedSettlementCompleted"
    [decision] = await RiskStore(h.app.components.db).decisions(payment_id)
    assert decision.outcome == "allow"  # scored by the engine the app runs, and recorded
    again = await call(h, "POST", PAYMENTS, token["access_token"], body, headers)  # a retry
    assert again.status_code == 201 and again.json()["Data"] == paid.json()["Data"]
    assert await booked() == before - 16_588

    read = await call(h, "GET", f"{PAYMENTS}/{payment_id}", await tpp_token(h, tpp, "payments"))
    assert read.status_code == 200, read.text
    assert read.json()["Data"] == paid.json()["Data"]


async def test_the_account_the_customer_picked_is_the_refund_account_they_agreed_to_share(h: Harness) -> None:
    """ReadRefundAccount "Yes": the account picked on the consent page comes back as Refund.Account,
    as the bank's core holds it (CoreBanking.account), and its holder's name as Debtor.Name."""
    tpp = await h.tpp()
    person, _ = await alice(h)
    sent = consent_body()
    sent["Data"]["ReadRefundAccount"] = "Yes"
    consent_id = await payment_consent_of(h, tpp, sent)
    token, _ = await authorise(h, tpp, person, consent_id, scope=SCOPE)
    picked = await h.app.components.core_banking.account(person.customer_id, await funded_pick(h, consent_id))
    assert picked.name
    body, headers = signed(h, tpp, payment_body(consent_id, sent))
    paid = await call(h, "POST", PAYMENTS, token["access_token"], body, headers)
    assert paid.status_code == 201, paid.text
    assert_valid("OBWriteDomesticResponse5", paid.json())
    data = paid.json()["Data"]
    assert data["Status"] == "AcceptedSettlementCompleted"
    assert data["Refund"] == {
        "Account": {
            "SchemeName": picked.scheme_name,
            "Identification": picked.identification,
            "Name": picked.name,
        }
    }
    assert data["Debtor"] == {"Name": picked.name}
    read = await call(
        h, "GET", f"{PAYMENTS}/{data['DomesticPaymentId']}", await tpp_token(h, tpp, "payments")
    )
    assert read.status_code == 200, read.text
    assert read.json()["Data"] == data


async def test_a_payment_to_a_deny_listed_payee_is_rejected_and_only_the_operator_reads_why(
    h: Harness, tmp_path: Path
) -> None:
    """Issue 5 item 4: reject -> status Rejected, /payment-details with StatusDetail StatusReason
    ProprietaryRejection; no money moves. The TPP reads the fixed description of a rejection, never the
    engine's reasons (here the operator's deny-list note); the operator reads them in
    ``kaimen payments trail`` (kaimen.apis.payments.settlement)."""
    assert isinstance(h.app.components.payment_risk, RiskEngine)
    tpp = await h.tpp()
    person, _ = await alice(h)
    consent_id = await payment_consent(h, tpp)
    token, _ = await authorise(h, tpp, person, consent_id, scope=SCOPE)
    # The payee is found to be a mule account after the customer authorised the payment.
    await RiskStore(h.app.components.db).deny(
        "UK.OBIE.SortCodeAccountNumber", "08080021325698", "case FR-2291: mule account", utcnow()
    )
    body, headers = signed(h, tpp, payment_body(consent_id, consent_body()))
    paid = await call(h, "POST", PAYMENTS, token["access_token"], body, headers)
    assert paid.status_code == 201, paid.text
    assert paid.json()["Data"]["Status"] == "Rejected"
    payment_id = paid.json()["Data"]["DomesticPaymentId"]
    details = await call(
        h, "GET", f"{PAYMENTS}/{payment_id}/payment-details", await tpp_token(h, tpp, "payments")
    )
    assert details.status_code == 200, details.text
    [status] = details.json()["Data"]["PaymentStatus"]
    assert status["StatusDetail"] == {
        "Status": "Rejected",
        "StatusReason": "ProprietaryRejection",
        "StatusReasonDescription": REJECTED_BY_CHECKS,
    }
    for leaked in ("FR-2291", "mule", "deny list"):
        assert leaked not in details.text and leaked not in paid.text

    url = h.settings.sqlalchemy_url
    args = ["--data-dir", str(tmp_path), "--database-url", url, "payments", "trail", payment_id]
    printed = await asyncio.to_thread(CliRunner().invoke, cli, args, catch_exceptions=False)
    assert printed.exit_code == 0, printed.output
    assert "is on the deny list (case FR-2291: mule account)" in printed.output


async def test_a_consent_to_a_deny_listed_payee_is_created_rejected(h: Harness) -> None:
    """Issue 5 item 4: every payment consent is scored at creation; a reject makes it Rejected (the
    spec file's OBWriteDomesticConsentResponse5 Status enum), so no customer can authorise it."""
    store = RiskStore(h.app.components.db)
    await store.deny("UK.OBIE.SortCodeAccountNumber", "08080021325698", "mule account", utcnow())
    tpp = await h.tpp()
    body, headers = signed(h, tpp, consent_body())
    created = await call(h, "POST", CONSENTS, await tpp_token(h, tpp, "payments"), body, headers)
    assert created.status_code == 201, created.text
    assert created.json()["Data"]["Status"] == "Rejected"
    consent_id = created.json()["Data"]["ConsentId"]
    [decision] = await store.decisions(consent_id)
    assert decision.outcome == "reject"
    again = await call(h, "POST", CONSENTS, await tpp_token(h, tpp, "payments"), body, headers)
    assert again.json()["Data"] == created.json()["Data"]  # a replay: the same consent, not scored again
    assert len(await store.decisions(consent_id)) == 1
    pushed = await h.par(tpp, scope=SCOPE, claims=claims_for(consent_id))
    assert pushed.status_code == 400 and pushed.json()["error"] == "invalid_request"


async def test_the_operator_reads_the_whole_trail_by_payment_or_interaction_id(
    h: Harness, tmp_path: Path
) -> None:
    """Issue 5 item 5: TPP request -> consent -> SCA -> risk decision -> ledger postings, one command."""
    tpp = await h.tpp()
    person, _ = await alice(h)
    consent_id = await payment_consent(h, tpp)
    token, _ = await authorise(h, tpp, person, consent_id, scope=SCOPE)
    await funded_pick(h, consent_id)
    body, headers = signed(h, tpp, payment_body(consent_id, consent_body()))
    paid = await call(h, "POST", PAYMENTS, token["access_token"], body, headers)
    payment_id = paid.json()["Data"]["DomesticPaymentId"]
    await h.app.components.audit.flush()

    steps = await payment_trail(h.app.components.db, payment_id)
    assert steps is not None
    kinds = [step.kind for step in steps]
    assert kinds[0] == "consent" and kinds[-2:] == ["ledger", "ledger"]
    assert {"sca", "risk", "call", "payment"} <= set(kinds)
    assert kinds.index("sca") < kinds.index("payment") < kinds.index("ledger")
    text = " | ".join(step.what for step in steps)
    assert person.customer_id in text and "amr pwd+otp" in text and "payment: allow" in text
    assert "POST /open-banking/v3.1/pisp" in text and "-> 201" in text
    assert "debit 165.88 GBP" in text and "credit 165.88 GBP" in text

    interaction = paid.headers["x-fapi-interaction-id"]
    assert await payment_trail(h.app.components.db, interaction) == steps
    assert await payment_trail(h.app.components.db, "dp-unknown") is None

    url = h.settings.sqlalchemy_url
    args = ["--data-dir", str(tmp_path), "--database-url", url, "payments", "trail", payment_id, "--json"]
    printed = await asyncio.to_thread(CliRunner().invoke, cli, args, catch_exceptions=False)
    assert printed.exit_code == 0, printed.output
    assert [step["kind"] for step in json.loads(printed.output)] == kinds

    # `kaimen db purge` two days on (its tokens long expired) keeps the trail whole: its SCA steps
    # come from the consent's tokens.
    two_days_on = utcnow() + timedelta(days=2)
    await purge_expired(h.app.components.db, h.settings.oauth, now=two_days_on)
    assert await payment_trail(h.app.components.db, payment_id) == steps
