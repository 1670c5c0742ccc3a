"""Data.Refund and Data.Debtor of a domestic payment (OBWriteDomesticResponse5; kaimen.apis.payments
.refund_account): when the consent's Data.ReadRefundAccount is "Yes" and the payment debited the
customer's account, POST /domestic-payments and GET /domestic-payments/{DomesticPaymentId} carry that
account, as the bank's core knows it, as Refund.Account, and its holder's name as Debtor.Name; otherwise
neither member, and never a null. Every answer is validated against the spec file and its signature
verified. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete, update

from kaimen.apis.payments.models import DomesticPayment
from kaimen.apis.payments.risk_check import NoRiskChecks, PaymentRiskContext, RiskDecision
from kaimen.ledger.models import LedgerAccount, LedgerParty
from kaimen.store.types import utcnow
from tests.domestic_payments_support import (
    PAYMENTS,
    assert_payment,
    authorised,
    pay,
    server,
)
from tests.payments_support import PaymentBank, PaymentTpp, acme, bank, consent_body
from tests.test_ledger_support import NAMES, book, open_account

__all__ = ["acme", "bank", "server"]  # fixtures

SORT_CODE_ACCOUNT_NUMBER = "UK.OBIE.SortCodeAccountNumber"
# Data's members when the response carries neither Refund nor Debtor.
PLAIN = {"DomesticPaymentId", "ConsentId", "CreationDateTime", "Status", "StatusUpdateDateTime", "Initiation"}


def asking(read_refund_account: str | None, **initiation: Any) -> dict[str, Any]:
    """An OBWriteDomesticConsent4 with Data.ReadRefundAccount ``read_refund_account`` (None: absent)."""
    body = consent_body(**initiation)
    if read_refund_account is not None:
        body["Data"]["ReadRefundAccount"] = read_refund_account
    return body


def refund_of(account: LedgerAccount, name: str) -> dict[str, Any]:
    """The two members the response adds for ``account``, held by ``name``."""
    return {
        "Refund": {
            "Account": {
                "SchemeName": SORT_CODE_ACCOUNT_NUMBER,
                "Identification": account.identification,
                "Name": name,
            }
        },
        "Debtor": {"Name": name},
    }


async def read(bank: PaymentBank, tpp: PaymentTpp, payment_id: str) -> dict[str, Any]:
    data: dict[str, Any] = (await assert_payment(bank, await tpp.get(f"{PAYMENTS}/{payment_id}"), 200))[
        "Data"
    ]
    return data


async def test_yes_gives_the_account_the_customer_picked_as_refund_and_its_holder_as_debtor(
    bank: PaymentBank, acme: PaymentTpp
) -> None:
    """Domestic Payments, "Domestic Payment - Response": refund account details when the PISP asked for
    them in the consent; Debtor.Name only with ReadRefundAccount "Yes" (the spec file's OBCashAccountDebtor4).
    Alice holds two accounts and pays from the second: that one is the refund account."""
    db = bank.app.components.db
    await open_account(db, "cus_alice")
    picked = await open_account(db, "cus_alice")
    await book(db, picked.id, 100_000, utcnow() - timedelta(days=1))
    consent = await authorised(bank, acme, consent=asking("Yes"), account_id=picked.id)
    key = "refund-yes-1"
    created = await assert_payment(
        bank, await pay(acme, consent.payment(), token=consent.token, idempotency_key=key), 201
    )
    data = created["Data"]
    assert data["Status"] == "AcceptedSettlementCompleted"
    plain = {name: data[name] for name in PLAIN}
    assert data == {**plain, **refund_of(picked, NAMES["cus_alice"])}
    assert plain["Initiation"] == consent.consent["Data"]["Initiation"]
    # GET, and a replay of the idempotency key, answer the same.
    assert await read(bank, acme, data["DomesticPaymentId"]) == data
    replay = await pay(acme, consent.payment(), token=consent.token, idempotency_key=key)
    assert (await assert_payment(bank, replay, 201))["Data"] == data


@pytest.mark.parametrize("read_refund_account", ["No", None], ids=["No", "absent"])
async def test_no_or_absent_gives_neither_refund_nor_debtor(
    bank: PaymentBank, acme: PaymentTpp, read_refund_account: str | None
) -> None:
    consent = await authorised(bank, acme, consent=asking(read_refund_account))
    created = await assert_payment(bank, await pay(acme, consent.payment(), token=consent.token), 201)
    data = created["Data"]
    assert data["Status"] == "AcceptedSettlementCompleted"
    assert set(data) == PLAIN
    assert await read(bank, acme, data["DomesticPaymentId"]) == data


async def test_the_refund_account_is_the_banks_record_not_what_the_tpp_sent(
    bank: PaymentBank, acme: PaymentTpp
) -> None:
    """The TPP named the DebtorAccount, with a name of its own: the answer gives the account debited, as
    the bank's core holds it (the account holder's name), never the TPP's text echoed back."""
    db = bank.app.components.db
    account = await open_account(db, "cus_alice")
    await book(db, account.id, 100_000, utcnow() - timedelta(days=1))
    named = {"SchemeName": SORT_CODE_ACCOUNT_NUMBER, "Identification": account.identification, "Name": "A C"}
    consent = await authorised(bank, acme, consent=asking("Yes", DebtorAccount=named), account_id=account.id)
    body = await assert_payment(bank, await pay(acme, consent.payment(), token=consent.token), 201)
    data = body["Data"]
    assert data["Initiation"]["DebtorAccount"] == named  # the Initiation stays as the TPP sent it
    assert {name: data[name] for name in ("Refund", "Debtor")} == refund_of(account, NAMES["cus_alice"])
    assert await read(bank, acme, data["DomesticPaymentId"]) == data


