"""``RiskEngine``: gathers the facts for one consent or payment, scores them (kaimen.risk.scoring),
records the decision in ``risk_decisions`` and emits ``risk.decided``.

What callers use (the payments resource, the consent pages)::

    engine = build_risk_engine(settings, db, core_banking, events)
    decision = await engine.assess_consent(ConsentContext(...))   # at consent creation
    decision = await engine.assess_payment(PaymentContext(...))   # at POST /domestic-payments
    decision.outcome   # Outcome: "allow" | "step_up" | "hold" | "reject"
    decision.reasons   # tuple[str, ...], one readable reason per rule that fired

Velocity is counted per stage (a consent's creation and its payment's submission are not two
payments) and per currency, for the customer and for the TPP; every assessment counts, whatever its
outcome, since bursts of refused attempts are themselves the signal.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from kaimen.events import RISK_DECIDED, EventBus
from kaimen.ledger.core import CoreBanking
from kaimen.risk.config import RiskSettings
from kaimen.risk.context import ConsentContext, ConsentLike, PaymentLike, consent_context, payment_context
from kaimen.risk.decision import RiskDecision, Stage
from kaimen.risk.facts import DeniedPayee, Facts, History, Seen, Tally
from kaimen.risk.history import CachedHistory, HistorySource, LedgerHistory
from kaimen.risk.scoring import score
from kaimen.risk.store import RiskStore
from kaimen.risk.velocity import VelocityStore, VelocityUnavailable, Window, build_velocity_store
from kaimen.settings import Settings
from kaimen.store.db import Database
from kaimen.store.types import utcnow

log = logging.getLogger("kaimen.risk")


class DecisionStore(Protocol):
    """What the engine reads and writes besides history and velocity (kaimen.risk.store.RiskStore;
    kaimen.risk.replay keeps one in memory)."""

    async def denied(self, scheme: str, identification: str) -> DeniedPayee | None: ...

    async def seen(self, customer_id: str, context: ConsentContext) -> Seen: ...

    async def record(self, decision: RiskDecision, context: ConsentContext) -> None: ...


@dataclass(frozen=True, slots=True)
class RiskDecided:
    """The payload of ``risk.decided``: the decision and what it was about."""

    decision: RiskDecision
    context: ConsentContext


class RiskEngine:
    def __init__(
        self,
        settings: RiskSettings,
        *,
        history: HistorySource,
        velocity: VelocityStore,
        store: DecisionStore,
        events: EventBus | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.settings = settings
        self.history = history
        self.velocity = velocity
        self.store = store
        self.events = events
        self.clock = clock

    async def assess_consent(self, context: ConsentLike) -> RiskDecision:
        """At consent creation (or authorisation): a ConsentContext, or any object with its fields."""
        return await self._assess(consent_context(context), Stage.CONSENT, None)

    async def assess_payment(self, context: PaymentLike) -> RiskDecision:
        """At payment submission: a PaymentContext, or any object with its fields (the Payment API's
        PaymentRiskContext is one, so the engine is its PaymentRisk as it is)."""
        payment = payment_context(context)
        return await self._assess(payment, Stage.PAYMENT, payment.consent_created_at)

    async def close(self) -> None:
        await self.velocity.close()

    async def _assess(
        self, context: ConsentContext, stage: Stage, consent_created_at: datetime | None
    ) -> RiskDecision:
        at = context.at or self.clock()
        customer = context.customer_id
        denied, history, seen, (customer_tally, tpp_tally, unavailable) = await asyncio.gather(
            self.store.denied(context.creditor_scheme, context.creditor_identification),
            self._history(customer, context.currency, at),
            self._seen(customer, context),
            self._tallies(context, stage, at),
        )
        facts = Facts(
            context=context,
            stage=stage,
            at=at,
            history=history,
            customer_tally=customer_tally,
            tpp_tally=tpp_tally,
            velocity_unavailable=unavailable,
            denied=denied,
            seen=seen,
            consent_created_at=consent_created_at,
        )
        outcome, total, fired = score(facts, self.settings)
        decision = RiskDecision(
            decision_id="rsk_" + secrets.token_urlsafe(16),
            subject_id=context.subject_id,
            stage=stage,
            outcome=outcome,
            score=total,
            signals=fired,
            decided_at=at,
        )
        await self.store.record(decision, context)
        if self.events is not None:
            self.events.emit(RISK_DECIDED, RiskDecided(decision, context))
        return decision

    async def _history(self, customer: str | None, currency: str, at: datetime) -> History | None:
        return None if customer is None else await self.history.history(customer, currency, at)

    async def _seen(self, customer: str | None, context: ConsentContext) -> Seen | None:
        return None if customer is None else await self.store.seen(customer, context)

    async def _tallies(
        self, context: ConsentContext, stage: Stage, at: datetime
    ) -> tuple[Tally | None, Tally | None, bool]:
        """The customer's tally (None without a customer), the TPP's, and whether the store was down."""
        windows = []
        if context.customer_id is not None:
            windows.append(
                Window(
                    f"{stage.value}:customer:{context.customer_id}:{context.currency}",
                    self.settings.customer_window_seconds,
                )
            )
        tpp_key = f"{stage.value}:tpp:{context.client_id}:{context.currency}"
        windows.append(Window(tpp_key, self.settings.tpp_window_seconds))
        try:
            tallies = await self.velocity.hit(windows, at, context.amount_minor)
        except VelocityUnavailable as error:
            log.warning("risk velocity store unavailable", extra={"error": str(error)})
            return None, None, True
        return (tallies[0] if len(tallies) == 2 else None), tallies[-1], False


def build_risk_engine(
    settings: Settings,
    db: Database,
    core_banking: CoreBanking,
    events: EventBus | None = None,
    *,
    clock: Callable[[], datetime] = utcnow,
) -> RiskEngine:
    """The engine on the configured stores: velocity in Redis when ``KAIMEN_REDIS_URL`` is set, else in
    memory (embedded SQLite) or PostgreSQL; history from ``core_banking``, each customer's reused for
    ``risk.history_cache_seconds``; decisions and the deny list in ``db``. Close it with
    ``await engine.close()``."""
    risk = settings.risk
    history: HistorySource = LedgerHistory(
        core_banking, days=risk.history_days, max_pages=risk.history_max_pages
    )
    if risk.history_cache_seconds > 0:
        history = CachedHistory(history, seconds=risk.history_cache_seconds)
    return RiskEngine(
        risk,
        history=history,
        velocity=build_velocity_store(
            settings.redis_url,
            db,
            longest_window_seconds=max(risk.customer_window_seconds, risk.tpp_window_seconds),
            max_connections=settings.max_concurrent_requests,
        ),
        store=RiskStore(db),
        events=events,
        clock=clock,
    )
