"""The caches of recently read ledger entries (kaimen.ledger.entry_pages) and of their AIS bodies
(kaimen.apis.accounts.ais_transaction_views) never answer a change to an entry, in any column, with
what was built before it: records are kept by (id, version), and the database moves the version on
every UPDATE of the row (migration 0016); bodies are keyed by the whole record."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text, update

from kaimen.apis.accounts.ais_permissions import Grant
from kaimen.apis.accounts.ais_transaction_views import transactions_body
from kaimen.ledger import entry_pages
from kaimen.ledger.core import EntryStatus, Transaction, TransactionPage, TransactionQuery
from kaimen.ledger.entry_pages import recent_entry
from kaimen.ledger.models import LedgerAccount, LedgerEntry
from kaimen.ledger.money import Money
from kaimen.ledger.sandbox import SandboxLedger
from kaimen.store.bounded import BoundedDict
from kaimen.store.db import Database
from tests.ais_views_support import make_transaction
from tests.test_ledger_support import book, ledger, open_account

__all__ = ["ledger"]  # fixtures

AT = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
BOTH_WAYS = ["ReadTransactionsCredits", "ReadTransactionsDebits"]
DETAIL = Grant.of(["ReadAccountsDetail", "ReadTransactionsDetail", *BOTH_WAYS])
BASIC = Grant.of(["ReadAccountsBasic", "ReadTransactionsBasic", *BOTH_WAYS])


async def _first(ledger: SandboxLedger, account_id: str) -> Transaction:
    page = await ledger.transactions("cus_alice", [account_id], TransactionQuery())
    return page.items[0]


async def test_a_row_read_again_is_the_record_built_before(db: Database, ledger: SandboxLedger) -> None:
    account = await open_account(db, "cus_alice")
    await book(db, account.id, -1250, AT)
    assert await _first(ledger, account.id) is await _first(ledger, account.id)


async def test_an_entry_changed_in_the_store_is_read_as_it_is_now(
    db: Database, ledger: SandboxLedger
) -> None:
    account = await open_account(db, "cus_alice")
    entry_id = await book(db, account.id, -1250, AT, status=EntryStatus.PENDING)
    before = await _first(ledger, account.id)
    assert before.status is EntryStatus.PENDING and before.balance is None

    async with db.write() as session:
        await session.execute(
            update(LedgerEntry)
            .where(LedgerEntry.id == entry_id)
            .values(status=EntryStatus.BOOKED.value, balance_after=-1250, information="settled")
        )
    after = await _first(ledger, account.id)
    assert after.transaction_id == entry_id
    assert after.status is EntryStatus.BOOKED
    assert after.balance == Money(-1250, "GBP")
    assert after.information == "settled"


async def test_every_update_of_an_entry_moves_its_version(db: Database, ledger: SandboxLedger) -> None:
    """Whoever changes the row, in whichever column: the trigger moves the version, not the application."""
    account = await open_account(db, "cus_alice")
    entry_id = await book(db, account.id, -1250, AT)
    versions = []
    for sql in (
        "UPDATE ledger_entries SET information = 'corrected' WHERE id = :id",
        "UPDATE ledger_entries SET status = 'Pending', balance_after = NULL WHERE id = :id",
        "UPDATE ledger_entries SET version = version WHERE id = :id",
    ):
        async with db.write() as session:
            await session.execute(text(sql), {"id": entry_id})
        async with db.read() as session:
            versions.append(
                await session.scalar(select(LedgerEntry.version).where(LedgerEntry.id == entry_id))
            )
    assert versions == [1, 2, 3]


async def test_a_page_read_again_reads_only_the_account_versions(
    db: Database, ledger: SandboxLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = await open_account(db, "cus_alice")
    for minutes in range(3):
        await book(db, account.id, -100 - minutes, AT.replace(minute=minutes))
    statements = _counted(db, monkeypatch)
    first = await ledger.transactions("cus_alice", [account.id], TransactionQuery())
    assert len(statements) == 3  # the account's version, the page's ids and versions, the entries' rows
    again = await ledger.transactions("cus_alice", [account.id], TransactionQuery())
    assert statements[3:] == statements[:1]
    assert again is first and [t.amount.minor for t in again.items] == [-102, -101, -100]


async def test_a_new_entry_is_on_the_next_read_of_a_kept_page(db: Database, ledger: SandboxLedger) -> None:
    account = await open_account(db, "cus_alice")
    await book(db, account.id, -100, AT)
    assert (await ledger.transactions("cus_alice", [account.id], TransactionQuery())).total == 1
    await book(db, account.id, -200, AT.replace(minute=45))
    page = await ledger.transactions("cus_alice", [account.id], TransactionQuery())
    assert page.total == 2 and [t.amount.minor for t in page.items] == [-200, -100]


async def test_entry_changes_move_the_customer_account_s_version_only(
    db: Database, ledger: SandboxLedger
) -> None:
    """Inserts, updates (also to another account) and deletes move the customer accounts' versions;
    the bank's internal account, which takes the other side of every test posting, keeps its own."""
    alice, bob = await open_account(db, "cus_alice"), await open_account(db, "cus_bob")

    async def versions() -> dict[str, int]:
        async with db.read() as session:
            rows = (await session.execute(select(LedgerAccount.id, LedgerAccount.entries_version))).all()
        return {account_id: version for account_id, version in rows}

    before = await versions()
    entry_id = await book(db, alice.id, -1250, AT)
    after_insert = await versions()
    assert after_insert[alice.id] == before[alice.id] + 1 and after_insert[bob.id] == before[bob.id]
    assert all(after_insert[k] == 0 for k in after_insert if k not in (alice.id, bob.id))
    moved = {
        "UPDATE ledger_entries SET information = 'corrected' WHERE id = :id": {alice.id},
        "UPDATE ledger_entries SET account_id = :bob WHERE id = :id": {alice.id, bob.id},
        "DELETE FROM ledger_entries WHERE id = :id": {bob.id},  # the entry is bob's by now
    }
    for sql, accounts in moved.items():
        earlier = await versions()
        async with db.write() as session:
            await session.execute(text(sql), {"id": entry_id, "bob": bob.id})
        now = await versions()
        assert {k for k in now if now[k] != earlier[k]} == accounts, sql
        assert all(now[k] > earlier[k] for k in accounts)


