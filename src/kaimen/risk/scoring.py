"""The outcome from the signals: the most severe outcome a hard rule forces, or the one the total
score reaches (kaimen.risk.config), whichever is more severe. Pure and deterministic."""

from __future__ import annotations

from collections.abc import Sequence

from kaimen.risk.config import RiskSettings
from kaimen.risk.decision import Outcome, Signal
from kaimen.risk.facts import Facts
from kaimen.risk.rules import RULES, Rule


def signals(facts: Facts, settings: RiskSettings, rules: Sequence[Rule] = RULES) -> tuple[Signal, ...]:
    return tuple(signal for rule in rules if (signal := rule(facts, settings)) is not None)


def outcome_for(total: int, fired: Sequence[Signal], settings: RiskSettings) -> Outcome:
    if total >= settings.reject_score:
        by_score = Outcome.REJECT
    elif total >= settings.hold_score:
        by_score = Outcome.HOLD
    elif total >= settings.step_up_score:
        by_score = Outcome.STEP_UP
    else:
        by_score = Outcome.ALLOW
    forced = [signal.forces for signal in fired if signal.forces is not None]
    return max([by_score, *forced], key=lambda outcome: outcome.severity)


def score(facts: Facts, settings: RiskSettings) -> tuple[Outcome, int, tuple[Signal, ...]]:
    """The outcome, the total score and the signals that fired, in rule order."""
    fired = signals(facts, settings)
    total = sum(signal.score for signal in fired)
    return outcome_for(total, fired, settings), total, fired
