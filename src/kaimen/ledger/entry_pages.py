"""A page of ledger entries, read in two steps: which entries (id and version), then only the entries
this worker has not built a record of yet.

Every entry carries a ``version`` that the database itself moves on every UPDATE of the row (a trigger,
migration 0016), whoever runs it, so (id, version) names one content of an entry and the record built
from it never goes stale. A TPP polls the same recent pages again and again: reading the page's ids
and versions cost a third of reading its full rows, and the full rows were the largest part of an AIS
transactions call on SQLite (bench/profile_accounts.py, bench/accounts_bench.py with py-spy).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from kaimen.ledger.codes import ISSUER
from kaimen.ledger.core import (
    BankTransactionCode,
    CounterpartyAccount,
    EntryStatus,
    Merchant,
    ProprietaryBankTransactionCode,
    Transaction,
    TransactionPage,
    TransactionQuery,
)
from kaimen.ledger.money import CreditDebit, Money
from kaimen.store.bounded import BoundedDict
from kaimen.store.direct import SqliteDirect, stored_time
from kaimen.store.direct_postgres import PostgresDirect

# The columns ``entry_view`` reads, in its order; ``version`` last (with ``id``, the record's key).
_ENTRY = (
    "id, account_id, amount, currency, status, booked_at, value_at, balance_after, transaction_reference, "
    "information, btc_code, btc_sub_code, proprietary_code, merchant_name, merchant_category_code, "
    "counterparty_scheme, counterparty_identification, counterparty_name, version"
)
_STATUSES = {status.value: status for status in EntryStatus}

# Records of entries read lately, by (id, version). 10,000 entries is 400 pages of 25: about 13 MB per
# worker when full (records of fully detailed card payments, measured with tracemalloc).
_RECENT = BoundedDict[Transaction](10_000)


# Pages one ledger built lately (kaimen.ledger.sandbox.SandboxLedger.pages). 500 pages of 25 hold at most
# 12,500 records, most of them the recent records above.
PAGES_KEPT = 500


@functools.cache
def versions_statement(accounts: int) -> str:
    """Owner and entries version of ``accounts`` accounts (``:a0`` ...)."""
    ids = ", ".join(f":a{n}" for n in range(accounts))
    return f"SELECT id, customer_id, entries_version FROM ledger_accounts WHERE id IN ({ids})"  # noqa: S608


class Pages:
    """Pages built lately, kept under everything they are made from: the customer, the query, and each
    account asked for with the version of its entries, which the database moves on every insert,
    update or delete of one of them (migration 0018). A TPP polling an account that did not change
    costs one primary-key read, not the page's; a change to any of its entries is a new key.

    Versions first, page after: the page is read in a later snapshot than the versions (each
    statement reads its own), so a page kept under a version is never older than that version, only
    possibly newer, which is what a concurrent reader may see anyway."""

    def __init__(self, direct: SqliteDirect | PostgresDirect, kept: int = PAGES_KEPT) -> None:
        self.direct = direct
        self._kept = BoundedDict[TransactionPage](kept)

    async def read(
        self, customer_id: str, account_ids: list[str], query: TransactionQuery
    ) -> tuple[int, TransactionPage]:
        """How many of ``account_ids`` are the customer's, and ``query``'s page of their entries (empty
        unless all of them are)."""
        params = {f"a{n}": account_id for n, account_id in enumerate(account_ids)}
        rows = await self.direct.rows(versions_statement(len(account_ids)), params)
        versions = {account_id: version for account_id, owner, version in rows if owner == customer_id}
        if len(versions) != len(account_ids):
            return len(versions), TransactionPage((), 0, query.page, query.page_size)
        key = (customer_id, query, *((account_id, versions[account_id]) for account_id in account_ids))
        page = self._kept.entries.get(key)
        if page is not None:
            return len(account_ids), page
        owned, page = await read_page(self.direct, customer_id, account_ids, query)
        if owned == len(account_ids):
            self._kept.put(key, page)
        return owned, page


@functools.cache
def page_statement(accounts: int, low: bool, high: bool, direction: CreditDebit | None) -> str:
    """The SQL of the first step for ``accounts`` account ids (``:a0`` ...), the bounds given and the
    direction wanted. Its rows: (how many of the ids are the customer's accounts, how many entries
    match, then the id and version of one entry of the page, NULL when the page is empty); one row at
    least. Only entries of the customer's own accounts are counted or read.

    Newest first; ``seq`` (unique per account) makes the order total, so pages never overlap. With one
    account, ``account_id = :a0`` lets both databases walk ix_ledger_entries_page (account_id,
    booked_at, seq, id, version) backwards and stop after the page, with nothing to sort and no table
    row to visit. Built from constants only: every value is a bound parameter."""
    ids = ", ".join(f":a{n}" for n in range(accounts))
    owned = f"SELECT id FROM ledger_accounts WHERE customer_id = :customer AND id IN ({ids})"  # noqa: S608
    if accounts == 1:
        where = ["account_id = :a0", f"EXISTS ({owned})"]
        order = "booked_at DESC, seq DESC"
    else:
        where = [f"account_id IN ({owned})"]
        order = "booked_at DESC, account_id, seq DESC"
    if low:
        where.append("booked_at >= :low")
    if high:
        where.append("booked_at <= :high")
    if direction is CreditDebit.CREDIT:
        where.append("amount > 0")
    elif direction is CreditDebit.DEBIT:
        where.append("amount < 0")
    matching = " AND ".join(where)
    return (
        f"SELECT (SELECT count(*) FROM ({owned}) AS o), "  # noqa: S608
        f"(SELECT count(*) FROM ledger_entries WHERE {matching}), p.id, p.version "
        f"FROM (SELECT 1 AS one) AS base LEFT JOIN (SELECT id, version, {order.replace(' DESC', '')} "
        f"FROM ledger_entries WHERE {matching} ORDER BY {order} LIMIT :limit OFFSET :skip) AS p ON 1 = 1 "
        f"ORDER BY {', '.join('p.' + key for key in order.split(', '))}"
    )


@functools.cache
def entries_statement(count: int) -> str:
    """The second step: the full rows of ``count`` entries (``:e0`` ...), in no particular order."""
    ids = ", ".join(f":e{n}" for n in range(count))
    return f"SELECT {_ENTRY} FROM ledger_entries WHERE id IN ({ids})"  # noqa: S608


async def read_page(
    direct: SqliteDirect | PostgresDirect, customer_id: str, account_ids: list[str], query: TransactionQuery
) -> tuple[int, TransactionPage]:
    """How many of ``account_ids`` are ``customer_id``'s, and ``query``'s page of their entries, read
    afresh. ``direct`` is the database's plain-SQL access (kaimen.store.direct)."""
    statement = page_statement(
        len(account_ids), query.from_booking is not None, query.to_booking is not None, query.credit_debit
    )
    params: dict[str, Any] = {f"a{n}": account_id for n, account_id in enumerate(account_ids)}
    params.update(customer=customer_id, limit=query.page_size, skip=(query.page - 1) * query.page_size)
    if query.from_booking is not None:
        params["low"] = query.from_booking
    if query.to_booking is not None:
        params["high"] = query.to_booking
    rows = await direct.rows(statement, params)
    keys = [(row[2], row[3]) for row in rows if row[2] is not None]
    # Taken now: other calls may push these out of the bounded cache while the second step awaits.
    records: dict[str, Transaction] = {}
    missing: dict[str, None] = {}
    known = _RECENT.entries
    for key in keys:
        record = known.get(key)
        if record is None:
            missing[key[0]] = None
        else:
            records[key[0]] = record
    if missing:
        params = {f"e{n}": entry_id for n, entry_id in enumerate(missing)}
        for row in await direct.rows(entries_statement(len(missing)), params):
            records[row[0]] = recent_entry(row)
    # An entry changed between the two steps is read as it is now; one deleted meanwhile is left out.
    items = tuple(records[entry_id] for entry_id, _ in keys if entry_id in records)
    return int(rows[0][0]), TransactionPage(items, int(rows[0][1]), query.page, query.page_size)


