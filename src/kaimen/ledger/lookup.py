"""The sandbox ledger's postings looked up by the reference a caller gave them (a DomesticPaymentId, for
a payment's trail). Part of the sandbox ledger: a bank's own core answers from its own records."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from kaimen.ledger.models import LedgerEntry, LedgerPosting
from kaimen.ledger.money import Money
from kaimen.store.db import Database


@dataclass(frozen=True, slots=True)
class PostedEntry:
    entry_id: str
    account_id: str
    amount: Money  # signed: a credit is positive, a debit negative
    booked_at: datetime


@dataclass(frozen=True, slots=True)
class PostingRecord:
    posting_id: str
    reference: str
    created_at: datetime
    entries: tuple[PostedEntry, ...]


async def posting_by_reference(db: Database, reference: str) -> PostingRecord | None:
    async with db.read() as session:
        posting = (
            await session.scalars(select(LedgerPosting).where(LedgerPosting.reference == reference))
        ).first()
        if posting is None:
            return None
        entries = (
            await session.scalars(
                select(LedgerEntry).where(LedgerEntry.posting_id == posting.id).order_by(LedgerEntry.id)
            )
        ).all()
    return PostingRecord(
        posting_id=posting.id,
        reference=posting.reference,
        created_at=posting.created_at,
        entries=tuple(
            PostedEntry(e.id, e.account_id, Money(e.amount, e.currency), e.booked_at) for e in entries
        ),
    )
