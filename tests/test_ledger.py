"""The sandbox ledger's reads (CoreBanking): accounts scoped to their customer, balances derived from
postings, transactions filtered and paged, party and product. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from kaimen.ledger.core import (
    SORT_CODE_ACCOUNT_NUMBER,
    AccountSubType,
    BalanceType,
    CreditLine,
    CreditLineType,
    EntryStatus,
    OtherProductType,
    ProductType,
    TransactionQuery,
)
from kaimen.ledger.errors import AccountNotFound, PartyNotFound
from kaimen.ledger.history import seed_history
from kaimen.ledger.internal import CLEARING_OUT, WORLD
from kaimen.ledger.models import LedgerEntry
from kaimen.ledger.money import CreditDebit, Money
from kaimen.ledger.sandbox import SandboxLedger, sandbox_core_banking
from kaimen.store.db import Database
from tests.test_ledger_support import CUSTOMERS, NAMES, NOW, TODAY, book, ledger, open_account

__all__ = ["ledger"]  # fixtures


async def seeded(db: Database) -> None:
    assert await seed_history(db, CUSTOMERS, seed=42, today=TODAY, names=NAMES) == CUSTOMERS


async def test_accounts_lists_the_customers_own_accounts_only(db: Database, ledger: SandboxLedger) -> None:
    await seeded(db)
    seen: set[str] = set()
    for customer_id in CUSTOMERS:
        accounts = await ledger.accounts(customer_id)
        assert 2 <= len(accounts) <= 3
        assert accounts[0].account_subtype is AccountSubType.CURRENT_ACCOUNT  # the oldest comes first
        for account in accounts:
            assert account.customer_id == customer_id
            assert account.scheme_name == SORT_CODE_ACCOUNT_NUMBER
            assert len(account.identification) == 14 and account.identification.isdigit()
            assert account.currency == "GBP"
            assert account.name == NAMES[customer_id]
            assert await ledger.account(customer_id, account.account_id) == account
        assert await sandbox_core_banking(db).accounts(customer_id) == accounts
        ids = {a.account_id for a in accounts}
        assert not ids & seen
        seen |= ids
    assert await ledger.accounts("cus_nobody") == []


async def test_another_customers_account_is_not_found(db: Database, ledger: SandboxLedger) -> None:
    """Object-level authorisation: an account id of another customer, of the bank itself, or of
    nothing, fails the same way on every read."""
    await seeded(db)
    bobs = (await ledger.accounts("cus_bob"))[0].account_id
    for account_id in (bobs, WORLD, CLEARING_OUT, "acc_does_not_exist"):
        with pytest.raises(AccountNotFound):
            await ledger.account("cus_alice", account_id)
        with pytest.raises(AccountNotFound):
            await ledger.balances("cus_alice", account_id)
        with pytest.raises(AccountNotFound):
            await ledger.product("cus_alice", account_id)
        with pytest.raises(AccountNotFound):
            await ledger.account_parties("cus_alice", account_id)
        with pytest.raises(AccountNotFound):
            await ledger.funds_available("cus_alice", account_id, Money(1, "GBP"))
        alices = (await ledger.accounts("cus_alice"))[0].account_id
        with pytest.raises(AccountNotFound):  # one foreign id in a bulk read refuses the whole read
            await ledger.transactions("cus_alice", [alices, account_id], TransactionQuery())


async def test_balances_are_derived_from_booked_and_pending_entries(
    db: Database, ledger: SandboxLedger
) -> None:
    account = await open_account(db, "cus_alice", credit_limit=50_000)
    yesterday = NOW - timedelta(days=1)
    await book(db, account.id, 10_000, yesterday)
    await book(db, account.id, -2_500, yesterday + timedelta(hours=3))
    await book(db, account.id, 4_000, NOW - timedelta(hours=2))  # booked today: not in ClosingBooked
    await book(db, account.id, -700, NOW - timedelta(hours=1), EntryStatus.PENDING)
    await book(db, account.id, 300, NOW - timedelta(minutes=5), EntryStatus.PENDING)  # not yet available
    balances = await ledger.balances("cus_alice", account.id)
    overdraft = Money(50_000, "GBP")
    assert [(b.type, b.amount, b.credit_lines) for b in balances] == [
        (
            BalanceType.INTERIM_AVAILABLE,
            Money(11_500 - 700 + 50_000, "GBP"),
            (CreditLine(True, CreditLineType.PRE_AGREED, overdraft),),
        ),
        (
            BalanceType.INTERIM_BOOKED,
            Money(11_500, "GBP"),
            (CreditLine(False, CreditLineType.PRE_AGREED, overdraft),),
        ),
        (
            BalanceType.CLOSING_BOOKED,
            Money(7_500, "GBP"),
            (CreditLine(False, CreditLineType.PRE_AGREED, overdraft),),
        ),
    ]
    assert balances[0].at == NOW and balances[1].at == NOW
    assert balances[2].at == datetime(2026, 11, 25, 23, 59, 59, 999999, tzinfo=UTC)
    assert await ledger.funds_available("cus_alice", account.id, Money(60_800, "GBP"))
    assert not await ledger.funds_available("cus_alice", account.id, Money(60_801, "GBP"))


async def test_a_credit_card_balance_is_a_debit_with_its_credit_line(
    db: Database, ledger: SandboxLedger
) -> None:
    card = await open_account(db, "cus_bob", AccountSubType.CREDIT_CARD, credit_limit=300_000)
    await book(db, card.id, -45_000, NOW - timedelta(days=2))
    available, booked, _closing = await ledger.balances("cus_bob", card.id)
    assert booked.amount == Money(-45_000, "GBP") and booked.amount.credit_debit is CreditDebit.DEBIT
    assert booked.amount.ob_amount() == "450.00"
    assert available.amount == Money(255_000, "GBP") and available.amount.credit_debit is CreditDebit.CREDIT
    assert available.credit_lines == (CreditLine(True, CreditLineType.CREDIT, Money(300_000, "GBP")),)
    savings = await open_account(db, "cus_bob", AccountSubType.SAVINGS)
    assert [b.credit_lines for b in await ledger.balances("cus_bob", savings.id)] == [(), (), ()]
    assert [b.amount for b in await ledger.balances("cus_bob", savings.id)] == [Money(0, "GBP")] * 3


async def test_seeded_balances_equal_the_sum_of_their_entries(db: Database, ledger: SandboxLedger) -> None:
    await seeded(db)
    for customer_id in CUSTOMERS:
        for account in await ledger.accounts(customer_id):
            async with db.read() as session:
                rows = (
                    await session.scalars(
                        select(LedgerEntry).where(LedgerEntry.account_id == account.account_id)
                    )
                ).all()
            booked = sum(r.amount for r in rows if r.status == "Booked")
            pending_debits = sum(r.amount for r in rows if r.status == "Pending" and r.amount < 0)
            limit = await db_limit(db, account.account_id)
            available, interim, closing = await ledger.balances(customer_id, account.account_id)
            assert interim.amount.minor == booked
            assert closing.amount.minor == booked  # the seeded history ends yesterday
            assert available.amount.minor == booked + pending_debits + limit
            assert available.amount.minor >= 0  # nothing was seeded that the account could not afford


async def db_limit(db: Database, account_id: str) -> int:
    from kaimen.ledger.models import LedgerAccount

    async with db.read() as session:
        row = await session.get(LedgerAccount, account_id)
    assert row is not None
    return row.credit_limit


async def test_every_posting_balances_to_zero(db: Database) -> None:
    await seeded(db)
    async with db.read() as session:
        sums = (
            await session.execute(
                select(LedgerEntry.posting_id, func.sum(LedgerEntry.amount), func.count()).group_by(
                    LedgerEntry.posting_id
                )
            )
        ).all()
    assert len(sums) > 300
    assert {(int(total), n) for _posting, total, n in sums} == {(0, 2)}


async def test_running_balance_is_the_booked_balance_after_each_entry(
    db: Database, ledger: SandboxLedger
) -> None:
    await seeded(db)
    for customer_id in CUSTOMERS:
        for account in await ledger.accounts(customer_id):
            async with db.read() as session:
                rows = (
                    await session.scalars(
                        select(LedgerEntry)
                        .where(LedgerEntry.account_id == account.account_id)
                        .order_by(LedgerEntry.seq)
                    )
                ).all()
            assert [r.seq for r in rows] == list(range(1, len(rows) + 1))
            running = 0
            for row in rows:
                if row.status == "Booked":
                    running += row.amount
                    assert row.balance_after == running
                else:
                    assert row.balance_after is None


async def test_transactions_come_newest_first_in_stable_pages(db: Database, ledger: SandboxLedger) -> None:
    account = await open_account(db, "cus_carol", credit_limit=100_000)
    start = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
    ids = [await book(db, account.id, -(100 + i), start + timedelta(days=i)) for i in range(7)]
    query = TransactionQuery(page_size=3)
    pages = [
        await ledger.transactions("cus_carol", [account.id], TransactionQuery(page=p, page_size=3))
        for p in (1, 2, 3, 4)
    ]
    assert [[t.transaction_id for t in page.items] for page in pages] == [
        [ids[6], ids[5], ids[4]],
        [ids[3], ids[2], ids[1]],
        [ids[0]],
        [],
    ]
    assert {(page.total, page.total_pages) for page in pages} == {(7, 3)}
    first = pages[0].items[0]
    assert first.amount == Money(-106, "GBP") and first.credit_debit is CreditDebit.DEBIT
    assert first.balance == Money(-(100 + 101 + 102 + 103 + 104 + 105 + 106), "GBP")
    assert first.booking_at == start + timedelta(days=6) and first.status is EntryStatus.BOOKED
    assert query.page == 1


async def test_seeded_pages_cover_every_transaction_once(db: Database, ledger: SandboxLedger) -> None:
    await seeded(db)
    accounts = [a.account_id for a in await ledger.accounts("cus_alice")]
    everything = await ledger.transactions("cus_alice", accounts, TransactionQuery(page_size=1000))
    paged = []
    for page in range(1, everything.total // 25 + 2):
        paged.extend(
            (
                await ledger.transactions("cus_alice", accounts, TransactionQuery(page=page, page_size=25))
            ).items
        )
    assert paged == list(everything.items)
    assert len(paged) == everything.total > 100
    assert [t.booking_at for t in paged] == sorted((t.booking_at for t in paged), reverse=True)


async def test_booking_date_window_is_inclusive_and_filters_credits_or_debits(
    db: Database, ledger: SandboxLedger
) -> None:
    account = await open_account(db, "cus_alice")
    at = [datetime(2026, 11, day, 12, 0, tzinfo=UTC) for day in (10, 11, 12, 13)]
    first = await book(db, account.id, 5_000, at[0])
    second = await book(db, account.id, -1_000, at[1])
    third = await book(db, account.id, 2_000, at[2])
    await book(db, account.id, -500, at[3])

    async def ids(**query: object) -> list[str]:
        page = await ledger.transactions("cus_alice", [account.id], TransactionQuery(**query))  # type: ignore[arg-type]
        return [t.transaction_id for t in page.items]

    assert await ids(from_booking=at[0], to_booking=at[2]) == [third, second, first]
    assert await ids(from_booking=at[0] + timedelta(microseconds=1), to_booking=at[2]) == [third, second]
    assert await ids(from_booking=at[1], to_booking=at[2] - timedelta(microseconds=1)) == [second]
    assert await ids(to_booking=at[1], credit_debit=CreditDebit.CREDIT) == [first]
    assert await ids(from_booking=at[1], credit_debit=CreditDebit.DEBIT) == [
        (await ledger.transactions("cus_alice", [account.id], TransactionQuery())).items[0].transaction_id,
        second,
    ]
    with pytest.raises(ValueError, match="timezone-aware"):
        TransactionQuery(from_booking=datetime(2026, 11, 10))
    with pytest.raises(ValueError, match="page_size"):
        TransactionQuery(page_size=0)


async def test_seeded_transactions_carry_the_uk_ob_fields(db: Database, ledger: SandboxLedger) -> None:
    await seeded(db)
    current = (await ledger.accounts("cus_alice"))[0]
    items = (
        await ledger.transactions("cus_alice", [current.account_id], TransactionQuery(page_size=1000))
    ).items
    salary = [t for t in items if t.proprietary_code and t.proprietary_code.code == "BGC"]
    assert len(salary) == 3  # September, October and November paydays
    for t in salary:
        assert t.credit_debit is CreditDebit.CREDIT and t.debtor_account is not None
        assert t.debtor_account.scheme_name == SORT_CODE_ACCOUNT_NUMBER and t.debtor_account.name
        assert t.bank_transaction_code is not None
        assert (t.bank_transaction_code.code, t.bank_transaction_code.sub_code) == (
            "ReceivedCreditTransfers",
            "SalaryPayment",
        )
        assert t.transaction_reference and t.transaction_reference.startswith("SALARY ")
    cards = [t for t in items if t.merchant is not None]
    assert len(cards) > 50
    assert {t.merchant.category_code for t in cards if t.merchant} <= {
        "5411",
        "5812",
        "5814",
        "5541",
        "4111",
        "4121",
        "5912",
        "5942",
        "5651",
        "5732",
        "7832",
        "5813",
        "4899",
        "7997",
        "5815",
    }
    assert all(t.credit_debit is CreditDebit.DEBIT for t in cards)
    assert all(t.balance is None for t in items if t.status is EntryStatus.PENDING)
    assert all(t.balance is not None for t in items if t.status is EntryStatus.BOOKED)
    assert min(t.booking_at for t in items).date() == TODAY - timedelta(days=90)
    assert max(t.booking_at for t in items).date() == TODAY - timedelta(days=1)


async def test_party_and_product(db: Database, ledger: SandboxLedger) -> None:
    await seeded(db)
    party = await ledger.party("cus_carol")
    assert (party.name, party.full_legal_name, party.party_type) == ("Carol Wang", "Carol Wang", "Sole")
    assert party.email == "carol.wang@example.com"
    assert party.address is not None and party.address.country == "GB"
    accounts = await ledger.accounts("cus_carol")
    parties = await ledger.account_parties("cus_carol", accounts[0].account_id)
    assert [(p.party_id, p.account_role) for p in parties] == [(party.party_id, "UK.OBIE.Principal")]
    product = await ledger.product("cus_carol", accounts[0].account_id)
    assert product.product_type is ProductType.PERSONAL_CURRENT_ACCOUNT
    assert product.product_id in {"KSB-PCA-EVERYDAY", "KSB-PCA-REWARD"}
    assert product.other_product_type is None
    savings = await open_account(db, "cus_carol", AccountSubType.SAVINGS)
    assert await ledger.product("cus_carol", savings.id) == type(product)(
        savings.id,
        "KSB-SAV-EASY",
        "Kaimen Easy Saver",
        ProductType.OTHER,
        OtherProductType("Easy access savings", "Instant-access savings account, variable rate."),
    )
    with pytest.raises(PartyNotFound):
        await ledger.party("cus_nobody")
