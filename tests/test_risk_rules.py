"""The risk engine's rules on their own (kaimen.risk.rules), at their boundaries, and how the scoring
turns signals into an outcome (kaimen.risk.scoring). Pure: no database, no clock."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from kaimen.risk import rules
from kaimen.risk.config import RiskSettings
from kaimen.risk.decision import Outcome, Signal, Stage
from kaimen.risk.facts import DeniedPayee, History, Seen, Tally
from kaimen.risk.scoring import outcome_for, score
from tests.risk_support import NIGHT, NOON, PAYEE, SCHEME, SETTINGS, USUAL, facts, payment, with_context


def test_an_ordinary_payment_fires_no_rule_and_is_allowed() -> None:
    assert score(facts(), SETTINGS) == (Outcome.ALLOW, 0, ())


# unusual_amount: above 3x the 90th percentile (5000) of at least 5 earlier payments.


@pytest.mark.parametrize(("amount", "fires"), [(15_000, False), (15_001, True)])
def test_unusual_amount_fires_strictly_above_3x_the_90th_percentile(amount: int, fires: bool) -> None:
    signal = rules.unusual_amount(with_context(facts(), amount_minor=amount), SETTINGS)
    if not fires:
        assert signal is None
        return
    assert signal == Signal(
        "unusual_amount",
        30,
        "amount 150.01 GBP is more than 3 times the customer's usual payments "
        "(90th percentile 50.00 GBP over 10 payments)",
    )


@pytest.mark.parametrize(("amount", "fires"), [(99_999, False), (100_000, True)])
def test_with_too_little_history_only_a_large_amount_fires(amount: int, fires: bool) -> None:
    thin = facts(history=History(amounts=(1_000, 1_000, 1_000, 1_000), payees=frozenset()))
    signal = rules.unusual_amount(with_context(thin, amount_minor=amount), SETTINGS)
    assert (signal is not None) is fires
    if signal is not None:
        assert signal.score == 20
        assert signal.reason == (
            "amount 1000.00 GBP with too little history to compare (4 earlier payments in GBP)"
        )


def test_five_payments_are_enough_history() -> None:
    five = facts(history=History(amounts=(1_000,) * 5, payees=frozenset()))
    assert rules.unusual_amount(with_context(five, amount_minor=3_000), SETTINGS) is None
    signal = rules.unusual_amount(with_context(five, amount_minor=3_001), SETTINGS)
    assert signal is not None and signal.score == 30


def test_customer_rules_do_not_run_without_a_customer() -> None:
    unknown = facts(history=None, seen=None, customer_tally=None, context=payment(customer_id=None))
    assert rules.unusual_amount(unknown, SETTINGS) is None
    assert rules.new_payee(unknown, SETTINGS) is None
    assert rules.customer_velocity(unknown, SETTINGS) is None
    assert rules.new_ip(unknown, SETTINGS) is None


# new_payee


def test_new_payee_fires_for_a_creditor_the_customer_never_paid() -> None:
    assert rules.new_payee(with_context(facts(), creditor_identification=PAYEE), SETTINGS) == Signal(
        "new_payee", 20, "first payment by this customer to this payee"
    )


def test_a_known_payee_is_recognised_however_its_identification_is_written() -> None:
    spaced = with_context(facts(), creditor_identification="40-12-76 1111 2222")
    assert rules.new_payee(spaced, SETTINGS) is None


# denied_payee: a hard rule


def test_a_denied_payee_forces_reject_whatever_else() -> None:
    denied = facts(denied=DeniedPayee(SCHEME, PAYEE, "mule account, police report 123"))
    signal = rules.denied_payee(denied, SETTINGS)
    assert signal == Signal(
        "denied_payee",
        100,
        f"payee {SCHEME} {PAYEE} is on the deny list (mule account, police report 123)",
        Outcome.REJECT,
    )
    assert score(denied, SETTINGS)[:2] == (Outcome.REJECT, 100)


# customer_velocity: more than 5 or more than 5000.00 in an hour


@pytest.mark.parametrize(
    ("tally", "expected"),
    [
        (Tally(5, 500_000), None),
        (Tally(6, 500_000), (40, "customer made 6 payments (limit 5) in 1 hour")),
        (Tally(5, 500_001), (40, "customer made 5000.01 GBP in total (limit 5000.00 GBP) in 1 hour")),
        (
            Tally(6, 500_001),
            (80, "customer made 6 payments (limit 5) and 5000.01 GBP in total (limit 5000.00 GBP) in 1 hour"),
        ),
    ],
)
def test_customer_velocity_boundaries(tally: Tally, expected: tuple[int, str] | None) -> None:
    signal = rules.customer_velocity(facts(customer_tally=tally), SETTINGS)
    assert (None if signal is None else (signal.score, signal.reason)) == expected


# tpp_velocity: more than 60 or more than 100000.00 a minute; 120 or more is a hard reject


@pytest.mark.parametrize(
    ("count", "score_", "forces"),
    [(60, None, None), (61, 70, None), (119, 70, None), (120, 70, Outcome.REJECT)],
)
def test_tpp_velocity_boundaries(count: int, score_: int | None, forces: Outcome | None) -> None:
    signal = rules.tpp_velocity(facts(tpp_tally=Tally(count, count * 100)), SETTINGS)
    if score_ is None:
        assert signal is None
        return
    assert signal is not None
    assert (signal.score, signal.forces) == (score_, forces)
    assert signal.reason == f"the TPP submitted {count} payments (limit 60) in 1 minute"


def test_tpp_velocity_by_sum() -> None:
    signal = rules.tpp_velocity(facts(tpp_tally=Tally(3, 10_000_001)), SETTINGS)
    assert signal is not None
    assert signal.reason == "the TPP submitted 100000.01 GBP in total (limit 100000.00 GBP) in 1 minute"


def test_an_unreachable_velocity_store_asks_for_a_step_up() -> None:
    down = facts(customer_tally=None, tpp_tally=None, velocity_unavailable=True)
    assert score(down, SETTINGS) == (
        Outcome.STEP_UP,
        40,
        (
            Signal(
                "velocity_unavailable", 40, "payment counts could not be checked (velocity store unavailable)"
            ),
        ),
    )


# night_time: 00:00 to 06:00 Europe/London


@pytest.mark.parametrize(
    ("at", "fires"),
    [
        (datetime(2026, 11, 25, 23, 59, 59, tzinfo=UTC), False),
        (datetime(2026, 11, 26, 0, 0, tzinfo=UTC), True),
        (datetime(2026, 11, 26, 5, 59, 59, tzinfo=UTC), True),
        (datetime(2026, 11, 26, 6, 0, tzinfo=UTC), False),
        # British Summer Time: 23:30 UTC is 00:30 in London.
        (datetime(2026, 7, 1, 23, 30, tzinfo=UTC), True),
        (datetime(2026, 7, 2, 5, 0, tzinfo=UTC), False),
    ],
)
def test_night_time_is_judged_in_the_banks_zone(at: datetime, fires: bool) -> None:
    signal = rules.night_time(facts(at=at), SETTINGS)
    assert (signal is not None) is fires


def test_night_time_reason_and_a_window_across_midnight() -> None:
    signal = rules.night_time(facts(at=NIGHT), SETTINGS)
    assert signal == Signal("night_time", 15, "made at 02:30 Europe/London time, between 00:00 and 06:00")
    late = RiskSettings(night_start_hour=22, night_end_hour=5)
    assert rules.night_time(facts(at=datetime(2026, 11, 26, 22, 0, tzinfo=UTC)), late) is not None
    assert rules.night_time(facts(at=datetime(2026, 11, 26, 4, 59, tzinfo=UTC)), late) is not None
    assert rules.night_time(facts(at=datetime(2026, 11, 26, 5, 0, tzinfo=UTC)), late) is None


# new_ip / new_device: only once the customer has earlier payments


@pytest.mark.parametrize(
    ("seen", "ip", "device"),
    [
        (Seen(anything=False, ip=False, device=False), False, False),  # the customer's first payment
        (Seen(anything=True, ip=True, device=True), False, False),
        (Seen(anything=True, ip=False, device=None), True, False),  # no device reported
        (Seen(anything=True, ip=None, device=False), False, True),  # customer not present
    ],
)
def test_new_ip_and_device(seen: Seen, ip: bool, device: bool) -> None:
    base = facts(seen=seen)
    ip_signal = rules.new_ip(base, SETTINGS)
    device_signal = rules.new_device(base, SETTINGS)
    assert (ip_signal is not None, device_signal is not None) == (ip, device)
    if ip_signal is not None:
        assert ip_signal.score == 15
        assert ip_signal.reason == "customer IP address not seen on their earlier payments"
    if device_signal is not None:
        assert device_signal.score == 10


# merchant_category: Risk.MerchantCategoryCode


@pytest.mark.parametrize(("code", "fires"), [("7995", True), ("6051", True), ("5411", False), (None, False)])
def test_high_risk_merchant_category(code: str | None, fires: bool) -> None:
    signal = rules.merchant_category(with_context(facts(), merchant_category_code=code), SETTINGS)
    assert (signal is not None) is fires
    if signal is not None:
        assert signal.reason == f"merchant category {code} is high-risk"


# consent_age: at payment submission only, under 3 s or over a day


@pytest.mark.parametrize(
    ("age", "reason"),
    [
        (timedelta(seconds=2.5), "payment submitted 2.5 s after its consent was created (under 3 s)"),
        (timedelta(seconds=3), None),
        (timedelta(days=1), None),
        (timedelta(days=2), "payment submitted 2 days after its consent was created (over 1 day)"),
    ],
)
def test_consent_age(age: timedelta, reason: str | None) -> None:
    at_payment = facts(stage=Stage.PAYMENT, context=payment(), consent_created_at=NOON - age)
    signal = rules.consent_age(at_payment, SETTINGS)
    assert (None if signal is None else signal.reason) == reason
    assert rules.consent_age(replace(at_payment, stage=Stage.CONSENT), SETTINGS) is None


# Scoring


@pytest.mark.parametrize(
    ("total", "outcome"),
    [
        (0, Outcome.ALLOW),
        (39, Outcome.ALLOW),
        (40, Outcome.STEP_UP),
        (69, Outcome.STEP_UP),
        (70, Outcome.HOLD),
        (99, Outcome.HOLD),
        (100, Outcome.REJECT),
    ],
)
def test_outcome_thresholds(total: int, outcome: Outcome) -> None:
    assert outcome_for(total, (), SETTINGS) is outcome


def test_a_forced_outcome_never_lowers_the_score_outcome() -> None:
    forced = (Signal("x", 0, "x", Outcome.STEP_UP),)
    assert outcome_for(100, forced, SETTINGS) is Outcome.REJECT
    assert outcome_for(0, forced, SETTINGS) is Outcome.STEP_UP


def test_account_takeover_signals_together_demand_a_step_up() -> None:
    """New payee (20) + an amount far above the customer's usual (30) + night time (15) = 65."""
    takeover = facts(at=NIGHT, context=payment(creditor_identification=PAYEE, amount_minor=95_000, at=NIGHT))
    outcome, total, fired = score(takeover, SETTINGS)
    assert (outcome, total) == (Outcome.STEP_UP, 65)
    assert [signal.rule for signal in fired] == ["unusual_amount", "new_payee", "night_time"]


