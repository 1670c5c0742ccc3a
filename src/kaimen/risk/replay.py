"""Replays a synthetic scenario (kaimen.risk.scenarios) through the real engine and rules, with the
history, velocity and decision store in memory, and measures them: a payment the engine does not
allow (step-up, hold or reject) counts as flagged; precision is the share of flagged payments that
were fraud, recall the share of fraud flagged. Payments allowed or stepped up are executed, so they
become the customer's history; the warm-up period is history from the start.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from kaimen.risk.config import RiskSettings
from kaimen.risk.context import ConsentContext, normalise_identification
from kaimen.risk.decision import Outcome, RiskDecision
from kaimen.risk.engine import RiskEngine
from kaimen.risk.facts import DeniedPayee, History, Seen
from kaimen.risk.scenarios import LABELS, NORMAL, Scenario
from kaimen.risk.store import device_digest
from kaimen.risk.velocity import MemoryVelocity


class MemoryHistory:
    def __init__(self, days: int) -> None:
        self.days = days
        self._paid: dict[str, list[tuple[datetime, int, str]]] = defaultdict(list)

    def add(self, context: ConsentContext, at: datetime) -> None:
        if context.customer_id is not None:
            payee = normalise_identification(context.creditor_identification)
            self._paid[context.customer_id].append((at, context.amount_minor, payee))

    async def history(self, customer_id: str, currency: str, at: datetime) -> History:
        since = at - timedelta(days=self.days)
        paid = [(amount, payee) for when, amount, payee in self._paid[customer_id] if since <= when <= at]
        return History(tuple(amount for amount, _ in paid), frozenset(payee for _, payee in paid))


class MemoryDecisions:
    """The deny list and what was seen of each customer, in memory."""

    def __init__(self, scheme: str, denied: frozenset[str]) -> None:
        self.scheme = scheme
        self._denied = denied
        self._ips: dict[str, set[str]] = defaultdict(set)
        self._devices: dict[str, set[str]] = defaultdict(set)
        self._known: set[str] = set()

    def remember(self, context: ConsentContext) -> None:
        customer = context.customer_id
        if customer is None:
            return
        self._known.add(customer)
        if context.customer_ip is not None:
            self._ips[customer].add(context.customer_ip)
        digest = device_digest(context.device)
        if digest is not None:
            self._devices[customer].add(digest)

    async def denied(self, scheme: str, identification: str) -> DeniedPayee | None:
        normalised = normalise_identification(identification)
        if scheme == self.scheme and normalised in self._denied:
            return DeniedPayee(scheme, normalised, "mule payee")
        return None

    async def seen(self, customer_id: str, context: ConsentContext) -> Seen:
        digest = device_digest(context.device)
        return Seen(
            anything=customer_id in self._known,
            ip=None if context.customer_ip is None else context.customer_ip in self._ips[customer_id],
            device=None if digest is None else digest in self._devices[customer_id],
        )

    async def record(self, decision: RiskDecision, context: ConsentContext) -> None:
        self.remember(context)


@dataclass(frozen=True, slots=True)
class Report:
    seed: int
    # (label, outcome) -> payments
    outcomes: dict[tuple[str, str], int]

    def count(self, *, fraud: bool, flagged: bool) -> int:
        return sum(
            n
            for (label, outcome), n in self.outcomes.items()
            if (label != NORMAL) is fraud and (outcome != Outcome.ALLOW) is flagged
        )

    @property
    def precision(self) -> float:
        flagged = self.count(fraud=True, flagged=True) + self.count(fraud=False, flagged=True)
        return self.count(fraud=True, flagged=True) / flagged if flagged else 1.0

    @property
    def recall(self) -> float:
        fraud = self.count(fraud=True, flagged=True) + self.count(fraud=True, flagged=False)
        return self.count(fraud=True, flagged=True) / fraud if fraud else 1.0

    def recall_of(self, label: str) -> float | None:
        total = sum(n for (kind, _), n in self.outcomes.items() if kind == label)
        flagged = sum(
            n for (kind, outcome), n in self.outcomes.items() if kind == label and outcome != "allow"
        )
        return flagged / total if total else None

    def flag_rate_of_normal(self) -> float:
        normal = self.count(fraud=False, flagged=True) + self.count(fraud=False, flagged=False)
        return self.count(fraud=False, flagged=True) / normal if normal else 0.0


async def replay(scenario: Scenario, settings: RiskSettings) -> Report:
    first = scenario.warmup[0] if scenario.warmup else scenario.payments[0].context
    history = MemoryHistory(settings.history_days)
    decisions = MemoryDecisions(first.creditor_scheme, scenario.denied_payees)
    for context in scenario.warmup:
        history.add(context, context.at or scenario.params.start)
        decisions.remember(context)
    engine = RiskEngine(settings, history=history, velocity=MemoryVelocity(), store=decisions)
    outcomes: Counter[tuple[str, str]] = Counter()
    for payment in scenario.payments:
        decision = await engine.assess_payment(payment.context)
        outcomes[(payment.label, decision.outcome.value)] += 1
        if decision.outcome in (Outcome.ALLOW, Outcome.STEP_UP):
            history.add(payment.context, decision.decided_at)
    await engine.close()
    return Report(scenario.seed, dict(outcomes))


def describe(report: Report) -> list[str]:
    lines = [
        f"seed {report.seed}: precision {report.precision:.3f}  recall {report.recall:.3f}  "
        f"normal flagged {report.flag_rate_of_normal():.3%}"
    ]
    for label in LABELS:
        by_outcome = {o.value: report.outcomes.get((label, o.value), 0) for o in Outcome}
        recall = report.recall_of(label)
        shown = "  ".join(f"{name} {n}" for name, n in by_outcome.items())
        rate = "-" if recall is None else f"{recall:.3f}"
        lines.append(f"  {label:<17} flagged {rate:<6} {shown}")
    return lines
