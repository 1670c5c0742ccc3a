"""The bank's own accounts in the sandbox ledger: the other side of every posting whose counterparty
banks elsewhere. ``WORLD`` stands in for outside parties money arrives from or card and direct-debit
payments go to; ``CLEARING_OUT`` holds outbound payments on their way to the payment scheme. Neither
belongs to a customer, so no customer-scoped read can reach them."""

from __future__ import annotations

import weakref
from datetime import date
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from kaimen.ledger.models import LedgerAccount
from kaimen.store.db import Executor

WORLD = "ledger-internal-world"
CLEARING_OUT = "ledger-internal-clearing-out"
INTERNAL_CURRENCY = "GBP"
# Engines whose database is known to hold both internal accounts, committed: an insert that found both
# already there (they are never deleted). A fresh insert may yet roll back with its transaction, so
# only "nothing to insert" is remembered.
_PRESENT: weakref.WeakSet[Any] = weakref.WeakSet()


async def ensure_internal_accounts(executor: Executor, opening_date: date, *, remember: bool = False) -> None:
    """Create the internal accounts that are missing, in the caller's write transaction; a concurrent
    creator is no error (INSERT ... ON CONFLICT DO NOTHING). Once an insert finds both there, this
    database's engine is remembered, and calls with ``remember`` (a payment's posting) send nothing
    more: one statement less per payment. Seeding always inserts."""
    bind = executor.sync_engine if isinstance(executor, AsyncConnection) else executor.get_bind()
    if remember and bind in _PRESENT:
        return
    rows: list[dict[str, Any]] = [
        {
            "id": account_id,
            "customer_id": None,
            "identification": None,
            "currency": INTERNAL_CURRENCY,
            "account_type": "Business",
            "account_subtype": "Internal",
            "nickname": None,
            "product_id": None,
            "credit_limit": 0,
            "status": "Enabled",
            "opening_date": opening_date,
        }
        for account_id in (WORLD, CLEARING_OUT)
    ]
    dialect = postgresql if bind.dialect.name == "postgresql" else sqlite
    result = await executor.execute(dialect.insert(LedgerAccount).values(rows).on_conflict_do_nothing())
    if getattr(result, "rowcount", None) == 0:
        _PRESENT.add(bind)
