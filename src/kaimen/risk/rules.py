"""The rules. Each is a small pure function of the facts and the settings that returns a
:class:`Signal` (a score contribution and a reason an operator can read) or None when it does not fire.
:data:`RULES` lists them in the order their reasons are reported.

Amounts in reasons are shown in major units with the currency (``1500.00 GBP``); no reason names a
customer's IP or device, only that it is new.
"""

from __future__ import annotations

import math
import zoneinfo
from collections.abc import Callable

from kaimen.risk.config import RiskSettings
from kaimen.risk.context import normalise_identification
from kaimen.risk.decision import Outcome, Signal, Stage
from kaimen.risk.facts import Facts, Tally

Rule = Callable[[Facts, RiskSettings], Signal | None]

# ISO 4217 minor units; currencies not listed are shown with two decimals.
_MINOR_UNITS = {"JPY": 0, "KRW": 0, "BHD": 3, "KWD": 3, "JOD": 3, "OMR": 3, "TND": 3}


def money(minor: int, currency: str) -> str:
    digits = _MINOR_UNITS.get(currency, 2)
    whole, fraction = divmod(abs(minor), 10**digits)
    sign = "-" if minor < 0 else ""
    return f"{sign}{whole}.{fraction:0{digits}d} {currency}" if digits else f"{sign}{whole} {currency}"


def percentile(values: tuple[int, ...], fraction: float) -> int:
    """Nearest-rank percentile (the smallest value with at least ``fraction`` of the values at or below
    it); ``values`` must not be empty."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def denied_payee(facts: Facts, settings: RiskSettings) -> Signal | None:
    """Hard rule: a creditor on the operator's deny list is rejected."""
    if facts.denied is None:
        return None
    reason = f"payee {facts.denied.scheme} {facts.denied.identification} is on the deny list"
    if facts.denied.reason:
        reason += f" ({facts.denied.reason})"
    return Signal("denied_payee", settings.reject_score, reason, Outcome.REJECT)


def unusual_amount(facts: Facts, settings: RiskSettings) -> Signal | None:
    """The amount against the customer's own debits: above ``unusual_amount_factor`` times their 90th
    percentile; with too little history to compare, a large amount on its own."""
    if facts.history is None:
        return None
    context = facts.context
    amounts = facts.history.amounts
    if len(amounts) >= settings.history_min_payments:
        usual = percentile(amounts, 0.9)
        if context.amount_minor > settings.unusual_amount_factor * usual:
            return Signal(
                "unusual_amount",
                settings.unusual_amount_score,
                f"amount {money(context.amount_minor, context.currency)} is more than "
                f"{settings.unusual_amount_factor:g} times the customer's usual payments "
                f"(90th percentile {money(usual, context.currency)} over {len(amounts)} payments)",
            )
        return None
    if context.amount_minor >= settings.no_history_amount_minor:
        return Signal(
            "unusual_amount",
            settings.no_history_score,
            f"amount {money(context.amount_minor, context.currency)} with too little history to compare "
            f"({len(amounts)} earlier payments in {context.currency})",
        )
    return None


def new_payee(facts: Facts, settings: RiskSettings) -> Signal | None:
    """The customer has not paid this creditor identification before (within the history read)."""
    if facts.history is None:
        return None
    if normalise_identification(facts.context.creditor_identification) in facts.history.payees:
        return None
    return Signal("new_payee", settings.new_payee_score, "first payment by this customer to this payee")


def _broken_limits(tally: Tally, max_count: int, max_sum_minor: int, currency: str) -> list[str]:
    """The velocity limits ``tally`` is over, each in words for the decision's reason."""
    broken = []
    if tally.count > max_count:
        broken.append(f"{tally.count} payments (limit {max_count})")
    if tally.total_minor > max_sum_minor:
        limit = money(max_sum_minor, currency)
        broken.append(f"{money(tally.total_minor, currency)} in total (limit {limit})")
    return broken