def test_takeover_from_a_new_ip_is_held() -> None:
    takeover = facts(
        at=NIGHT,
        context=payment(creditor_identification=PAYEE, amount_minor=95_000, at=NIGHT),
        seen=Seen(anything=True, ip=False, device=None),
    )
    assert score(takeover, SETTINGS)[:2] == (Outcome.HOLD, 80)


def test_each_signal_alone_is_allowed_except_velocity_and_deny_list() -> None:
    """No single soft signal of an ordinary customer stops a payment on its own."""
    single = [
        with_context(facts(), creditor_identification=PAYEE),
        with_context(facts(), amount_minor=50_000),
        facts(at=NIGHT),
        facts(seen=Seen(anything=True, ip=False, device=False)),
        with_context(facts(), merchant_category_code="7995"),
    ]
    assert [score(f, SETTINGS)[0] for f in single] == [Outcome.ALLOW] * 5
    assert score(facts(customer_tally=Tally(6, 10)), SETTINGS)[0] is Outcome.STEP_UP
    assert score(facts(tpp_tally=Tally(61, 10)), SETTINGS)[0] is Outcome.HOLD
    assert score(facts(tpp_tally=Tally(120, 10)), SETTINGS)[0] is Outcome.REJECT


def test_reasons_are_reported_in_rule_order() -> None:
    everything = facts(
        at=NIGHT,
        context=payment(creditor_identification=PAYEE, amount_minor=95_000, merchant_category_code="7995"),
        denied=DeniedPayee(SCHEME, PAYEE, ""),
        customer_tally=Tally(6, 95_000),
        tpp_tally=Tally(61, 95_000),
        seen=Seen(anything=True, ip=False, device=False),
    )
    outcome, total, fired = score(everything, SETTINGS)
    assert outcome is Outcome.REJECT
    assert [signal.rule for signal in fired] == [
        "denied_payee",
        "tpp_velocity",
        "customer_velocity",
        "unusual_amount",
        "new_payee",
        "night_time",
        "new_ip",
        "new_device",
        "merchant_category",
    ]
    assert total == 100 + 70 + 40 + 30 + 20 + 15 + 15 + 10 + 20


