"""A posting as the sandbox ledger stores it: one ``ledger_postings`` row and its two
``ledger_entries`` (the debit and the credit), written together, and found again by the posting's
reference, where a different transfer under the same reference is a ``ReferenceConflict``.
kaimen.ledger.posting decides what the entries say (accounts, seq, balances, codes) and when a posting
may be written at all; this module only writes and reads the rows.

The statements are built once (building them cost more than running them) and run as Core statements
on the caller's connection: no ORM unit of work or identity map on the posting path.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from kaimen.ledger import codes
from kaimen.ledger.core import CounterpartyAccount, EntryStatus, Posting, TransferRequest
from kaimen.ledger.errors import ReferenceConflict
from kaimen.ledger.models import LedgerEntry, LedgerPosting
from kaimen.ledger.money import Money
from kaimen.store.db import Executor

_ON_US, _OFF_US = "transfer", "payment"  # ledger_postings.kind

# The posting already made under a reference, with its debit entry.
_BY_REFERENCE = (
    select(
        LedgerPosting.id.label("posting_id"),
        LedgerPosting.kind,
        LedgerEntry.id.label("transaction_id"),
        LedgerEntry.account_id,
        LedgerEntry.amount,
        LedgerEntry.currency,
        LedgerEntry.status,
        LedgerEntry.booked_at,
        LedgerEntry.counterparty_scheme,
        LedgerEntry.counterparty_identification,
    )
    .join(LedgerEntry, LedgerEntry.posting_id == LedgerPosting.id)
    .where(LedgerPosting.reference == bindparam("b_reference"), LedgerEntry.amount < 0)
)
_INSERT_POSTING = insert(LedgerPosting).values(
    id=bindparam("b_posting_id"),
    reference=bindparam("b_reference"),
    kind=bindparam("b_kind"),
    amount=bindparam("b_amount"),
    currency=bindparam("b_currency"),
    created_at=bindparam("b_now"),
)
# Both entries of a posting, in one executemany: what they share, then one side's own (:func:`side`).
_INSERT_ENTRY = insert(LedgerEntry).values(
    posting_id=bindparam("b_posting_id"),
    currency=bindparam("b_currency"),
    status=EntryStatus.BOOKED.value,
    booked_at=bindparam("b_now"),
    value_at=bindparam("b_now"),
    transaction_reference=bindparam("b_transaction_reference"),
    id=bindparam("b_id"),
    account_id=bindparam("b_account_id"),
    seq=bindparam("b_seq"),
    amount=bindparam("b_signed_amount"),
    balance_after=bindparam("b_balance_after"),
    information=bindparam("b_information"),
    btc_code=bindparam("b_btc_code"),
    btc_sub_code=bindparam("b_btc_sub_code"),
    proprietary_code=bindparam("b_proprietary_code"),
    counterparty_scheme=bindparam("b_counterparty_scheme"),
    counterparty_identification=bindparam("b_counterparty_identification"),
    counterparty_name=bindparam("b_counterparty_name"),
)


def side(
    *,
    account_id: str,
    seq: int | None,
    amount: int,
    balance_after: int | None,
    information: str,
    code: codes.EntryCode | None,
    counterparty: CounterpartyAccount,
) -> dict[str, Any]:
    """One entry's own bind parameters of :data:`_INSERT_ENTRY` (``amount`` signed), for :func:`write`."""
    return {
        "b_id": "txn_" + secrets.token_hex(12),
        "b_account_id": account_id,
        "b_seq": seq,
        "b_signed_amount": amount,
        "b_balance_after": balance_after,
        "b_information": information,
        "b_btc_code": code.bank.code if code is not None else None,
        "b_btc_sub_code": code.bank.sub_code if code is not None else None,
        "b_proprietary_code": code.proprietary if code is not None else None,
        "b_counterparty_scheme": counterparty.scheme_name,
        "b_counterparty_identification": counterparty.identification,
        "b_counterparty_name": counterparty.name,
    }


async def replay(executor: Executor, request: TransferRequest) -> tuple[Posting, bool] | None:
    """The posting already made under ``request.reference``, if it was this same transfer, and whether
    its creditor is at this bank."""
    found = (await executor.execute(_BY_REFERENCE, {"b_reference": request.reference})).first()
    if found is None:
        return None
    amount = Money(-found.amount, found.currency)
    same = (
        found.account_id == request.debtor_account_id
        and amount == request.amount
        and found.counterparty_scheme == request.creditor.scheme_name
        and found.counterparty_identification == request.creditor.identification
    )
    if not same:
        raise ReferenceConflict(request.reference)
    posted = Posting(
        posting_id=found.posting_id,
        reference=request.reference,
        debtor_account_id=found.account_id,
        transaction_id=found.transaction_id,
        amount=amount,
        status=EntryStatus(found.status),
        booked_at=found.booked_at,
    )
    return posted, found.kind == _ON_US


async def write(
    conn: AsyncConnection,
    request: TransferRequest,
    *,
    debit: dict[str, Any],
    credit: dict[str, Any],
    on_us: bool,
    now: datetime,
) -> Posting:
    """The posting of ``request`` and its two entries (each from :func:`side`); the debit's entry is
    the posting's transaction id."""
    posting_id = "pst_" + secrets.token_hex(12)
    posting = {
        "b_posting_id": posting_id,
        "b_reference": request.reference,
        "b_kind": _ON_US if on_us else _OFF_US,
        "b_amount": request.amount.minor,
        "b_currency": request.amount.currency,
        "b_now": now,
        "b_transaction_reference": request.remittance_reference,
    }
    await conn.execute(_INSERT_POSTING, posting)
    await conn.execute(_INSERT_ENTRY, [{**posting, **debit}, {**posting, **credit}])
    return Posting(
        posting_id=posting_id,
        reference=request.reference,
        debtor_account_id=debit["b_account_id"],
        transaction_id=debit["b_id"],
        amount=request.amount,
        status=EntryStatus.BOOKED,
        booked_at=now,
    )