def customer_velocity(facts: Facts, settings: RiskSettings) -> Signal | None:
    """Count and sum of the customer's assessments at this stage in the sliding window."""
    tally = facts.customer_tally
    if tally is None:
        return None
    window = _window(settings.customer_window_seconds)
    broken = _broken_limits(
        tally, settings.customer_max_count, settings.customer_max_sum_minor, facts.context.currency
    )
    if not broken:
        return None
    return Signal(
        "customer_velocity",
        settings.customer_velocity_score * len(broken),
        f"customer made {' and '.join(broken)} in {window}",
    )


def tpp_velocity(facts: Facts, settings: RiskSettings) -> Signal | None:
    """Count and sum of the TPP's assessments at this stage in the sliding window; a burst of
    ``tpp_reject_count`` or more is rejected outright (card testing)."""
    tally = facts.tpp_tally
    if tally is None:
        return None
    window = _window(settings.tpp_window_seconds)
    broken = _broken_limits(tally, settings.tpp_max_count, settings.tpp_max_sum_minor, facts.context.currency)
    if not broken:
        return None
    forces = Outcome.REJECT if tally.count >= settings.tpp_reject_count else None
    return Signal(
        "tpp_velocity",
        settings.tpp_velocity_score * len(broken),
        f"the TPP submitted {' and '.join(broken)} in {window}",
        forces,
    )


def velocity_unavailable(facts: Facts, settings: RiskSettings) -> Signal | None:
    if not facts.velocity_unavailable:
        return None
    return Signal(
        "velocity_unavailable",
        settings.velocity_unavailable_score,
        "payment counts could not be checked (velocity store unavailable)",
    )


def night_time(facts: Facts, settings: RiskSettings) -> Signal | None:
    """Local time of day in the bank's zone within [night_start_hour, night_end_hour)."""
    local = facts.at.astimezone(zoneinfo.ZoneInfo(settings.timezone))
    start, end = settings.night_start_hour, settings.night_end_hour
    inside = start <= local.hour < end if start <= end else (local.hour >= start or local.hour < end)
    if not inside:
        return None
    return Signal(
        "night_time",
        settings.night_score,
        f"made at {local:%H:%M} {settings.timezone} time, between {start:02d}:00 and {end:02d}:00",
    )


def new_ip(facts: Facts, settings: RiskSettings) -> Signal | None:
    seen = facts.seen
    if seen is None or not seen.anything or seen.ip is not False:
        return None
    reason = "customer IP address not seen on their earlier payments"
    return Signal("new_ip", settings.new_ip_score, reason)


def new_device(facts: Facts, settings: RiskSettings) -> Signal | None:
    seen = facts.seen
    if seen is None or not seen.anything or seen.device is not False:
        return None
    reason = "customer device not seen on their earlier payments"
    return Signal("new_device", settings.new_device_score, reason)


def merchant_category(facts: Facts, settings: RiskSettings) -> Signal | None:
    """Risk.MerchantCategoryCode in the operator's list of high-risk categories."""
    code = facts.context.merchant_category_code
    if code is None or code not in settings.risky_merchant_categories:
        return None
    return Signal(
        "merchant_category", settings.merchant_category_score, f"merchant category {code} is high-risk"
    )


def consent_age(facts: Facts, settings: RiskSettings) -> Signal | None:
    """At payment submission: a consent used sooner than a person could approve it, or long after."""
    if facts.stage is not Stage.PAYMENT or facts.consent_created_at is None:
        return None
    age = (facts.at - facts.consent_created_at).total_seconds()
    if age < settings.min_consent_age_seconds:
        return Signal(
            "consent_age",
            settings.consent_age_score,
            f"payment submitted {age:.1f} s after its consent was created "
            f"(under {settings.min_consent_age_seconds} s)",
        )
    if age > settings.max_consent_age_seconds:
        return Signal(
            "consent_age",
            settings.consent_age_score,
            f"payment submitted {_window(int(age))} after its consent was created "
            f"(over {_window(settings.max_consent_age_seconds)})",
        )
    return None


def _window(seconds: int) -> str:
    for unit, size in (("day", 86_400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}" + ("s" if count != 1 else "")
    return f"{seconds} s"


RULES: tuple[Rule, ...] = (
    denied_payee,
    tpp_velocity,
    customer_velocity,
    velocity_unavailable,
    unusual_amount,
    new_payee,
    night_time,
    new_ip,
    new_device,
    merchant_category,
    consent_age,
)
