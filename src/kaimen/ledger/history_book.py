"""One customer's demo history as rows for bulk insertion (see ``history``): the party, the accounts,
and planned events applied in time order against running balances. Each customer entry gets its
``seq`` and booked ``balance_after``; a debit the account cannot afford is skipped, as a bank would
decline it."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from kaimen.ledger.codes import EntryCode
from kaimen.ledger.core import (
    SORT_CODE_ACCOUNT_NUMBER,
    AccountSubType,
    AccountType,
    CounterpartyAccount,
    EntryStatus,
    Merchant,
)
from kaimen.ledger.history_data import FIRST_NAMES, LAST_NAMES, STREETS, TOWNS
from kaimen.ledger.products import PRODUCTS

SORT_CODE = "401276"  # the sandbox bank's sort code
CURRENCY = "GBP"


@dataclass
class AccountState:
    account_id: str
    identification: str
    credit_limit: int
    booked: int = 0
    pending_debits: int = 0
    seq: int = 0

    def available(self) -> int:
        return self.booked + self.pending_debits + self.credit_limit


@dataclass(frozen=True, slots=True)
class Side:
    """One side of a planned posting: the account and how its entry reads on a statement."""

    account_id: str
    information: str
    code: EntryCode | None = None
    counterparty: CounterpartyAccount | None = None
    merchant: Merchant | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    """A posting to make; ``amount`` may be worked out when its turn comes (interest, a repayment)."""

    at: datetime
    kind: str
    debit: Side
    credit: Side
    amount: int | Callable[[], int]
    status: EntryStatus = EntryStatus.BOOKED
    reference: str | None = None


class HistoryBook:
    def __init__(
        self, rng: random.Random, customer_id: str, name: str | None, start: date, end: date, taken: set[str]
    ) -> None:
        self.rng, self.customer_id, self.start, self.end, self.taken = rng, customer_id, start, end, taken
        self.name = name or f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
        self.party: dict[str, Any] = {}
        self.accounts: list[dict[str, Any]] = []
        self.postings: list[dict[str, Any]] = []
        self.entries: list[dict[str, Any]] = []
        self.states: dict[str, AccountState] = {}
        self.plans: list[Plan] = []

    # Ids, times and amounts all come from the customer's own random stream.
    def new_id(self, prefix: str) -> str:
        return f"{prefix}_{self.rng.getrandbits(96):024x}"

    def at(self, day: date, earliest: int = 7 * 60, latest: int = 22 * 60) -> datetime:
        """A moment on ``day`` between two minutes of the day."""
        minute = self.rng.randrange(earliest, latest)
        return datetime.combine(day, time(minute // 60, minute % 60, self.rng.randrange(60)), UTC)

    def days(self) -> Iterator[date]:
        day = self.start
        while day <= self.end:
            yield day
            day += timedelta(days=1)

    def in_window(self, day: date) -> bool:
        return self.start <= day <= self.end

    def outside_account(self, name: str) -> CounterpartyAccount:
        """An account at another bank (an employer's, a landlord's)."""
        number = f"{self.rng.randrange(10**5, 10**6)}{self.rng.randrange(10**7, 10**8)}"
        return CounterpartyAccount(SORT_CODE_ACCOUNT_NUMBER, number, name)

    def own_account(self, state: AccountState) -> CounterpartyAccount:
        return CounterpartyAccount(SORT_CODE_ACCOUNT_NUMBER, state.identification, self.name)

    def make_party(self) -> None:
        first, _, last = self.name.partition(" ")
        town, area = self.rng.choice(TOWNS)
        letters = "".join(self.rng.choice("ABDEFGHJLNPQRSTUWXYZ") for _ in range(2))
        self.party = {
            "customer_id": self.customer_id,
            "party_id": self.new_id("pty"),
            "party_type": "Sole",
            "name": self.name,
            "full_legal_name": self.name,
            "email": f"{first}.{last or 'customer'}@example.com".lower().replace(" ", ""),
            "mobile": f"+447700900{self.rng.randrange(1000):03d}",  # Ofcom's range for drama
            "building_number": str(self.rng.randrange(1, 220)),
            "street_name": self.rng.choice(STREETS),
            "town_name": town,
            "post_code": f"{area}{self.rng.randrange(1, 20)} {self.rng.randrange(1, 10)}{letters}",
            "country": "GB",
        }

    def open(self, product_id: str, nicknames: tuple[str, ...], age_days: tuple[int, int]) -> AccountState:
        """Open an account under a product, ``age_days`` (a range) before the history starts."""
        spec = PRODUCTS[product_id]
        while True:
            identification = f"{SORT_CODE}{self.rng.randrange(10**7, 10**8)}"
            if identification not in self.taken:
                break
        self.taken.add(identification)
        if spec.subtype is AccountSubType.CREDIT_CARD:
            limit = self.rng.choice((300_000, 500_000, spec.max_credit_limit))
        else:
            limit = min(spec.max_credit_limit, self.rng.choice((0, 50_000, 100_000, 150_000)))
        state = AccountState(self.new_id("acc"), identification, limit)
        self.states[state.account_id] = state
        self.accounts.append(
            {
                "id": state.account_id,
                "customer_id": self.customer_id,
                "identification": identification,
                "currency": CURRENCY,
                "account_type": AccountType.PERSONAL.value,
                "account_subtype": spec.subtype.value,
                "nickname": self.rng.choice(nicknames),
                "product_id": product_id,
                "credit_limit": limit,
                "status": "Enabled",
                "opening_date": self.start - timedelta(days=self.rng.randrange(*age_days)),
            }
        )
        return state

    def apply(self) -> None:
        """Post the plans in time order (ties in the order they were planned)."""
        for _, plan in sorted(enumerate(self.plans), key=lambda item: (item[1].at, item[0])):
            amount = plan.amount if isinstance(plan.amount, int) else plan.amount()
            debtor = self.states.get(plan.debit.account_id)
            if amount <= 0 or (debtor is not None and debtor.available() < amount):
                continue
            posting_id = self.new_id("pst")
            self.postings.append(
                {
                    "id": posting_id,
                    "reference": f"seed-{posting_id}",
                    "kind": plan.kind,
                    "amount": amount,
                    "currency": CURRENCY,
                    "created_at": plan.at,
                }
            )
            for side, signed in ((plan.debit, -amount), (plan.credit, amount)):
                self.entries.append(self._entry(posting_id, plan, side, signed))

    def _entry(self, posting_id: str, plan: Plan, side: Side, signed: int) -> dict[str, Any]:
        state = self.states.get(side.account_id)
        seq = balance = None
        if state is not None:
            state.seq += 1
            seq = state.seq
            if plan.status is EntryStatus.BOOKED:
                state.booked += signed
                balance = state.booked
            elif signed < 0:
                state.pending_debits += signed
        code, counterparty, merchant = side.code, side.counterparty, side.merchant
        return {
            "id": self.new_id("txn"),
            "posting_id": posting_id,
            "account_id": side.account_id,
            "seq": seq,
            "amount": signed,
            "currency": CURRENCY,
            "status": plan.status.value,
            "booked_at": plan.at,
            "value_at": plan.at,
            "balance_after": balance,
            "transaction_reference": plan.reference,
            "information": side.information,
            "btc_code": code.bank.code if code else None,
            "btc_sub_code": code.bank.sub_code if code else None,
            "proprietary_code": code.proprietary if code else None,
            "merchant_name": merchant.name if merchant else None,
            "merchant_category_code": merchant.category_code if merchant else None,
            "counterparty_scheme": counterparty.scheme_name if counterparty else None,
            "counterparty_identification": counterparty.identification if counterparty else None,
            "counterparty_name": counterparty.name if counterparty else None,
        }