def recent_entry(row: Sequence[Any]) -> Transaction:
    """The record of a row of ``_ENTRY``, from the recent records when that (id, version) was built before."""
    return _RECENT.built((row[0], row[-1]), lambda _key: entry_view(row))


def entry_view(row: Sequence[Any]) -> Transaction:
    """A row of ``_ENTRY`` as the core's record, read positionally from plain rows as both databases
    return them (no ORM object is built on the transactions path)."""
    (
        transaction_id,
        account_id,
        amount,
        currency,
        status,
        booked_at,
        value_at,
        balance_after,
        reference,
        information,
        btc_code,
        btc_sub_code,
        proprietary,
        merchant_name,
        category_code,
        scheme,
        identification,
        name,
        _version,
    ) = row
    counterparty = None
    if scheme or identification or name:
        counterparty = CounterpartyAccount(scheme, identification, name)
    booking_at = stored_time(booked_at)
    valued_at = booking_at if value_at == booked_at else stored_time(value_at)  # mostly the same moment
    assert booking_at is not None and valued_at is not None  # NOT NULL columns
    return Transaction(
        account_id,
        transaction_id,
        reference,
        Money(amount, currency),
        _STATUSES.get(status) or EntryStatus(status),
        booking_at,
        valued_at,
        information,
        BankTransactionCode(btc_code, btc_sub_code) if btc_code and btc_sub_code else None,
        ProprietaryBankTransactionCode(proprietary, ISSUER) if proprietary else None,
        Merchant(merchant_name, category_code) if merchant_name and category_code else None,
        Money(balance_after, currency) if balance_after is not None else None,
        counterparty if amount < 0 else None,
        counterparty if amount > 0 else None,
    )
