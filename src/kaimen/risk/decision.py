"""What the risk engine answers: an :class:`Outcome`, the score, and one readable reason per rule that
fired (:class:`Signal`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Outcome(StrEnum):
    """DESIGN.md: allow | step-up | hold | reject. A str, so ``decision.outcome == "step_up"`` holds."""

    ALLOW = "allow"
    STEP_UP = "step_up"  # the consent page demands an extra factor
    HOLD = "hold"  # an operator reviews the payment
    REJECT = "reject"  # status Rejected, StatusReason ProprietaryRejection

    @property
    def severity(self) -> int:
        return _SEVERITY[self]


_SEVERITY = {Outcome.ALLOW: 0, Outcome.STEP_UP: 1, Outcome.HOLD: 2, Outcome.REJECT: 3}


class Stage(StrEnum):
    """When the engine is asked: at consent creation, or at payment submission. Velocity is counted
    per stage, so one payment's consent and submission are not two payments."""

    CONSENT = "consent"
    PAYMENT = "payment"


@dataclass(frozen=True, slots=True)
class Signal:
    """One rule that fired: its name, its score contribution, a reason an operator can read, and the
    outcome it forces whatever the total (a hard rule), if any."""

    rule: str
    score: int
    reason: str
    forces: Outcome | None = None


@dataclass(frozen=True, slots=True)
class RiskDecision:
    """The engine's answer. ``reasons`` are the signals' reasons, in rule order; an allowed payment with
    no signal has none."""

    decision_id: str
    subject_id: str
    stage: Stage
    outcome: Outcome
    score: int
    signals: tuple[Signal, ...]
    decided_at: datetime

    @property
    def reasons(self) -> tuple[str, ...]:
        return tuple(signal.reason for signal in self.signals)
