"""Everything the rules look at, gathered before scoring, so scoring itself is pure: the context, the
customer's history, the velocity tallies, the deny-list entry and what the bank has seen before."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from kaimen.risk.context import ConsentContext
from kaimen.risk.decision import Stage


@dataclass(frozen=True, slots=True)
class History:
    """The customer's past debits in the payment's currency (amounts, minor units, positive) and the
    creditor identifications they went to (normalised, kaimen.risk.context.normalise_identification)."""

    amounts: tuple[int, ...]
    payees: frozenset[str]


@dataclass(frozen=True, slots=True)
class Tally:
    """One sliding window's count and sum, this assessment included."""

    count: int
    total_minor: int


@dataclass(frozen=True, slots=True)
class Seen:
    """Whether the customer's IP and device were seen on an earlier assessment of theirs; None when the
    context gives none. ``anything`` is False for a customer never assessed before: nothing is new then."""

    anything: bool
    ip: bool | None
    device: bool | None


@dataclass(frozen=True, slots=True)
class DeniedPayee:
    scheme: str
    identification: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Facts:
    context: ConsentContext
    stage: Stage
    at: datetime
    history: History | None = None  # None: no customer known yet
    customer_tally: Tally | None = None  # None: no customer known yet, or the store is down
    tpp_tally: Tally | None = None  # None: the store is down
    velocity_unavailable: bool = False
    denied: DeniedPayee | None = None
    seen: Seen | None = None  # None: no customer known yet
    consent_created_at: datetime | None = None
