"""``post_transfer``: debit a customer's account and credit the payee in one database transaction.

What it enforces (DESIGN.md, "Money moves only inside a database transaction that debits and credits
together"):
- the debtor account is the customer's own (else ``AccountNotFound``); amount positive, same currency
  on both sides, not the account to itself (else ``InvalidPosting``);
- available funds including any credit line stay >= 0 (else ``InsufficientFunds``), checked after the
  customer accounts involved are locked (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's
  ``BEGIN IMMEDIATE`` already holds the database write lock);
- one posting per ``reference``: the unique constraint on ``ledger_postings.reference`` settles any
  race, and a repeat answers with the first posting (``ReferenceConflict`` if it was another
  transfer). A refusal raises inside the transaction, so nothing is written.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from kaimen.ledger import codes
from kaimen.ledger.core import SORT_CODE_ACCOUNT_NUMBER, EntryStatus, Posting, TransferRequest
from kaimen.ledger.errors import (
    AccountNotFound,
    InsufficientFunds,
    InvalidPosting,
    ReferenceConflict,
)
from kaimen.ledger.internal import CLEARING_OUT, ensure_internal_accounts
from kaimen.ledger.models import LedgerAccount, LedgerEntry, LedgerParty, LedgerPosting
from kaimen.ledger.money import Money
from kaimen.ledger.totals import account_totals
from kaimen.store.db import Database

_ON_US, _OFF_US = "transfer", "payment"  # ledger_postings.kind
MAX_REFERENCE = 128
MAX_INFORMATION = 500  # TransactionInformation maxLength
MAX_TRANSACTION_REFERENCE = 210  # TransactionReference maxLength


# The statements of every posting, built once (building them cost more than running them).
_BY_REFERENCE = select(LedgerPosting).where(LedgerPosting.reference == bindparam("reference"))
_DEBIT_OF = select(LedgerEntry).where(
    LedgerEntry.posting_id == bindparam("posting_id"), LedgerEntry.amount < 0
)
_PAYEE = select(LedgerAccount).where(
    LedgerAccount.identification == bindparam("identification"), LedgerAccount.customer_id.is_not(None)
)
_LOCKED = (
    select(LedgerAccount)
    .where(LedgerAccount.id.in_(bindparam("ids", expanding=True)))
    .order_by(LedgerAccount.id)
    .with_for_update()
)


def _check(request: TransferRequest) -> None:
    if not 1 <= len(request.reference) <= MAX_REFERENCE:
        raise InvalidPosting(f"the posting reference must be 1 to {MAX_REFERENCE} characters")
    if request.amount.minor <= 0:
        raise InvalidPosting("the amount must be positive")
    if not 1 <= len(request.information) <= MAX_INFORMATION:
        raise InvalidPosting(f"TransactionInformation must be 1 to {MAX_INFORMATION} characters")
    if request.remittance_reference is not None and not (
        1 <= len(request.remittance_reference) <= MAX_TRANSACTION_REFERENCE
    ):
        raise InvalidPosting(f"TransactionReference must be 1 to {MAX_TRANSACTION_REFERENCE} characters")


def _result(posting: LedgerPosting, debit: LedgerEntry) -> Posting:
    return Posting(
        posting_id=posting.id,
        reference=posting.reference,
        debtor_account_id=debit.account_id,
        transaction_id=debit.id,
        amount=Money(-debit.amount, debit.currency),
        status=EntryStatus(debit.status),
        booked_at=debit.booked_at,
    )


async def _replay(session: AsyncSession, request: TransferRequest) -> tuple[Posting, bool] | None:
    """The posting already made under ``request.reference``, if it was this same transfer, and whether
    its creditor is at this bank."""
    posting = await session.scalar(_BY_REFERENCE, {"reference": request.reference})
    if posting is None:
        return None
    debit = await session.scalar(_DEBIT_OF, {"posting_id": posting.id})
    assert debit is not None
    same = (
        debit.account_id == request.debtor_account_id
        and Money(-debit.amount, debit.currency) == request.amount
        and debit.counterparty_scheme == request.creditor.scheme_name
        and debit.counterparty_identification == request.creditor.identification
    )
    if not same:
        raise ReferenceConflict(request.reference)
    return _result(posting, debit), posting.kind == _ON_US


async def _payee(session: AsyncSession, request: TransferRequest) -> LedgerAccount | None:
    """The creditor's account when it is a customer account at this bank (an "on-us" payment)."""
    creditor = request.creditor
    if creditor.scheme_name != SORT_CODE_ACCOUNT_NUMBER or not creditor.identification:
        return None
    return await session.scalar(_PAYEE, {"identification": creditor.identification})


