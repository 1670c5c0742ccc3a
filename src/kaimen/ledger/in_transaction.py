"""Posting inside the caller's database transaction.

DESIGN.md: "One-time records that guard money or access (... idempotency keys, consent consumption)
live in the database, written in the same transaction as their effect". A domestic payment writes the
idempotency key, consumes the consent, posts to the ledger and records the payment: all or nothing.
``CoreBanking.post_transfer`` commits its own transaction, so it cannot be part of another one; rather
than change that protocol, this is a second, narrow one beside it:

    TransactionalPostings.post_in(conn, request) -> PostedTransfer

Only a core whose ledger lives in Kaimen's own database can offer it (the sandbox ledger does:
``SandboxPostings``). A bank plugging in an external core would instead record the payment Pending in
this transaction and post afterwards through ``post_transfer``, which is idempotent on the reference
(an outbox); that is not built.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncConnection

from kaimen.ledger import posting
from kaimen.ledger.core import Posting, TransferRequest
from kaimen.store.types import utcnow


@dataclass(frozen=True, slots=True)
class PostedTransfer:
    """A posted transfer, and whether the creditor's account is at this bank (credited directly, an
    "on-us" book transfer) or elsewhere (credited to the outbound clearing account,
    kaimen.ledger.internal.CLEARING_OUT, standing in for the other bank)."""

    posting: Posting
    creditor_at_this_bank: bool


class TransactionalPostings(Protocol):
    async def post_in(self, conn: AsyncConnection, request: TransferRequest) -> PostedTransfer:
        """``CoreBanking.post_transfer`` in the caller's write transaction on ``conn``
        (``Database.transaction``): the same checks (the
        debtor is the customer's own, available funds including any credit line never go below
        zero, one posting per reference) and the same ``PostingRefused`` / ``AccountNotFound``
        refusals, raised before anything is written."""
        ...


class SandboxPostings:
    """``TransactionalPostings`` over the sandbox ledger's tables (kaimen.ledger.posting)."""

    def __init__(self, clock: Callable[[], datetime] = utcnow) -> None:
        self.clock = clock

    async def post_in(self, conn: AsyncConnection, request: TransferRequest) -> PostedTransfer:
        posted, on_us = await posting.post_in(conn, request, self.clock)
        return PostedTransfer(posted, creditor_at_this_bank=on_us)
