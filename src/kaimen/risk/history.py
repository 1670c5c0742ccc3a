"""The customer's own history, read from the bank's core (``CoreBanking.transactions``): the debits of
the last ``history_days`` days in the payment's currency, newest first, at most ``history_max_pages``
pages of 1000. Their amounts are what "unusual" is measured against; their creditor identifications
are the payees the customer has paid before.

:class:`CachedHistory` keeps each customer's history for ``history_cache_seconds`` (60 s by default):
a consent and its payment, or a burst of payments, read the core once. A payee first paid within that
time may still count as new once more.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Protocol

from kaimen.ledger.core import MAX_PAGE_SIZE, CoreBanking, TransactionQuery
from kaimen.ledger.money import CreditDebit
from kaimen.risk.context import normalise_identification
from kaimen.risk.facts import History


class HistorySource(Protocol):
    async def history(self, customer_id: str, currency: str, at: datetime) -> History: ...


class LedgerHistory:
    def __init__(self, core: CoreBanking, *, days: int, max_pages: int) -> None:
        self.core = core
        self.days = days
        self.max_pages = max_pages

    async def history(self, customer_id: str, currency: str, at: datetime) -> History:
        accounts = [account.account_id for account in await self.core.accounts(customer_id)]
        amounts: list[int] = []
        payees: set[str] = set()
        if not accounts:
            return History((), frozenset())
        query = TransactionQuery(
            from_booking=at - timedelta(days=self.days),
            to_booking=at,
            credit_debit=CreditDebit.DEBIT,
            page_size=MAX_PAGE_SIZE,
        )
        for page_number in range(1, self.max_pages + 1):
            page = await self.core.transactions(customer_id, accounts, replace(query, page=page_number))
            for item in page.items:
                if item.amount.currency != currency or item.amount.minor >= 0:
                    continue
                amounts.append(-item.amount.minor)
                creditor = item.creditor_account
                if creditor is not None and creditor.identification:
                    payees.add(normalise_identification(creditor.identification))
            if page_number >= page.total_pages:
                break
        return History(tuple(amounts), frozenset(payees))


class CachedHistory:
    """A :class:`HistorySource` remembered per (customer, currency) for ``seconds``, at most
    ``max_entries`` customers (least recently used dropped first)."""

    def __init__(
        self,
        source: HistorySource,
        *,
        seconds: float,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
        self.seconds = seconds
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[tuple[str, str], tuple[float, History]] = OrderedDict()

    async def history(self, customer_id: str, currency: str, at: datetime) -> History:
        key = (customer_id, currency)
        now = self._clock()
        held = self._entries.get(key)
        if held is not None and held[0] > now:
            self._entries.move_to_end(key)
            return held[1]
        history = await self.source.history(customer_id, currency, at)
        self._entries[key] = (now + self.seconds, history)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return history
