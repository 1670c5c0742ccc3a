"""The customer-present and unattended rates of an API policy (``KAIMEN_APIS``): checked at start-up,
each bad value refused with a message naming the setting and what it takes."""

from __future__ import annotations

import json

import pytest

from kaimen.settings import SettingsError, load_settings

AISP = {"tier": "ACQUAINTANCE", "auth": "dpop", "scopes": ["accounts"]}
NOT_A_RATE = "must be a rate such as '4/day' or '600/minute', or null for no limit"
ZERO = "must allow at least 1 call; null means no limit"


def test_the_sandbox_defaults_of_the_account_api() -> None:
    policy = load_settings().apis["aisp"]
    assert (policy.customer_present_rate, policy.unattended_rate) == ("600/minute", "120/minute")


def test_the_rts_cap_and_no_limit_are_accepted() -> None:
    """PSD2 RTS Art. 36(5)(b): four unattended accesses a day; null: no limit of that kind."""
    policy = load_settings(apis={"aisp": {**AISP, "unattended_rate": "4/day", "customer_present_rate": None}})
    assert (policy.apis["aisp"].unattended_rate, policy.apis["aisp"].customer_present_rate) == ("4/day", None)


def test_a_policy_that_names_neither_has_no_presence_limits() -> None:
    assert load_settings(apis={"aisp": AISP}).apis["aisp"].unattended_rate is None


def test_the_rates_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAIMEN_APIS", json.dumps({"aisp": {**AISP, "unattended_rate": "4 per day"}}))
    assert load_settings().apis["aisp"].unattended_rate == "4 per day"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("unattended_rate", "four a day", NOT_A_RATE),
        ("unattended_rate", "4/fortnight", NOT_A_RATE),
        ("unattended_rate", "4/day\n", NOT_A_RATE),
        ("unattended_rate", 4, NOT_A_RATE),
        ("unattended_rate", "0/day", ZERO),
        ("customer_present_rate", "", NOT_A_RATE),
        ("customer_present_rate", "000 per minute", ZERO),
    ],
)
def test_a_bad_rate_is_refused_naming_the_setting(field: str, value: object, message: str) -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings(apis={"aisp": {**AISP, field: value}})
    assert f"KAIMEN_APIS__AISP__{field.upper()}: {message}" in str(refused.value)
