"""The demo customers' accounts and about 90 days of history in the sandbox ledger, the same on every
machine for the same customers and day (kaimen.ledger.history). A customer who already has accounts
keeps them, so re-running the demo keeps the data."""

from __future__ import annotations

from collections.abc import Mapping

from kaimen.ledger.history import seed_history
from kaimen.store.db import Database

DEMO_LEDGER_SEED = 20261126
DEMO_HISTORY_DAYS = 90


async def seed_ledger(db: Database, names: Mapping[str, str]) -> list[str]:
    """Seed the customers in ``names`` (customer id → party name); returns the ids it seeded."""
    return await seed_history(db, list(names), DEMO_LEDGER_SEED, days=DEMO_HISTORY_DAYS, names=names)
