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

The rows a posting writes, and the lookup by reference, are kaimen.ledger.posting_rows.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import bindparam, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from kaimen.ledger import codes, posting_rows
from kaimen.ledger.core import SORT_CODE_ACCOUNT_NUMBER, CounterpartyAccount, Posting, TransferRequest
from kaimen.ledger.errors import AccountNotFound, InsufficientFunds, InvalidPosting
from kaimen.ledger.internal import CLEARING_OUT, ensure_internal_accounts
from kaimen.ledger.models import LedgerAccount, LedgerParty
from kaimen.ledger.money import Money
from kaimen.ledger.totals import account_totals
from kaimen.store.db import Database

MAX_REFERENCE = 128
MAX_INFORMATION = 500  # TransactionInformation maxLength
MAX_TRANSACTION_REFERENCE = 210  # TransactionReference maxLength


# The reads of every posting, built once (building them cost more than running them) and run as Core
# statements on the caller's connection, as kaimen.ledger.posting_rows's writes are.

# The debtor's account and, for a creditor that may bank here, the customer account with its sort code
# and account number (the payee of an "on-us" transfer): locked in id order, so two opposite transfers
# cannot deadlock (``SELECT ... FOR UPDATE``; SQLite's ``BEGIN IMMEDIATE`` already holds the write lock).
_LOCKED = (
    select(
        LedgerAccount.id,
        LedgerAccount.customer_id,
        LedgerAccount.identification,
        LedgerAccount.currency,
        LedgerAccount.credit_limit,
    )
    .where(
        or_(
            LedgerAccount.id == bindparam("b_debtor_id"),
            (LedgerAccount.identification == bindparam("b_payee_identification"))
            & LedgerAccount.customer_id.is_not(None),
        )
    )
    .order_by(LedgerAccount.id)
    .with_for_update()
)
_PAYER_NAME = select(LedgerParty.name).where(LedgerParty.customer_id == bindparam("b_customer_id"))


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


def _payee_identification(request: TransferRequest) -> str | None:
    """The creditor's sort code and account number, when its account may be at this bank."""
    creditor = request.creditor
    if creditor.scheme_name != SORT_CODE_ACCOUNT_NUMBER or not creditor.identification:
        return None
    return creditor.identification


async def _post(
    conn: AsyncConnection, request: TransferRequest, clock: Callable[[], datetime]
) -> tuple[Posting, bool]:
    """The posting, and whether the creditor's account is at this bank (an "on-us" transfer)."""
    # The accounts are read under the lock; a debtor account that is not the customer's is refused
    # before anything is written (the lock taken on it goes with the rollback).
    payee_identification = _payee_identification(request)
    rows = (
        await conn.execute(
            _LOCKED,
            {"b_debtor_id": request.debtor_account_id, "b_payee_identification": payee_identification},
        )
    ).all()
    debtor = payee = None
    for row in rows:
        if row.id == request.debtor_account_id:
            debtor = row
        if payee_identification is not None and row.identification == payee_identification:
            payee = row
    if debtor is None or debtor.customer_id != request.customer_id:
        raise AccountNotFound(request.debtor_account_id)

    replay = await posting_rows.replay(conn, request)
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
    debtor_totals = await account_totals(conn, debtor.id, now)
    available = debtor_totals.available(debtor.credit_limit)
    if available < request.amount.minor:
        raise InsufficientFunds(debtor.id, Money(available, debtor.currency), request.amount)

    amount, creditor = request.amount.minor, request.creditor
    debit = posting_rows.side(
        account_id=debtor.id,
        seq=debtor_totals.last_seq + 1,
        amount=-amount,
        balance_after=debtor_totals.booked - amount,
        information=request.information,
        code=codes.BOOK_TRANSFER_OUT if payee is not None else codes.FASTER_PAYMENT_OUT,
        counterparty=creditor,
    )
    if payee is not None:
        payee_totals = await account_totals(conn, payee.id, now)
        payer_name = await conn.scalar(_PAYER_NAME, {"b_customer_id": debtor.customer_id})
        credit = posting_rows.side(
            account_id=payee.id,
            seq=payee_totals.last_seq + 1,
            amount=amount,
            balance_after=payee_totals.booked + amount,
            information=payer_name or debtor.identification or debtor.id,
            code=codes.BOOK_TRANSFER_IN,
            counterparty=CounterpartyAccount(SORT_CODE_ACCOUNT_NUMBER, debtor.identification, payer_name),
        )
    else:
        await ensure_internal_accounts(conn, now.date(), remember=True)
        credit = posting_rows.side(
            account_id=CLEARING_OUT,
            seq=None,
            amount=amount,
            balance_after=None,
            information=request.information,
            code=None,
            counterparty=creditor,
        )
    on_us = payee is not None
    posted = await posting_rows.write(conn, request, debit=debit, credit=credit, on_us=on_us, now=now)
    return posted, on_us


async def post_in(
    conn: AsyncConnection, request: TransferRequest, clock: Callable[[], datetime]
) -> tuple[Posting, bool]:
    """The same posting inside the caller's write transaction ``conn``, committed or rolled back with
    the caller's own writes (kaimen.ledger.in_transaction), and whether the creditor's account is at
    this bank. A refusal raises before anything is written, so the caller may go on in the same
    transaction."""
    _check(request)
    return await _post(conn, request, clock)


async def post_transfer(db: Database, request: TransferRequest, clock: Callable[[], datetime]) -> Posting:
    _check(request)
    try:
        async with db.transaction() as conn:
            posted, _ = await _post(conn, request, clock)
            return posted
    except IntegrityError:
        # Another transaction posted under the same reference first (PostgreSQL: the unique index
        # waited for it to commit): answer with its posting.
        async with db.read() as session:
            replay = await posting_rows.replay(session, request)
        if replay is None:
            raise
        return replay[0]