def _counted(db: Database, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The statements the ledger's plain-SQL reads run from now on."""
    statements: list[str] = []
    rows = db.direct.rows

    async def counted(sql: str, params: dict[str, object]) -> list[tuple[object, ...]]:
        statements.append(sql)
        return await rows(sql, params)

    monkeypatch.setattr(db.direct, "rows", counted)
    return statements


def test_one_id_and_version_make_one_record_and_a_new_version_a_new_one() -> None:
    row = (
        "txn_1", "acc_1", -1250, "GBP", "Booked", "2026-11-20 09:30:00.000000", "2026-11-20 09:30:00.000000",
        -1250, "REF-1", "Corner Shop", "IssuedDebitTransfer", "DomesticDebitTransfer", "CARD",
        "Corner Shop", "5411", None, None, None, 0,
    )  # fmt: skip
    first = recent_entry(row)
    assert recent_entry(tuple(list(row))) is first  # an equal row, not the same tuple
    changed = recent_entry((*row[:9], "Another reference", *row[10:18], 1))
    assert changed is not first
    assert changed.information == "Another reference" and first.information == "Corner Shop"


def test_the_recent_entries_stay_within_their_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(entry_pages, "_RECENT", BoundedDict[Transaction](3))
    base = ("acc_1", -100, "GBP", "Booked", "2026-11-20 09:30:00.000000", "2026-11-20 09:30:00.000000")
    tail = (-100, None, "entry", None, None, None, None, None, None, None, None, 0)
    for n in range(10):
        recent_entry((f"txn_{n}", *base, *tail))
    assert [key[0] for key in entry_pages._RECENT.entries] == ["txn_7", "txn_8", "txn_9"]


def _body(entry: Transaction, grant: Grant) -> dict[str, object]:
    page = TransactionPage((entry,), total=1, page=1, page_size=25)
    body = transactions_body(
        page, grant, "https://bank.example/t", lambda n: f"https://bank.example/t?page={n}"
    )
    entries = body["Data"]["Transaction"]
    assert len(entries) == 1
    return entries[0]


def test_a_body_built_with_detail_is_never_served_to_basic() -> None:
    entry = make_transaction("txn_cache_depth", -1250)
    detailed = _body(entry, DETAIL)
    assert detailed["TransactionInformation"] == "Entry txn_cache_depth"
    basic = _body(entry, BASIC)
    assert "TransactionInformation" not in basic and "Balance" not in basic
    assert _body(entry, DETAIL) is detailed  # built once, shared


def test_a_changed_record_gets_its_own_body() -> None:
    entry = make_transaction("txn_cache_change", -1250, status=EntryStatus.PENDING, balance=None)
    pending = _body(entry, DETAIL)
    assert pending["Status"] == "Pending" and "Balance" not in pending
    booked = _body(entry._replace(status=EntryStatus.BOOKED, balance=Money(-1250, "GBP")), DETAIL)
    assert booked["Status"] == "Booked"
    assert booked["Balance"] == {
        "CreditDebitIndicator": "Debit",
        "Type": "InterimBooked",
        "Amount": {"Amount": "12.50", "Currency": "GBP"},
    }
    assert _body(entry, DETAIL)["Status"] == "Pending"
