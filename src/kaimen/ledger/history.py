"""``seed_history``: a deterministic sandbox history for demo customers.

Each customer gets a current account, and savings, a credit card or both, and ``days`` days of history
ending yesterday (UTC): a balance brought forward, a monthly salary, rent by standing order, utilities
and council tax by direct debit, card purchases with merchant names and ISO 18245 category codes,
subscriptions, a monthly transfer to savings, savings interest and the credit card repaid in full.
Yesterday's card purchases are still pending. A payment the account cannot afford is left out, as a
bank would decline it.

Deterministic: everything, ids included, comes from ``random.Random`` seeded with ``seed`` and the
customer id, and dates from ``today``; the clock is read only when ``today`` is not given. Idempotent:
a customer the ledger already knows is left as they are.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping, Sequence
from datetime import date, timedelta

from sqlalchemy import insert, select

from kaimen.ledger.history_book import HistoryBook
from kaimen.ledger.history_plans import build
from kaimen.ledger.internal import ensure_internal_accounts
from kaimen.ledger.models import LedgerAccount, LedgerEntry, LedgerParty, LedgerPosting
from kaimen.store.db import Database
from kaimen.store.types import utcnow


def customer_seed(seed: int, customer_id: str) -> int:
    """One customer's random stream: independent of which other customers are seeded with them."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{customer_id}".encode()).digest()[:8], "big")


async def seed_history(
    db: Database,
    customer_ids: Sequence[str],
    seed: int,
    days: int = 90,
    today: date | None = None,
    names: Mapping[str, str] | None = None,
) -> list[str]:
    """Seed every customer in ``customer_ids`` the ledger does not know yet (``names`` gives their
    party names; others get one from the seed). Returns the customer ids it seeded."""
    if days < 1:
        raise ValueError("days must be at least 1")
    end = (today or utcnow().date()) - timedelta(days=1)
    start = end - timedelta(days=days - 1)
    wanted = list(dict.fromkeys(customer_ids))
    async with db.write() as session:
        known = set(
            (
                await session.scalars(
                    select(LedgerParty.customer_id).where(LedgerParty.customer_id.in_(wanted))
                )
            ).all()
        ) | set(
            (
                await session.scalars(
                    select(LedgerAccount.customer_id).where(LedgerAccount.customer_id.in_(wanted))
                )
            ).all()
        )
        taken: set[str] = {
            identification
            for identification in (
                await session.scalars(
                    select(LedgerAccount.identification).where(LedgerAccount.identification.is_not(None))
                )
            ).all()
            if identification is not None
        }
        await ensure_internal_accounts(session, start)
        books = []
        for customer_id in wanted:
            if customer_id in known:
                continue
            rng = random.Random(customer_seed(seed, customer_id))
            book = HistoryBook(rng, customer_id, (names or {}).get(customer_id), start, end, taken)
            build(book)
            books.append(book)
        for model, rows in (
            (LedgerParty, [book.party for book in books]),
            (LedgerAccount, [row for book in books for row in book.accounts]),
            (LedgerPosting, [row for book in books for row in book.postings]),
            (LedgerEntry, [row for book in books for row in book.entries]),
        ):
            if rows:
                await session.execute(insert(model), rows)
    return [book.customer_id for book in books]
