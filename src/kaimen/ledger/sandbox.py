"""``SandboxLedger``: the built-in ``CoreBanking``, over the ledger tables (SQLite or PostgreSQL).

Every read first finds the account among the customer's own (``customer_id`` in the WHERE clause), so
another customer's account id and an unknown one fail alike, with ``AccountNotFound``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, time, timedelta
from typing import Any, NoReturn

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kaimen.ledger import posting
from kaimen.ledger.codes import ISSUER
from kaimen.ledger.core import (
    Account,
    AccountSubType,
    Balance,
    BalanceType,
    BankTransactionCode,
    CoreBanking,
    CounterpartyAccount,
    CreditLine,
    EntryStatus,
    Merchant,
    Party,
    Posting,
    Product,
    ProprietaryBankTransactionCode,
    Transaction,
    TransactionPage,
    TransactionQuery,
    TransferRequest,
)
from kaimen.ledger.errors import AccountNotFound, LedgerError, PartyNotFound
from kaimen.ledger.models import LedgerAccount, LedgerParty
from kaimen.ledger.money import CreditDebit, Money
from kaimen.ledger.products import PRODUCTS, credit_line_type
from kaimen.ledger.totals import account_totals
from kaimen.ledger.views import PRINCIPAL, account_view, party_view
from kaimen.store.bounded import BoundedDict
from kaimen.store.db import Database
from kaimen.store.direct import stored_time
from kaimen.store.types import utcnow

# The columns ``entry_view`` reads, in its order; ``seq`` last, for the outer ORDER BY only.
_ENTRY = (
    "id, account_id, amount, currency, status, booked_at, value_at, balance_after, transaction_reference, "
    "information, btc_code, btc_sub_code, proprietary_code, merchant_name, merchant_category_code, "
    "counterparty_scheme, counterparty_identification, counterparty_name, seq"
)
_STATUSES = {status.value: status for status in EntryStatus}

# Entries read lately, by their whole row: the same row always makes the same (immutable) record, and
# an entry whose row changed in any column is a new key, so nothing stale can come back. A TPP polls
# the same recent pages again and again, and building the record was half the ledger's share of a
# page (bench/profile_accounts.py). 10,000 entries is 400 pages of 25: about 13 MB per worker when full
# (rows and records of fully detailed card payments, measured with tracemalloc).
_RECENT = BoundedDict[Transaction](10_000)


def start_of_day(moment: datetime) -> datetime:
    """00:00 UTC of the day ``moment`` falls on: ClosingBooked is the booked balance before it."""
    return datetime.combine(moment.astimezone(UTC).date(), time(), UTC)


@functools.cache
def page_statement(accounts: int, low: bool, high: bool, direction: CreditDebit | None) -> str:
    """The SQL of ``SandboxLedger.transactions`` for ``accounts`` account ids (``:a0`` ...), the bounds
    given and the direction wanted. Its rows: (how many of the ids are the customer's accounts, how many
    entries match, then the columns of one entry of the page, NULL when the page is empty); one row at
    least. Only entries of the customer's own accounts are counted or read.

    Newest first; ``seq`` (unique per account) makes the order total, so pages never overlap. With one
    account, ``account_id = :a0`` lets both databases walk ix_ledger_entries_account_booked_seq
    (account_id, booked_at, seq) backwards and stop after the page, with nothing to sort. Built from
    constants only: every value is a bound parameter."""
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
        f"(SELECT count(*) FROM ledger_entries WHERE {matching}), p.* "
        f"FROM (SELECT 1 AS one) AS base LEFT JOIN (SELECT {_ENTRY} FROM ledger_entries WHERE {matching} "
        f"ORDER BY {order} LIMIT :limit OFFSET :skip) AS p ON 1 = 1 "
        f"ORDER BY {', '.join('p.' + key for key in order.split(', '))}"
    )


def recent_entry(row: tuple[Any, ...]) -> Transaction:
    """``entry_view(row)``, from the recent entries when the same row was read before."""
    return _RECENT.built(row, entry_view)


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
        _seq,
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


class SandboxLedger:
    def __init__(self, db: Database, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.db = db
        self.clock = clock

    async def _owned(self, session: AsyncSession, customer_id: str, account_id: str) -> LedgerAccount:
        row = await session.scalar(
            select(LedgerAccount).where(
                LedgerAccount.id == account_id, LedgerAccount.customer_id == customer_id
            )
        )
        if row is None:
            raise AccountNotFound(account_id)
        return row

    async def accounts(self, customer_id: str) -> list[Account]:
        async with self.db.read() as session:
            rows = await session.execute(
                select(LedgerAccount, LedgerParty.name)
                .outerjoin(LedgerParty, LedgerParty.customer_id == LedgerAccount.customer_id)
                .where(LedgerAccount.customer_id == customer_id)
                .order_by(LedgerAccount.opening_date, LedgerAccount.id)
            )
            return [account_view(account, name) for account, name in rows]

    async def account(self, customer_id: str, account_id: str) -> Account:
        async with self.db.read() as session:
            row = await self._owned(session, customer_id, account_id)
            name = await session.scalar(
                select(LedgerParty.name).where(LedgerParty.customer_id == customer_id)
            )
            return account_view(row, name)

    async def balances(self, customer_id: str, account_id: str) -> list[Balance]:
        now = self.clock()
        today = start_of_day(now)
        async with self.db.read() as session:
            row = await self._owned(session, customer_id, account_id)
            totals = await account_totals(session, account_id, today)
        currency, limit = row.currency, row.credit_limit

        def lines(included: bool) -> tuple[CreditLine, ...]:
            if not limit:
                return ()
            kind = credit_line_type(AccountSubType(row.account_subtype))
            return (CreditLine(included, kind, Money(limit, currency)),)

        return [
            Balance(
                account_id,
                BalanceType.INTERIM_AVAILABLE,
                Money(totals.available(limit), currency),
                now,
                lines(True),
            ),
            Balance(
                account_id, BalanceType.INTERIM_BOOKED, Money(totals.booked, currency), now, lines(False)
            ),
            Balance(
                account_id,
                BalanceType.CLOSING_BOOKED,
                Money(totals.booked_before, currency),
                today - timedelta(microseconds=1),
                lines(False),
            ),
        ]

    async def funds_available(self, customer_id: str, account_id: str, amount: Money) -> bool:
        async with self.db.read() as session:
            row = await self._owned(session, customer_id, account_id)
            totals = await account_totals(session, account_id, start_of_day(self.clock()))
        return row.currency == amount.currency and totals.available(row.credit_limit) >= amount.minor

    async def transactions(
        self, customer_id: str, account_ids: Sequence[str], query: TransactionQuery
    ) -> TransactionPage:
        """One statement (plain SQL, kaimen.store.direct): how many of ``account_ids`` are the
        customer's, how many of their entries match, and the page. Only entries of the customer's own
        accounts are counted or read; if one of ``account_ids`` is not theirs, AccountNotFound."""
        wanted = list(dict.fromkeys(account_ids))
        if not wanted:
            return TransactionPage((), 0, query.page, query.page_size)
        statement = page_statement(
            len(wanted), query.from_booking is not None, query.to_booking is not None, query.credit_debit
        )
        params: dict[str, Any] = {f"a{n}": account_id for n, account_id in enumerate(wanted)}
        params.update(customer=customer_id, limit=query.page_size, skip=(query.page - 1) * query.page_size)
        if query.from_booking is not None:
            params["low"] = query.from_booking
        if query.to_booking is not None:
            params["high"] = query.to_booking
        rows = await self.db.direct.rows(statement, params)
        owned, total = rows[0][0], rows[0][1]
        if owned != len(wanted):
            await self._missing(customer_id, wanted)
        items = tuple(recent_entry(row[2:]) for row in rows if row[2] is not None)
        return TransactionPage(items, int(total), query.page, query.page_size)

    async def _missing(self, customer_id: str, account_ids: list[str]) -> NoReturn:
        """AccountNotFound for the first of ``account_ids`` (in sorted order) the customer does not
        hold."""
        async with self.db.read() as session:
            owned = set(
                (
                    await session.scalars(
                        select(LedgerAccount.id).where(
                            LedgerAccount.customer_id == customer_id, LedgerAccount.id.in_(account_ids)
                        )
                    )
                ).all()
            )
        raise AccountNotFound(sorted(set(account_ids) - owned)[0])

    async def party(self, customer_id: str) -> Party:
        async with self.db.read() as session:
            row = await session.get(LedgerParty, customer_id)
        if row is None:
            raise PartyNotFound(customer_id)
        return party_view(row)

    async def account_parties(self, customer_id: str, account_id: str) -> list[Party]:
        async with self.db.read() as session:
            await self._owned(session, customer_id, account_id)
            row = await session.get(LedgerParty, customer_id)
        return [] if row is None else [party_view(row, PRINCIPAL)]

    async def product(self, customer_id: str, account_id: str) -> Product:
        async with self.db.read() as session:
            row = await self._owned(session, customer_id, account_id)
        spec = PRODUCTS.get(row.product_id or "")
        if spec is None:
            raise LedgerError(f"account {account_id} is held under no known product")
        return Product(account_id, spec.product_id, spec.name, spec.product_type, spec.other)

    async def post_transfer(self, request: TransferRequest) -> Posting:
        return await posting.post_transfer(self.db, request, self.clock)


def sandbox_core_banking(db: Database) -> CoreBanking:
    """The built-in core over ``db``, typed as the interface the APIs receive."""
    return SandboxLedger(db)
