"""Balances derived from entries: one aggregate over an account's entries gives the booked balance,
the booked balance at a cut-off (ClosingBooked), the pending debits and the last ``seq``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, case, func, select

from kaimen.ledger.core import EntryStatus
from kaimen.ledger.models import LedgerEntry
from kaimen.store.db import Executor


@dataclass(frozen=True, slots=True)
class Totals:
    booked: int  # InterimBooked: every booked entry
    booked_before: int  # booked entries before the cut-off (ClosingBooked)
    pending_debits: int  # pending entries below zero (<= 0)
    last_seq: int

    def available(self, credit_limit: int) -> int:
        """InterimAvailable: booked, less what pending debits hold, plus any credit line. Pending credits
        are not available until they are booked."""
        return self.booked + self.pending_debits + credit_limit


_booked = LedgerEntry.status == EntryStatus.BOOKED.value
_pending_debit = (LedgerEntry.status == EntryStatus.PENDING.value) & (LedgerEntry.amount < 0)
# Built once: every payment runs it, and building the expression cost more than the database's sum.
_TOTALS = select(
    func.coalesce(func.sum(case((_booked, LedgerEntry.amount), else_=0)), 0),
    func.coalesce(
        func.sum(
            case((_booked & (LedgerEntry.booked_at < bindparam("cut_off")), LedgerEntry.amount), else_=0)
        ),
        0,
    ),
    func.coalesce(func.sum(case((_pending_debit, LedgerEntry.amount), else_=0)), 0),
    func.coalesce(func.max(LedgerEntry.seq), 0),
).where(LedgerEntry.account_id == bindparam("account_id"))


async def account_totals(executor: Executor, account_id: str, cut_off: datetime) -> Totals:
    row = (await executor.execute(_TOTALS, {"account_id": account_id, "cut_off": cut_off})).one()
    # PostgreSQL sums bigints as numeric (Decimal); every value here is a whole number of minor units.
    return Totals(int(row[0]), int(row[1]), int(row[2]), int(row[3]))