async def _post(
    session: AsyncSession, request: TransferRequest, clock: Callable[[], datetime]
) -> tuple[Posting, bool]:
    """The posting, and whether the creditor's account is at this bank (an "on-us" transfer)."""
    payee = await _payee(session, request)
    # Lock the customer accounts in id order (two opposite transfers cannot deadlock) and read them
    # under the lock; a debtor account that is not the customer's is refused before anything is written
    # (the lock taken on it goes with the rollback).
    locked = sorted({request.debtor_account_id} | ({payee.id} if payee is not None else set()))
    rows = {row.id: row for row in await session.scalars(_LOCKED, {"ids": locked})}
    debtor = rows.get(request.debtor_account_id)
    if debtor is None or debtor.customer_id != request.customer_id:
        raise AccountNotFound(request.debtor_account_id)
    payee = rows[payee.id] if payee is not None else None

    replay = await _replay(session, request)
    if replay is not None:
        return replay
    if request.amount.currency != debtor.currency or (
        payee is not None and payee.currency != debtor.currency
    ):
        raise InvalidPosting("the amount's currency differs from the account's")
    if payee is not None and payee.id == debtor.id:
        raise InvalidPosting("an account cannot pay itself")

    # Booked under the lock: entries of an account are booked in the order of their seq.
    now = clock()
    debtor_totals = await account_totals(session, debtor.id, now)
    available = debtor_totals.available(debtor.credit_limit)
    if available < request.amount.minor:
        raise InsufficientFunds(debtor.id, Money(available, debtor.currency), request.amount)

    amount, currency = request.amount.minor, request.amount.currency
    posting = LedgerPosting(
        id="pst_" + secrets.token_hex(12),
        reference=request.reference,
        kind=_ON_US if payee is not None else _OFF_US,
        amount=amount,
        currency=currency,
        created_at=now,
    )
    out_code = codes.BOOK_TRANSFER_OUT if payee is not None else codes.FASTER_PAYMENT_OUT
    debit = LedgerEntry(
        id="txn_" + secrets.token_hex(12),
        posting_id=posting.id,
        account_id=debtor.id,
        seq=debtor_totals.last_seq + 1,
        amount=-amount,
        currency=currency,
        status=EntryStatus.BOOKED.value,
        booked_at=now,
        value_at=now,
        balance_after=debtor_totals.booked - amount,
        transaction_reference=request.remittance_reference,
        information=request.information,
        btc_code=out_code.bank.code,
        btc_sub_code=out_code.bank.sub_code,
        proprietary_code=out_code.proprietary,
        counterparty_scheme=request.creditor.scheme_name,
        counterparty_identification=request.creditor.identification,
        counterparty_name=request.creditor.name,
    )
    credit = LedgerEntry(
        id="txn_" + secrets.token_hex(12),
        posting_id=posting.id,
        amount=amount,
        currency=currency,
        status=EntryStatus.BOOKED.value,
        booked_at=now,
        value_at=now,
        transaction_reference=request.remittance_reference,
    )
    if payee is not None:
        payee_totals = await account_totals(session, payee.id, now)
        payer_name = await session.scalar(
            select(LedgerParty.name).where(LedgerParty.customer_id == debtor.customer_id)
        )
        credit.account_id = payee.id
        credit.seq = payee_totals.last_seq + 1
        credit.balance_after = payee_totals.booked + amount
        credit.information = payer_name or debtor.identification or debtor.id
        credit.btc_code = codes.BOOK_TRANSFER_IN.bank.code
        credit.btc_sub_code = codes.BOOK_TRANSFER_IN.bank.sub_code
        credit.proprietary_code = codes.BOOK_TRANSFER_IN.proprietary
        credit.counterparty_scheme = SORT_CODE_ACCOUNT_NUMBER
        credit.counterparty_identification = debtor.identification
        credit.counterparty_name = payer_name
    else:
        await ensure_internal_accounts(session, now.date(), remember=True)
        credit.account_id = CLEARING_OUT
        credit.information = request.information
        credit.counterparty_scheme = request.creditor.scheme_name
        credit.counterparty_identification = request.creditor.identification
        credit.counterparty_name = request.creditor.name
    session.add(posting)
    await session.flush()
    session.add_all([debit, credit])
    await session.flush()
    return _result(posting, debit), payee is not None


async def post_in(
    session: AsyncSession, request: TransferRequest, clock: Callable[[], datetime]
) -> tuple[Posting, bool]:
    """The same posting inside the caller's write transaction ``session``, committed or rolled back
    with the caller's own writes (kaimen.ledger.in_transaction), and whether the creditor's account is
    at this bank. A refusal raises before anything is written, so the caller may go on in the same
    transaction."""
    _check(request)
    return await _post(session, request, clock)


async def post_transfer(db: Database, request: TransferRequest, clock: Callable[[], datetime]) -> Posting:
    _check(request)
    try:
        async with db.write() as session:
            posted, _ = await _post(session, request, clock)
            return posted
    except IntegrityError:
        # Another transaction posted under the same reference first (PostgreSQL: the unique index
        # waited for it to commit): answer with its posting.
        async with db.read() as session:
            replay = await _replay(session, request)
        if replay is None:
            raise
        return replay[0]