async def test_a_rejected_payment_debited_nothing_and_names_no_refund_account(
    bank: PaymentBank, acme: PaymentTpp
) -> None:
    consent = await authorised(bank, acme, consent=asking("Yes"), balance=100)  # short of 165.88
    body = await assert_payment(bank, await pay(acme, consent.payment(), token=consent.token), 201)
    data = body["Data"]
    assert data["Status"] == "Rejected"
    assert set(data) == PLAIN
    assert await read(bank, acme, data["DomesticPaymentId"]) == data


async def test_a_held_payment_names_the_refund_account_once_released(
    bank: PaymentBank, acme: PaymentTpp, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def hold(self: NoRiskChecks, context: PaymentRiskContext) -> RiskDecision:
        return RiskDecision("hold", ("new payee",))

    monkeypatch.setattr(NoRiskChecks, "assess_payment", hold)
    consent = await authorised(bank, acme, consent=asking("Yes"))
    body = await assert_payment(bank, await pay(acme, consent.payment(), token=consent.token), 201)
    payment_id = body["Data"]["DomesticPaymentId"]
    assert body["Data"]["Status"] == "Pending"
    assert set(body["Data"]) == PLAIN
    released = await bank.app.components.payments.release(payment_id)
    assert released is not None and released.status.value == "AcceptedSettlementCompleted"
    data = await read(bank, acme, payment_id)
    async with bank.app.components.db.read() as session:
        account = await session.get(LedgerAccount, consent.account_id)
    assert account is not None
    assert data == {
        **{name: data[name] for name in PLAIN},
        **refund_of(account, NAMES["cus_alice"]),
    }
    assert data["Status"] == "AcceptedSettlementCompleted"


async def test_another_customers_account_is_never_shown(bank: PaymentBank, acme: PaymentTpp) -> None:
    """Were the payment's record to name an account of another customer, the core answers for the
    payment's own customer only: the response names no account rather than Bob's."""
    consent = await authorised(bank, acme, consent=asking("Yes"))
    body = await assert_payment(bank, await pay(acme, consent.payment(), token=consent.token), 201)
    payment_id = body["Data"]["DomesticPaymentId"]
    assert body["Data"]["Debtor"] == {"Name": NAMES["cus_alice"]}
    bob = await open_account(bank.app.components.db, "cus_bob")
    async with bank.app.components.db.write() as session:
        await session.execute(
            update(DomesticPayment).where(DomesticPayment.id == payment_id).values(debtor_account_id=bob.id)
        )
    data = await read(bank, acme, payment_id)
    assert set(data) == PLAIN
    assert NAMES["cus_bob"] not in str(data) and str(bob.identification) not in str(data)


async def test_an_account_without_a_holder_name_gives_neither_member(
    bank: PaymentBank, acme: PaymentTpp
) -> None:
    """Refund.Account.Name is required and no member is ever null: without the holder's name the
    response leaves both members out."""
    consent = await authorised(bank, acme, consent=asking("Yes"), customer="cus_nameless")
    async with bank.app.components.db.write() as session:
        await session.execute(delete(LedgerParty).where(LedgerParty.customer_id == "cus_nameless"))
    body = await assert_payment(bank, await pay(acme, consent.payment(), token=consent.token), 201)
    data = body["Data"]
    assert data["Status"] == "AcceptedSettlementCompleted"
    assert set(data) == PLAIN
    assert await read(bank, acme, data["DomesticPaymentId"]) == data
