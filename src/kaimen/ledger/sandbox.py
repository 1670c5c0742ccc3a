"""``SandboxLedger``: the built-in ``CoreBanking``, over the ledger tables (SQLite or PostgreSQL).

Every read first finds the account among the customer's own (``customer_id`` in the WHERE clause), so
another customer's account id and an unknown one fail alike, with ``AccountNotFound``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, time, timedelta
from typing import NoReturn

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kaimen.ledger import posting
from kaimen.ledger.core import (
    Account,
    AccountSubType,
    Balance,
    BalanceType,
    CoreBanking,
    CreditLine,
    Party,
    Posting,
    Product,
    TransactionPage,
    TransactionQuery,
    TransferRequest,
)
from kaimen.ledger.entry_pages import Pages
from kaimen.ledger.errors import AccountNotFound, LedgerError, PartyNotFound
from kaimen.ledger.models import LedgerAccount, LedgerParty
from kaimen.ledger.money import Money
from kaimen.ledger.products import PRODUCTS, credit_line_type
from kaimen.ledger.totals import account_totals
from kaimen.ledger.views import PRINCIPAL, account_view, party_view
from kaimen.store.db import Database
from kaimen.store.types import utcnow


def start_of_day(moment: datetime) -> datetime:
    """00:00 UTC of the day ``moment`` falls on: ClosingBooked is the booked balance before it."""
    return datetime.combine(moment.astimezone(UTC).date(), time(), UTC)


class SandboxLedger:
    def __init__(self, db: Database, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.db = db
        self.clock = clock
        self.pages = Pages(db.direct)

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
        """How many of ``account_ids`` are the customer's, how many of their entries match, and the
        page: plain SQL, and pages kept under the accounts' entry versions (kaimen.ledger.entry_pages).
        Only entries of the customer's own accounts are counted or read; if one of ``account_ids`` is
        not theirs, AccountNotFound."""
        wanted = list(dict.fromkeys(account_ids))
        if not wanted:
            return TransactionPage((), 0, query.page, query.page_size)
        owned, page = await self.pages.read(customer_id, wanted, query)
        if owned != len(wanted):
            await self._missing(customer_id, wanted)
        return page

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
