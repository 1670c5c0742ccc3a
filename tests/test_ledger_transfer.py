"""``post_transfer``: double entry in one transaction, refusals that write nothing, and exactly one
posting per reference, also under concurrent calls. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select

from kaimen.ledger.core import CounterpartyAccount, EntryStatus, Posting, TransactionQuery, TransferRequest
from kaimen.ledger.errors import AccountNotFound, InsufficientFunds, InvalidPosting, ReferenceConflict
from kaimen.ledger.internal import CLEARING_OUT
from kaimen.ledger.models import LedgerEntry, LedgerPosting
from kaimen.ledger.money import Money
from kaimen.ledger.sandbox import SandboxLedger
from kaimen.store.db import Database
from tests.test_ledger_support import NOW, book, count, counterparty, ledger, open_account

__all__ = ["ledger"]  # fixtures


def gbp(minor: int) -> Money:
    return Money(minor, "GBP")


async def booked(ledger: SandboxLedger, customer_id: str, account_id: str) -> int:
    return (await ledger.balances(customer_id, account_id))[1].amount.minor


async def test_transfer_between_own_accounts_debits_and_credits_together(
    db: Database, ledger: SandboxLedger
) -> None:
    current = await open_account(db, "cus_alice")
    savings = await open_account(db, "cus_alice")
    await book(db, current.id, 10_000, NOW - timedelta(days=1))
    request = TransferRequest(
        reference="pay-1",
        customer_id="cus_alice",
        debtor_account_id=current.id,
        creditor=counterparty(savings.identification or "", "Alice Chen"),
        amount=gbp(2_500),
        information="To savings",
        remittance_reference="SAVE NOV",
    )
    posting = await ledger.post_transfer(request)
    assert (posting.reference, posting.debtor_account_id, posting.amount, posting.status) == (
        "pay-1",
        current.id,
        gbp(2_500),
        EntryStatus.BOOKED,
    )
    assert await booked(ledger, "cus_alice", current.id) == 7_500
    assert await booked(ledger, "cus_alice", savings.id) == 2_500
    async with db.read() as session:
        entries = (
            await session.scalars(select(LedgerEntry).where(LedgerEntry.posting_id == posting.posting_id))
        ).all()
    assert sorted((e.account_id, e.amount, e.balance_after, e.seq) for e in entries) == sorted(
        [(current.id, -2_500, 7_500, 2), (savings.id, 2_500, 2_500, 1)]
    )
    debit = (await ledger.transactions("cus_alice", [current.id], TransactionQuery())).items[0]
    assert debit.transaction_id == posting.transaction_id
    assert (debit.information, debit.transaction_reference, debit.balance) == (
        "To savings",
        "SAVE NOV",
        gbp(7_500),
    )
    assert debit.creditor_account == CounterpartyAccount(
        "UK.OBIE.SortCodeAccountNumber", savings.identification, "Alice Chen"
    )
    credit = (await ledger.transactions("cus_alice", [savings.id], TransactionQuery())).items[0]
    assert credit.debtor_account == CounterpartyAccount(
        "UK.OBIE.SortCodeAccountNumber", current.identification, "Alice Chen"
    )
    assert credit.bank_transaction_code is not None
    assert credit.bank_transaction_code.sub_code == "InternalBookTransfer"


async def test_payment_to_another_bank_goes_through_the_clearing_account(
    db: Database, ledger: SandboxLedger
) -> None:
    current = await open_account(db, "cus_bob")
    await book(db, current.id, 5_000, NOW - timedelta(days=1))
    payee = counterparty("11223344556677", "Acme Plumbing")
    request = TransferRequest("pay-ext", "cus_bob", current.id, payee, gbp(1_234), "Acme Plumbing")
    posting = await ledger.post_transfer(request)
    async with db.read() as session:
        entries = (
            await session.scalars(select(LedgerEntry).where(LedgerEntry.posting_id == posting.posting_id))
        ).all()
    assert sorted((e.account_id, e.amount) for e in entries) == sorted(
        [(current.id, -1_234), (CLEARING_OUT, 1_234)]
    )
    debit = (await ledger.transactions("cus_bob", [current.id], TransactionQuery())).items[0]
    assert debit.creditor_account == payee
    assert debit.bank_transaction_code is not None
    assert (debit.bank_transaction_code.code, debit.bank_transaction_code.sub_code) == (
        "IssuedCreditTransfers",
        "DomesticCreditTransfer",
    )
    assert await booked(ledger, "cus_bob", current.id) == 3_766


async def test_insufficient_funds_is_refused_and_nothing_is_written(
    db: Database, ledger: SandboxLedger
) -> None:
    current = await open_account(db, "cus_alice", credit_limit=1_000)
    await book(db, current.id, 5_000, NOW - timedelta(days=1))
    await book(db, current.id, -500, NOW - timedelta(hours=1), EntryStatus.PENDING)
    payee = counterparty("11223344556677")
    postings, entries = await count(db, LedgerPosting), await count(db, LedgerEntry)
    too_much = TransferRequest("pay-big", "cus_alice", current.id, payee, gbp(5_501), "Too much")
    with pytest.raises(InsufficientFunds) as refused:
        await ledger.post_transfer(too_much)
    assert (refused.value.available, refused.value.requested) == (gbp(5_500), gbp(5_501))
    assert (await count(db, LedgerPosting), await count(db, LedgerEntry)) == (postings, entries)
    # Exactly the available funds, the arranged overdraft included, may go.
    await ledger.post_transfer(replace(too_much, reference="pay-all", amount=gbp(5_500)))
    assert await booked(ledger, "cus_alice", current.id) == -500
    assert (await ledger.balances("cus_alice", current.id))[0].amount == gbp(0)


async def test_the_same_reference_answers_with_the_first_posting(db: Database, ledger: SandboxLedger) -> None:
    current = await open_account(db, "cus_alice")
    await book(db, current.id, 10_000, NOW - timedelta(days=1))
    request = TransferRequest(
        "pay-twice", "cus_alice", current.id, counterparty("11223344556677"), gbp(1_000), "Rent"
    )
    first = await ledger.post_transfer(request)
    second = await ledger.post_transfer(request)
    assert second == first
    assert await booked(ledger, "cus_alice", current.id) == 9_000
    with pytest.raises(ReferenceConflict):
        await ledger.post_transfer(replace(request, amount=gbp(1_001)))
    with pytest.raises(ReferenceConflict):
        await ledger.post_transfer(replace(request, creditor=counterparty("99887766554433")))
    assert await booked(ledger, "cus_alice", current.id) == 9_000


async def test_concurrent_identical_transfers_post_exactly_once(db: Database, ledger: SandboxLedger) -> None:
    current = await open_account(db, "cus_carol")
    savings = await open_account(db, "cus_carol")
    await book(db, current.id, 10_000, NOW - timedelta(days=1))
    request = TransferRequest(
        "pay-race", "cus_carol", current.id, counterparty(savings.identification or ""), gbp(3_000), "Race"
    )
    postings = await count(db, LedgerPosting)
    results: list[Posting] = await asyncio.gather(*(ledger.post_transfer(request) for _ in range(8)))
    assert len(set(results)) == 1
    assert await count(db, LedgerPosting) == postings + 1
    assert await booked(ledger, "cus_carol", current.id) == 7_000
    assert await booked(ledger, "cus_carol", savings.id) == 3_000


async def test_concurrent_transfers_never_overdraw(db: Database, ledger: SandboxLedger) -> None:
    """Five different transfers of 30.00 race for 100.00: three are posted, two refused."""
    current = await open_account(db, "cus_bob")
    await book(db, current.id, 10_000, NOW - timedelta(days=1))
    payee = counterparty("11223344556677")
    requests = [
        TransferRequest(f"pay-{i}", "cus_bob", current.id, payee, gbp(3_000), "Race") for i in range(5)
    ]
    results = await asyncio.gather(*(ledger.post_transfer(r) for r in requests), return_exceptions=True)
    assert sum(isinstance(r, Posting) for r in results) == 3
    assert sum(isinstance(r, InsufficientFunds) for r in results) == 2
    assert await booked(ledger, "cus_bob", current.id) == 1_000
    page = await ledger.transactions("cus_bob", [current.id], TransactionQuery())
    assert [t.balance for t in page.items] == [gbp(1_000), gbp(4_000), gbp(7_000), gbp(10_000)]


async def test_transfers_that_are_not_the_customers_to_make_are_refused(
    db: Database, ledger: SandboxLedger
) -> None:
    alices = await open_account(db, "cus_alice")
    bobs = await open_account(db, "cus_bob")
    await book(db, alices.id, 10_000, NOW - timedelta(days=1))
    payee = counterparty("11223344556677")
    base = TransferRequest("pay-x", "cus_bob", alices.id, payee, gbp(100), "Not mine")
    with pytest.raises(AccountNotFound):
        await ledger.post_transfer(base)
    with pytest.raises(AccountNotFound):
        await ledger.post_transfer(replace(base, debtor_account_id=CLEARING_OUT))
    mine = replace(base, customer_id="cus_alice")
    with pytest.raises(InvalidPosting):
        await ledger.post_transfer(replace(mine, amount=gbp(0)))
    with pytest.raises(InvalidPosting):
        await ledger.post_transfer(replace(mine, amount=Money(100, "EUR")))
    with pytest.raises(InvalidPosting):
        await ledger.post_transfer(replace(mine, creditor=counterparty(alices.identification or "")))
    with pytest.raises(InvalidPosting):
        await ledger.post_transfer(replace(mine, information=""))
    assert await count(db, LedgerPosting) == 1  # the funding posting only
    # Paying another customer of the bank credits their account directly.
    await ledger.post_transfer(replace(mine, creditor=counterparty(bobs.identification or "", "Bob Lin")))
    assert await booked(ledger, "cus_bob", bobs.id) == 100
    credit = (await ledger.transactions("cus_bob", [bobs.id], TransactionQuery())).items[0]
    assert credit.debtor_account == CounterpartyAccount(
        "UK.OBIE.SortCodeAccountNumber", alices.identification, "Alice Chen"
    )
