"""``seed_history``: the same seed gives the same bank, byte for byte; seeding again changes nothing;
three customers seed fast. SQLite and PostgreSQL."""

from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy import func, select

from kaimen.ledger.history import seed_history
from kaimen.ledger.history_data import CARD_CATEGORIES
from kaimen.ledger.models import LedgerAccount, LedgerEntry, LedgerParty, LedgerPosting
from kaimen.ledger.sandbox import SandboxLedger
from kaimen.store.db import Database
from tests.test_ledger_support import CUSTOMERS, NAMES, TODAY, count, dump, ledger, wipe

__all__ = ["ledger"]  # fixtures


async def test_the_same_seed_gives_identical_data_and_another_seed_does_not(db: Database) -> None:
    await seed_history(db, CUSTOMERS, seed=7, today=TODAY, names=NAMES)
    first = await dump(db)
    await wipe(db)
    await seed_history(db, CUSTOMERS, seed=7, today=TODAY, names=NAMES)
    assert repr(await dump(db)) == repr(first)
    await wipe(db)
    await seed_history(db, CUSTOMERS, seed=8, today=TODAY, names=NAMES)
    other = await dump(db)
    assert other != first
    # Account ids, identifications and amounts all differ: nothing is shared between two seeds.
    customer_accounts = [{row[0] for row in rows[1] if row[1] is not None} for rows in (first, other)]
    assert len(customer_accounts[0]) >= 6 and not customer_accounts[0] & customer_accounts[1]


async def test_a_customers_history_does_not_depend_on_who_else_is_seeded(db: Database) -> None:
    await seed_history(db, ["cus_alice"], seed=7, today=TODAY, names=NAMES)
    await seed_history(db, ["cus_bob", "cus_carol"], seed=7, today=TODAY, names=NAMES)
    one_by_one = await dump(db)
    await wipe(db)
    await seed_history(db, CUSTOMERS, seed=7, today=TODAY, names=NAMES)
    assert repr(await dump(db)) == repr(one_by_one)


async def test_seeding_twice_adds_nothing(db: Database) -> None:
    assert await seed_history(db, CUSTOMERS, seed=7, today=TODAY, names=NAMES) == CUSTOMERS
    before = await dump(db)
    assert await seed_history(db, CUSTOMERS, seed=7, today=TODAY + timedelta(days=3), names=NAMES) == []
    assert await seed_history(db, [*CUSTOMERS, "cus_dave"], seed=7, today=TODAY) == ["cus_dave"]
    after = await dump(db)
    # Nothing of the first seeding changed; only Dave's party, accounts and history were added.
    for old, new in zip(before, after, strict=True):
        assert set(old) <= set(new)
    assert [len(new) - len(old) > 0 for old, new in zip(before, after, strict=True)] == [True] * 4
    assert await count(db, LedgerParty) == 4


async def test_every_customer_gets_a_current_account_and_savings_or_a_card(
    db: Database, ledger: SandboxLedger
) -> None:
    await seed_history(db, [f"cus_{n}" for n in range(12)], seed=99, today=TODAY)
    async with db.read() as session:
        rows = (
            await session.execute(
                select(LedgerAccount.customer_id, LedgerAccount.account_subtype).where(
                    LedgerAccount.customer_id.is_not(None)
                )
            )
        ).all()
    by_customer: dict[str, list[str]] = {}
    for customer_id, subtype in rows:
        by_customer.setdefault(customer_id, []).append(subtype)
    assert len(by_customer) == 12
    for subtypes in by_customer.values():
        assert sorted(subtypes).count("CurrentAccount") == 1
        assert 2 <= len(subtypes) <= 3 and set(subtypes) - {"CurrentAccount"} <= {"Savings", "CreditCard"}
    kinds = {subtype for subtypes in by_customer.values() for subtype in subtypes}
    assert kinds == {"CurrentAccount", "Savings", "CreditCard"}
    async with db.read() as session:
        posted = dict(
            (
                await session.execute(select(LedgerPosting.kind, func.count()).group_by(LedgerPosting.kind))
            ).all()
        )
        mccs = set((await session.scalars(select(LedgerEntry.merchant_category_code).distinct())).all())
    assert set(posted) == {"opening", "salary", "rent", "utility", "card", "transfer", "interest"}
    assert posted["salary"] >= 12 * 3 - 6  # every customer is paid each month of the window
    assert {c.mcc for c in CARD_CATEGORIES if c.needs is None} <= mccs


async def test_three_customers_seed_in_well_under_two_seconds(db: Database) -> None:
    started = time.perf_counter()
    await seed_history(db, CUSTOMERS, seed=7, today=TODAY, names=NAMES)
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0, f"seeding took {elapsed:.2f}s"
    assert await count(db, LedgerEntry) > 600
