"""The risk check every domestic payment passes before money moves (kaimen.apis.payments.risk_check):
what it is told, and what each outcome does. ``reject`` creates the payment Rejected with the reasons
in /payment-details (StatusReason ProprietaryRejection); ``hold`` and ``step_up`` create it Pending;
neither posts anything. With no engine configured, ``NoRiskChecks`` allows everything."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from kaimen.apis.payments.risk_check import NoRiskChecks, PaymentRiskContext, RiskDecision
from kaimen.settings import Settings
from tests.domestic_payments_support import (
    PAYMENTS,
    assert_details,
    assert_payment,
    authorised,
    booked,
    consent_status,
    pay,
    postings_for,
    without_risk_engine,
)
from tests.payments_support import PaymentBank, PaymentTpp


@pytest.fixture
async def server(
    make_settings: Callable[..., Settings], database_url: str
) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    async with without_risk_engine(make_settings, database_url) as started:
        yield started


@pytest.fixture
async def bank(server: tuple[Any, httpx.AsyncClient]) -> PaymentBank:
    return PaymentBank(*server)


@pytest.fixture
async def acme(bank: PaymentBank) -> PaymentTpp:
    return await bank.tpp("pisp-acme")


@pytest.fixture
def decided(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The engine's answer for the next payments (``decided[0]``), and the contexts it was asked about."""
    answer: list[Any] = [RiskDecision("allow")]
    seen: list[PaymentRiskContext] = []

    async def assess_payment(self: NoRiskChecks, context: PaymentRiskContext) -> Any:
        seen.append(context)
        return answer[0]

    monkeypatch.setattr(NoRiskChecks, "assess_payment", assess_payment)
    return [answer, seen]


def test_the_default_allows_every_payment_and_says_so() -> None:
    import asyncio

    decision = asyncio.run(NoRiskChecks().assess_payment(None))  # type: ignore[arg-type]
    assert decision.outcome == "allow"
    assert decision.reasons == ("no risk engine configured",)


async def test_the_engine_is_told_who_pays_whom_what_from_where(
    bank: PaymentBank, acme: PaymentTpp, decided: list[Any]
) -> None:
    _, seen = decided
    consent = await authorised(bank, acme)
    extra = {"x-fapi-customer-ip-address": "198.51.100.7", "x-customer-user-agent": "Pennywise/1.0 iOS"}
    response = await pay(acme, consent.payment(), token=consent.token, extra=extra)
    body = await assert_payment(bank, response, 201)
    [context] = seen
    assert context.subject_id == body["Data"]["DomesticPaymentId"]
    assert context.customer_id == "cus_alice"
    assert context.client_id == acme.client_id
    assert context.consent_id == consent.consent_id
    assert context.debtor_account_id == consent.account_id
    assert (context.amount_minor, context.currency) == (16_588, "GBP")
    assert (context.creditor_scheme, context.creditor_identification, context.creditor_name) == (
        "UK.OBIE.SortCodeAccountNumber",
        "08080021325698",
        "ACME Inc",
    )
    assert context.customer_ip == "198.51.100.7"
    assert context.device == "Pennywise/1.0 iOS"
    assert (context.payment_context_code, context.merchant_category_code) == ("EcommerceGoods", "5967")
    assert context.risk == consent.consent["Risk"]
    assert context.interaction_id == response.headers["x-fapi-interaction-id"]
    assert context.at.tzinfo is not None and context.consent_created_at <= context.at


@pytest.mark.parametrize(
    ("outcome", "status", "reason"),
    [("reject", "Rejected", "ProprietaryRejection"), ("hold", "Pending", "Proprietary"),
     ("step_up", "Pending", "Proprietary"), ("unheard-of", "Pending", "Proprietary")],
)  # fmt: skip
async def test_an_outcome_other_than_allow_moves_no_money(
    bank: PaymentBank, acme: PaymentTpp, decided: list[Any], outcome: str, status: str, reason: str
) -> None:
    answer, _ = decided
    answer[0] = RiskDecision(outcome, ("payee on the deny list", "new payee"))
    consent = await authorised(bank, acme, balance=100_000)
    body = await assert_payment(bank, await pay(acme, consent.payment(), token=consent.token), 201)
    assert body["Data"]["Status"] == status
    assert await postings_for(bank) == []
    assert await booked(bank, consent.account_id) == 100_000
    assert await consent_status(bank, acme, consent.consent_id) == "Consumed"
    payment_id = body["Data"]["DomesticPaymentId"]
    details = await assert_details(bank, await acme.get(f"{PAYMENTS}/{payment_id}/payment-details"))
    [entry] = details["Data"]["PaymentStatus"]
    assert entry["StatusDetail"] == {
        "Status": status,
        "StatusReason": reason,
        "StatusReasonDescription": "payee on the deny list; new payee",
    }


async def test_a_replay_is_not_assessed_again(
    bank: PaymentBank, acme: PaymentTpp, decided: list[Any]
) -> None:
    _, seen = decided
    consent = await authorised(bank, acme)
    for _ in range(3):
        response = await pay(acme, consent.payment(), token=consent.token, idempotency_key="once")
        await assert_payment(bank, response, 201)
    assert len(seen) == 1


async def test_a_failing_engine_moves_no_money_and_leaves_the_consent(
    bank: PaymentBank, acme: PaymentTpp, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(self: NoRiskChecks, context: PaymentRiskContext) -> Any:
        raise RuntimeError("risk engine down")

    monkeypatch.setattr(NoRiskChecks, "assess_payment", broken)
    consent = await authorised(bank, acme)
    response = await pay(acme, consent.payment(), token=consent.token)
    assert response.status_code == 500
    await bank.assert_signed(response)
    assert await postings_for(bank) == []
    assert await consent_status(bank, acme, consent.consent_id) == "Authorised"