# Settings


def test_thresholds_must_be_ordered_and_the_zone_known() -> None:
    with pytest.raises(ValidationError, match="step_up_score <= hold_score <= reject_score"):
        RiskSettings(hold_score=30)
    with pytest.raises(ValidationError, match="unknown time zone"):
        RiskSettings(timezone="Mars/Olympus")
    with pytest.raises(ValidationError, match="tpp_reject_count"):
        RiskSettings(tpp_max_count=10, tpp_reject_count=5)


def test_thresholds_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from kaimen.settings import load_settings

    monkeypatch.setenv("KAIMEN_RISK__HOLD_SCORE", "80")
    monkeypatch.setenv("KAIMEN_RISK__RISKY_MERCHANT_CATEGORIES", '["7995"]')
    risk = load_settings().risk
    assert (risk.hold_score, risk.risky_merchant_categories, risk.step_up_score) == (80, ["7995"], 40)


def test_percentile_is_nearest_rank_and_money_is_shown_in_major_units() -> None:
    assert rules.percentile(USUAL.amounts, 0.9) == 5_000
    assert rules.money(-123_456, "GBP") == "-1234.56 GBP"
    assert rules.money(1500, "JPY") == "1500 JPY"


def test_rules_and_thresholds_come_from_a_configuration_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from kaimen.settings import SettingsError, load_settings

    path = tmp_path / "risk.json"
    path.write_text(json.dumps({"hold_score": 75, "night_start_hour": 1, "risky_merchant_categories": []}))
    monkeypatch.setenv("KAIMEN_RISK__FILE", str(path))
    monkeypatch.setenv("KAIMEN_RISK__NIGHT_START_HOUR", "2")  # the environment wins over the file
    risk = load_settings().risk
    assert (risk.hold_score, risk.night_start_hour, risk.risky_merchant_categories) == (75, 2, [])
    path.write_text(json.dumps({"hold_scor": 75}))
    with pytest.raises(SettingsError, match="KAIMEN_RISK__HOLD_SCOR: Extra inputs are not permitted"):
        load_settings()
    path.write_text("{not json")
    with pytest.raises(SettingsError, match="is not JSON"):
        load_settings()
    monkeypatch.setenv("KAIMEN_RISK__FILE", str(tmp_path / "missing.json"))
    with pytest.raises(SettingsError, match=r"cannot read .*missing\.json: No such file"):
        load_settings()
