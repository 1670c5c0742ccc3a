"""Shared by the ledger tests: a fixed clock, hand-made accounts and postings, table dumps."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import delete, func, select

from kaimen.ledger.core import SORT_CODE_ACCOUNT_NUMBER, AccountSubType, EntryStatus
from kaimen.ledger.internal import WORLD, ensure_internal_accounts
from kaimen.ledger.models import LedgerAccount, LedgerEntry, LedgerParty, LedgerPosting
from kaimen.ledger.sandbox import SandboxLedger
from kaimen.ledger.totals import account_totals
from kaimen.store.db import Database

TODAY = date(2026, 11, 26)
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
CUSTOMERS = ["cus_alice", "cus_bob", "cus_carol"]
NAMES = {"cus_alice": "Alice Chen", "cus_bob": "Bob Lin", "cus_carol": "Carol Wang"}
LEDGER_TABLES = (LedgerParty, LedgerAccount, LedgerPosting, LedgerEntry)
_numbers = itertools.count(10_000_000)


@pytest.fixture
def ledger(db: Database) -> SandboxLedger:
    return SandboxLedger(db, clock=lambda: NOW)


async def open_account(
    db: Database,
    customer_id: str,
    subtype: AccountSubType = AccountSubType.CURRENT_ACCOUNT,
    credit_limit: int = 0,
    currency: str = "GBP",
) -> LedgerAccount:
    """A customer account with no entries (and the customer's party, if missing)."""
    product = {
        AccountSubType.CURRENT_ACCOUNT: "KSB-PCA-EVERYDAY",
        AccountSubType.SAVINGS: "KSB-SAV-EASY",
        AccountSubType.CREDIT_CARD: "KSB-CC-CLASSIC",
    }[subtype]
    row = LedgerAccount(
        id=f"acc_test_{next(_numbers)}",
        customer_id=customer_id,
        identification=f"999999{next(_numbers)}",
        currency=currency,
        account_type="Personal",
        account_subtype=subtype.value,
        nickname="Test",
        product_id=product,
        credit_limit=credit_limit,
        status="Enabled",
        opening_date=date(2020, 1, 1),
    )
    async with db.write() as session:
        await ensure_internal_accounts(session, date(2020, 1, 1))
        if await session.get(LedgerParty, customer_id) is None:
            session.add(
                LedgerParty(
                    customer_id=customer_id,
                    party_id=f"pty_{customer_id}",
                    party_type="Sole",
                    name=NAMES.get(customer_id, customer_id),
                    full_legal_name=NAMES.get(customer_id, customer_id),
                    country="GB",
                )
            )
        session.add(row)
    return row


async def book(
    db: Database, account_id: str, amount: int, at: datetime, status: EntryStatus = EntryStatus.BOOKED
) -> str:
    """A posting between the account and the world (credit when ``amount`` > 0); its entry's id."""
    n = next(_numbers)
    async with db.write() as session:
        totals = await account_totals(session, account_id, at)
        currency = (await session.get(LedgerAccount, account_id)).currency  # type: ignore[union-attr]
        session.add(
            LedgerPosting(
                id=f"pst_{n}",
                reference=f"test-{n}",
                kind="test",
                amount=abs(amount),
                currency=currency,
                created_at=at,
            )
        )
        await session.flush()
        common = {
            "posting_id": f"pst_{n}",
            "currency": currency,
            "status": status.value,
            "booked_at": at,
            "value_at": at,
            "information": f"test posting {n}",
        }
        session.add_all(
            [
                LedgerEntry(
                    id=f"txn_{n}",
                    account_id=account_id,
                    seq=totals.last_seq + 1,
                    amount=amount,
                    balance_after=totals.booked + amount if status is EntryStatus.BOOKED else None,
                    **common,
                ),
                LedgerEntry(id=f"txn_{n}_world", account_id=WORLD, amount=-amount, **common),
            ]
        )
    return f"txn_{n}"


async def hold_at_least(db: Database, account_id: str, minor: int, at: datetime) -> None:
    """Book, at ``at``, what it takes for the account's booked balance (every booked entry, as
    InterimBooked counts them) to be at least ``minor``: seeded histories follow the customer's id, and
    some leave an account short or overdrawn."""
    async with db.read() as session:
        booked = (await account_totals(session, account_id, at)).booked
    if booked < minor:
        await book(db, account_id, minor - booked, at)


def counterparty(identification: str, name: str = "Payee") -> Any:
    from kaimen.ledger.core import CounterpartyAccount

    return CounterpartyAccount(SORT_CODE_ACCOUNT_NUMBER, identification, name)


async def dump(db: Database) -> list[list[tuple[Any, ...]]]:
    """Every row of the ledger's tables, by primary key, as plain tuples."""
    out = []
    async with db.read() as session:
        for model in LEDGER_TABLES:
            columns = list(model.__table__.columns)
            key = list(model.__table__.primary_key.columns)
            rows = await session.execute(select(*columns).order_by(*key))
            out.append([tuple(row) for row in rows])
    return out


async def wipe(db: Database) -> None:
    async with db.write() as session:
        for model in reversed(LEDGER_TABLES):
            await session.execute(delete(model))


async def count(db: Database, model: Any) -> int:
    async with db.read() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)
