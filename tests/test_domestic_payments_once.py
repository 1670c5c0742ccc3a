"""Domestic payments happen exactly once (DESIGN.md "Data that must never be lost or leaked"; UK OB
v3.1.11 Read/Write Data API Profile, "Idempotency"): a replay of the idempotency key with the same
body answers 201 with the payment first created, as it is now, even when the requests race; the key
with another body is refused; payments racing on one consent make one payment and one posting. On
SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from kaimen.apis.payments.models import DomesticPayment, IdempotencyKey
from tests.domestic_payments_support import (
    assert_payment,
    authorised,
    booked,
    consent_status,
    ledger_sum,
    pay,
    postings_for,
    server,
)
from tests.payments_support import PaymentBank, PaymentTpp, acme, assert_refusal, bank

__all__ = ["acme", "bank", "server"]  # fixtures

AMOUNT = 16_588
HEADER_INVALID = "UK.OBIE.Header.Invalid"
INVALID_STATUS = "UK.OBIE.Resource.InvalidConsentStatus"


async def payments_made(bank: PaymentBank) -> int:
    async with bank.app.components.db.read() as session:
        return int(await session.scalar(select(func.count()).select_from(DomesticPayment)) or 0)


async def test_a_replay_answers_201_with_the_payment_first_created(
    bank: PaymentBank, acme: PaymentTpp
) -> None:
    consent = await authorised(bank, acme, balance=100_000)
    first = await assert_payment(
        bank, await pay(acme, consent.payment(), token=consent.token, idempotency_key="pay-1"), 201
    )
    # The consent is Consumed by now: a replay is still answered with the payment, not refused.
    again = await assert_payment(
        bank, await pay(acme, consent.payment(), token=consent.token, idempotency_key="pay-1"), 201
    )
    assert again["Data"] == first["Data"]
    assert await payments_made(bank) == 1
    assert len(await postings_for(bank)) == 1
    assert await booked(bank, consent.account_id) == 100_000 - AMOUNT


@pytest.mark.parametrize("racers", [10, 50])
async def test_racing_identical_requests_make_one_payment_and_one_posting(
    bank: PaymentBank, acme: PaymentTpp, racers: int
) -> None:
    consent = await authorised(bank, acme, balance=100_000)
    responses = await asyncio.gather(
        *(pay(acme, consent.payment(), token=consent.token, idempotency_key="race-1") for _ in range(racers))
    )
    bodies = [await assert_payment(bank, response, 201) for response in responses]
    assert len({response.content for response in responses}) == 1  # identical answers
    assert len({body["Data"]["DomesticPaymentId"] for body in bodies}) == 1
    assert {body["Data"]["Status"] for body in bodies} == {"AcceptedSettlementCompleted"}
    assert await payments_made(bank) == 1
    assert len(await postings_for(bank)) == 1
    assert await booked(bank, consent.account_id) == 100_000 - AMOUNT
    assert await ledger_sum(bank) == (0, 0)


@pytest.mark.parametrize("racers", [10, 50])
async def test_racing_payments_on_one_consent_with_different_keys_pay_once(
    bank: PaymentBank, acme: PaymentTpp, racers: int
) -> None:
    consent = await authorised(bank, acme, balance=100_000)
    responses = await asyncio.gather(
        *(pay(acme, consent.payment(), token=consent.token) for _ in range(racers))
    )
    made = [r for r in responses if r.status_code == 201]
    assert len(made) == 1, [r.text for r in responses]
    await assert_payment(bank, made[0], 201)
    for response in responses:
        if response is not made[0]:
            await assert_refusal(bank, response, 403, INVALID_STATUS)
    assert await payments_made(bank) == 1
    assert len(await postings_for(bank)) == 1
    assert await booked(bank, consent.account_id) == 100_000 - AMOUNT
    # Only the winner's idempotency key is kept: the losers' rolled back with their transactions.
    async with bank.app.components.db.read() as session:
        keys = await session.scalar(
            select(func.count())
            .select_from(IdempotencyKey)
            .where(IdempotencyKey.endpoint == "domestic-payments")
        )
    assert keys == 1


async def test_racing_consents_on_one_account_never_take_it_below_zero(
    bank: PaymentBank, acme: PaymentTpp
) -> None:
    """Five authorised payments of 165.88 from an account holding 500.00: three fit, two are Rejected."""
    first = await authorised(bank, acme, balance=50_000)
    consents = [first] + [await authorised(bank, acme, account_id=first.account_id) for _ in range(4)]
    responses = await asyncio.gather(*(pay(acme, c.payment(), token=c.token) for c in consents))
    statuses = sorted([(await assert_payment(bank, r, 201))["Data"]["Status"] for r in responses])
    assert statuses == ["AcceptedSettlementCompleted"] * 3 + ["Rejected"] * 2
    assert await booked(bank, first.account_id) == 50_000 - 3 * AMOUNT
    assert len(await postings_for(bank)) == 3
    assert await ledger_sum(bank) == (0, 0)


async def test_the_same_key_with_another_body_is_refused(bank: PaymentBank, acme: PaymentTpp) -> None:
    consent = await authorised(bank, acme)
    await assert_payment(
        bank, await pay(acme, consent.payment(), token=consent.token, idempotency_key="k"), 201
    )
    other = consent.payment()
    other["Risk"]["PaymentContextCode"] = "BillPayment"
    response = await pay(acme, other, token=consent.token, idempotency_key="k")
    await assert_refusal(bank, response, 400, HEADER_INVALID, "x-idempotency-key")
    # Another consent's payment under the same key is another body as well.
    second = await authorised(bank, acme)
    response = await pay(acme, second.payment(), token=second.token, idempotency_key="k")
    await assert_refusal(bank, response, 400, HEADER_INVALID, "x-idempotency-key")
    assert await consent_status(bank, acme, second.consent_id) == "Authorised"
    assert await payments_made(bank) == 1


async def test_a_refused_payment_does_not_hold_its_key(bank: PaymentBank, acme: PaymentTpp) -> None:
    """A request refused before the payment is made writes nothing, its key neither: the corrected
    request under the same key is a new request."""
    consent = await authorised(bank, acme)
    wrong = consent.payment()
    wrong["Data"]["Initiation"]["InstructedAmount"]["Amount"] = "165.89"
    response = await pay(acme, wrong, token=consent.token, idempotency_key="fix-me")
    await assert_refusal(bank, response, 400, "UK.OBIE.Resource.ConsentMismatch")
    response = await pay(acme, consent.payment(), token=consent.token, idempotency_key="fix-me")
    await assert_payment(bank, response, 201)
