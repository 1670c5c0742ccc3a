"""The risk check every domestic payment passes before money moves (kaimen.apis.payments.risk_check):
what it is told, and what each outcome does. ``reject`` creates the payment Rejected (StatusReason
ProprietaryRejection); ``hold`` and ``step_up`` create it Pending; neither posts anything. The TPP reads
one fixed StatusReasonDescription per outcome, never the decision's reasons (they describe the payer
and the bank's rules and notes): those are the operator's. With no engine configured,
``NoRiskChecks`` allows everything."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from kaimen.apis.payments.models import DomesticPaymentConsent, IdempotencyKey
from kaimen.apis.payments.risk_check import (
    ConsentRiskContext,
    NoRiskChecks,
    PaymentRiskContext,
    RiskDecision,
)
from kaimen.apis.payments.settlement import HELD_FOR_REVIEW, REJECTED_BY_CHECKS
from kaimen.cli.main import cli
from tests.domestic_payments_support import (
    PAYMENTS,
    assert_details,
    assert_payment,
    authorised,
    booked,
    consent_status,
    pay,
    postings_for,
    server,
)
from tests.payments_support import PaymentBank, PaymentTpp, acme, assert_consent, bank, consent_body, encode

__all__ = ["acme", "bank", "server"]  # fixtures


def details_text(details: dict[str, Any]) -> str:
    """The whole /payment-details document as the TPP reads it."""
    return json.dumps(details)


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
    decision = asyncio.run(NoRiskChecks().assess_payment(None))  # type: ignore[arg-type]
    assert decision.outcome == "allow"
    assert decision.reasons == ("risk checks are turned off",)


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
        "StatusReasonDescription": REJECTED_BY_CHECKS if status == "Rejected" else HELD_FOR_REVIEW,
    }
    assert "deny list" not in details_text(details) and "new payee" not in details_text(details)
    stored = await bank.app.components.payments.get(payment_id, acme.client_id)  # the operator's view
    assert stored is not None and stored.risk_reasons == ("payee on the deny list", "new payee")


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


async def _held(
    bank: PaymentBank, acme: PaymentTpp, decided: list[Any], balance: int = 100_000
) -> tuple[Any, str]:
    answer, _ = decided
    answer[0] = RiskDecision("hold", ("new payee", "night time"))
    consent = await authorised(bank, acme, balance=balance)
    body = await assert_payment(bank, await pay(acme, consent.payment(), token=consent.token), 201)
    assert body["Data"]["Status"] == "Pending"
    return consent, body["Data"]["DomesticPaymentId"]


async def test_an_operator_releases_a_held_payment_once(
    bank: PaymentBank, acme: PaymentTpp, decided: list[Any]
) -> None:
    """kaimen risk release: the held payment is posted then, exactly once however many releases race."""
    consent, payment_id = await _held(bank, acme, decided)
    payments = bank.app.components.payments
    assert [p.payment_id for p in await payments.held()] == [payment_id]
    released = await asyncio.gather(*(payments.release(payment_id) for _ in range(5)))
    done = [payment for payment in released if payment is not None]
    assert len(done) == 1 and done[0].status.value == "AcceptedSettlementCompleted"
    assert len(await postings_for(bank)) == 1
    assert await booked(bank, consent.account_id) == 100_000 - 16_588
    assert await payments.held() == []
    read = await assert_payment(bank, await acme.get(f"{PAYMENTS}/{payment_id}"), 200)
    assert read["Data"]["Status"] == "AcceptedSettlementCompleted"


async def test_a_released_payment_still_needs_the_funds(
    bank: PaymentBank, acme: PaymentTpp, decided: list[Any]
) -> None:
    consent, payment_id = await _held(bank, acme, decided, balance=1_000)
    released = await bank.app.components.payments.release(payment_id)
    assert released is not None and released.status.value == "Rejected"
    assert await postings_for(bank) == []
    assert await booked(bank, consent.account_id) == 1_000


async def test_an_operator_rejects_a_held_payment_and_the_tpp_reads_no_note(
    bank: PaymentBank, acme: PaymentTpp, decided: list[Any]
) -> None:
    """The operator's reason is an internal note about the payer: kept with the payment for the
    operator, the TPP reads the fixed text of a rejection."""
    _, payment_id = await _held(bank, acme, decided)
    payments = bank.app.components.payments
    rejected = await payments.reject_held(payment_id, "the customer did not recognise it")
    assert rejected is not None and rejected.status.value == "Rejected"
    assert rejected.risk_reasons == ("the customer did not recognise it",)
    assert await payments.release(payment_id) is None  # decided: nothing more to do
    assert await payments.reject_held(payment_id, "again") is None
    assert await postings_for(bank) == []
    details = await assert_details(bank, await acme.get(f"{PAYMENTS}/{payment_id}/payment-details"))
    [entry] = details["Data"]["PaymentStatus"]
    assert entry["StatusDetail"]["StatusReason"] == "ProprietaryRejection"
    assert entry["StatusDetail"]["StatusReasonDescription"] == REJECTED_BY_CHECKS
    assert "recognise" not in details_text(details)


async def test_only_a_held_payment_can_be_released(bank: PaymentBank, acme: PaymentTpp) -> None:
    consent = await authorised(bank, acme)
    body = await assert_payment(bank, await pay(acme, consent.payment(), token=consent.token), 201)
    payment_id = body["Data"]["DomesticPaymentId"]
    assert await bank.app.components.payments.release(payment_id) is None
    assert await bank.app.components.payments.release("pmt-unknown") is None
    assert len(await postings_for(bank)) == 1


async def test_the_operator_commands_list_release_and_reject_held_payments(
    bank: PaymentBank, acme: PaymentTpp, decided: list[Any], tmp_path: Any
) -> None:
    """kaimen risk held | release | reject, against the database the app serves from."""
    _, first = await _held(bank, acme, decided)
    _, second = await _held(bank, acme, decided)
    runner = CliRunner()
    url = bank.app.components.settings.sqlalchemy_url

    async def kaimen(*args: str) -> Result:
        base = ["--data-dir", str(tmp_path), "--database-url", url, "risk", *args]
        return await asyncio.to_thread(runner.invoke, cli, base, catch_exceptions=False)

    listed = await kaimen("held", "--json")
    assert listed.exit_code == 0, listed.output
    assert [p["payment_id"] for p in json.loads(listed.output)] == [first, second]
    assert json.loads(listed.output)[0]["reasons"] == ["new payee", "night time"]
    released = await kaimen("release", first)
    assert released.exit_code == 0 and "AcceptedSettlementCompleted" in released.output
    refused = await kaimen("reject", second, "--reason", "mule account suspected")
    assert refused.exit_code == 0 and "Rejected" in refused.output
    again = await kaimen("release", first)
    assert again.exit_code != 0 and "is not a payment held for review" in again.output
    assert json.loads((await kaimen("held", "--json")).output) == []
    assert len(await postings_for(bank)) == 1


# --- the consent, scored as the TPP creates it -------------------------------------------------------


async def stored(bank: PaymentBank) -> list[DomesticPaymentConsent]:
    async with bank.app.components.db.read() as session:
        return list((await session.execute(select(DomesticPaymentConsent))).scalars())


async def keys_stored(bank: PaymentBank) -> int:
    async with bank.app.components.db.read() as session:
        return len(list((await session.execute(select(IdempotencyKey))).scalars()))


async def test_a_failing_risk_engine_leaves_no_consent_and_no_key(
    bank: PaymentBank, acme: PaymentTpp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """kaimen.apis.payments.risk_check: "an exception from it fails the request with a 500 and nothing
    is written". The consent is scored before it is written, so the TPP's retry with the same key is a
    new request, scored, never an unscored consent answered as a replay."""
    seen: list[ConsentRiskContext] = []

    async def fails_once(self: NoRiskChecks, context: ConsentRiskContext) -> Any:
        seen.append(context)
        if len(seen) == 1:
            raise RuntimeError("risk store down")
        return RiskDecision("reject", ("payee on the deny list",))

    monkeypatch.setattr(NoRiskChecks, "assess_consent", fails_once)
    content = encode(consent_body())
    failed = await acme.post(None, content=content, idempotency_key="order-7")
    assert failed.status_code == 500
    unexpected = {"ErrorCode": "UK.OBIE.UnexpectedError", "Message": "Internal server error"}
    assert failed.json()["Errors"] == [unexpected]
    await bank.assert_signed(failed)
    assert await stored(bank) == [] and await keys_stored(bank) == 0
    retry = await acme.post(None, content=content, idempotency_key="order-7")
    retried = await assert_consent(bank, retry, 201)
    assert retried["Data"]["Status"] == "Rejected"
    assert len(seen) == 2 and seen[1].consent_id == retried["Data"]["ConsentId"]
    assert [(row.id, row.status) for row in await stored(bank)] == [(seen[1].consent_id, "Rejected")]
    assert await keys_stored(bank) == 1


@pytest.mark.parametrize(
    ("outcome", "status", "step_up"),
    [("allow", "AwaitingAuthorisation", False), ("reject", "Rejected", False),
     ("step_up", "AwaitingAuthorisation", True), ("hold", "AwaitingAuthorisation", True)],
)  # fmt: skip
async def test_the_consent_is_written_with_its_risk_outcome(
    bank: PaymentBank,
    acme: PaymentTpp,
    monkeypatch: pytest.MonkeyPatch,
    outcome: str,
    status: str,
    step_up: bool,
) -> None:
    """risk_check: ``reject`` creates the consent Rejected, ``step_up``/``hold`` marks it for step-up,
    in the transaction that creates it; a replay is not scored again."""
    seen: list[ConsentRiskContext] = []

    async def decides(self: NoRiskChecks, context: ConsentRiskContext) -> Any:
        seen.append(context)
        return RiskDecision(outcome)

    monkeypatch.setattr(NoRiskChecks, "assess_consent", decides)
    first = await assert_consent(bank, await acme.post(consent_body(), idempotency_key="order-8"), 201)
    again = await assert_consent(bank, await acme.post(consent_body(), idempotency_key="order-8"), 201)
    assert first["Data"]["Status"] == status and again["Data"] == first["Data"]
    [row] = await stored(bank)
    assert (row.status, row.step_up) == (status, step_up)
    [context] = seen
    assert (context.consent_id, context.client_id, context.amount_minor) == (row.id, acme.client_id, 16_588)
