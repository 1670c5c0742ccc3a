"""Synthetic labelled scenarios (kaimen.risk.scenarios) and their replay through the rules
(kaimen.risk.replay, ``kaimen risk replay``): deterministic per seed; each kind of fraud is flagged and
ordinary traffic rarely is."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from click.testing import CliRunner

from kaimen.cli.main import cli
from kaimen.risk.config import RiskSettings
from kaimen.risk.replay import replay
from kaimen.risk.scenarios import ACCOUNT_TAKEOVER, CARD_TESTING, MULE, NORMAL, ScenarioParams, generate

SMALL = ScenarioParams(customers=60, days=7, warmup_days=45, takeovers=6, mule_payments=12)


def test_the_same_seed_gives_the_same_scenario() -> None:
    assert generate(7, SMALL) == generate(7, SMALL)
    assert generate(7, SMALL).payments != generate(8, SMALL).payments


def test_a_scenario_holds_every_kind_of_payment_in_time_order() -> None:
    scenario = generate(11, SMALL)
    labels = [payment.label for payment in scenario.payments]
    assert labels.count(CARD_TESTING) == 2 * 150
    assert labels.count(MULE) == 12
    assert 6 <= labels.count(ACCOUNT_TAKEOVER) <= 18
    assert labels.count(NORMAL) > 100
    times = [payment.context.at for payment in scenario.payments]
    assert times == sorted(t for t in times if t is not None)
    scored_from = SMALL.start + timedelta(days=SMALL.warmup_days)
    assert all(at is not None and at >= scored_from for at in times)
    assert all(c.at is not None and c.at < scored_from for c in scenario.warmup)
    assert len(scenario.denied_payees) == 2


def test_each_kind_of_fraud_is_flagged_and_normal_traffic_rarely() -> None:
    report = asyncio.run(replay(generate(21, SMALL), RiskSettings()))
    assert report.recall_of(CARD_TESTING) == 1.0
    assert (report.recall_of(ACCOUNT_TAKEOVER) or 0) >= 0.6
    assert (report.recall_of(MULE) or 0) >= 0.5
    assert report.flag_rate_of_normal() < 0.03
    assert 0.8 < report.precision <= 1.0
    # Every payment to a mule payee on the deny list is rejected.
    assert report.outcomes.get((MULE, "reject"), 0) >= 1


def test_stricter_settings_flag_more() -> None:
    scenario = generate(21, SMALL)
    default = asyncio.run(replay(scenario, RiskSettings()))
    strict = asyncio.run(replay(scenario, RiskSettings(step_up_score=20)))
    assert strict.recall >= default.recall
    assert strict.flag_rate_of_normal() > default.flag_rate_of_normal()


def test_replay_command_prints_precision_and_recall_per_seed(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "--data-dir",
            str(tmp_path),
            "risk",
            "replay",
            "--seed",
            "3",
            "--seed",
            "4",
            "--customers",
            "30",
            "--days",
            "3",
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert [line.split(":")[0] for line in lines if line.startswith("seed")] == ["seed 3", "seed 4"]
    assert lines[0].startswith("seed 3: precision ") and " recall " in lines[0]
    assert [line.split()[0] for line in lines[1:5]] == [NORMAL, ACCOUNT_TAKEOVER, MULE, CARD_TESTING]
