"""The risk engine's rules and thresholds: ``Settings.risk``. Every default is documented beside it;
amounts are integer minor units. Set them in a configuration file, a JSON object of these fields
(``KAIMEN_RISK__FILE=/etc/kaimen/risk.json``), or one by one (``KAIMEN_RISK__HOLD_SCORE=80``), or all
as JSON in ``KAIMEN_RISK``; a field set in the environment wins over the file.

Scores add up; the outcome is the first threshold the total reaches, from the top: ``reject_score``,
``hold_score``, ``step_up_score``; below all three the payment is allowed. Hard rules (a payee on the
deny list, a card-testing burst past ``tpp_reject_count``) decide the outcome whatever the total.

Kept free of other Kaimen imports: kaimen.settings imports it.
"""

from __future__ import annotations

import json
import zoneinfo
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, field_validator, model_validator


class RiskSettings(BaseModel):
    model_config = {"extra": "forbid"}

    # The configuration file the other fields were read from, if any.
    file: Path | None = None

    # Whether every domestic payment is scored before it is posted (issue 5: "Payments are checked for
    # fraud"). Off only where a test or an operator means it: then every payment is allowed.
    enabled: bool = True

    # Outcome thresholds on the total score.
    step_up_score: int = Field(default=40, ge=1)  # the consent page asks for an extra factor
    hold_score: int = Field(default=70, ge=1)  # an operator reviews the payment
    reject_score: int = Field(default=100, ge=1)  # refused, status Rejected

    # Amount against the customer's own history: the debits of the last ``history_days`` days in the
    # payment's currency, read from the core (at most ``history_max_pages`` pages of 1000, newest first).
    history_days: int = Field(default=180, ge=1)
    history_max_pages: int = Field(default=5, ge=1)
    # How long one customer's history is reused before it is read again (0: read on every assessment).
    history_cache_seconds: float = Field(default=60.0, ge=0)
    # With at least ``history_min_payments`` past debits, an amount above ``unusual_amount_factor`` times
    # their 90th percentile scores ``unusual_amount_score``.
    history_min_payments: int = Field(default=5, ge=1)
    unusual_amount_factor: float = Field(default=3.0, gt=1.0)
    unusual_amount_score: int = Field(default=30, ge=0)
    # With less history than that, an amount at or above ``no_history_amount_minor`` (1000.00) scores
    # ``no_history_score``.
    no_history_amount_minor: int = Field(default=100_000, ge=1)
    no_history_score: int = Field(default=20, ge=0)

    # New payee: no debit in the history went to this creditor identification.
    new_payee_score: int = Field(default=20, ge=0)

    # Velocity per customer (every assessment at the same stage, consent or payment, counts, whatever
    # its outcome) in a sliding window of ``customer_window_seconds``: more than ``customer_max_count``
    # assessments, or more than ``customer_max_sum_minor`` (5000.00) in total, each score
    # ``customer_velocity_score``.
    customer_window_seconds: int = Field(default=3600, ge=1)
    customer_max_count: int = Field(default=5, ge=1)
    customer_max_sum_minor: int = Field(default=500_000, ge=1)
    customer_velocity_score: int = Field(default=40, ge=0)
    # Velocity per TPP client (card testing: many small payments in a minute): more than
    # ``tpp_max_count`` or ``tpp_max_sum_minor`` (100000.00) in ``tpp_window_seconds`` each score
    # ``tpp_velocity_score``; ``tpp_reject_count`` or more in the window is a hard reject.
    tpp_window_seconds: int = Field(default=60, ge=1)
    tpp_max_count: int = Field(default=60, ge=1)
    tpp_max_sum_minor: int = Field(default=10_000_000, ge=1)
    tpp_velocity_score: int = Field(default=70, ge=0)
    tpp_reject_count: int = Field(default=120, ge=1)
    # Score added when the velocity store (Redis or the database) cannot be reached: the counts are
    # unknown, so by default the customer is asked for an extra factor rather than waved through.
    velocity_unavailable_score: int = Field(default=40, ge=0)

    # Time of day, in the bank's zone: from ``night_start_hour`` (inclusive) to ``night_end_hour``
    # (exclusive), 00:00 to 06:00 by default, scores ``night_score``.
    timezone: str = "Europe/London"
    night_start_hour: int = Field(default=0, ge=0, le=23)
    night_end_hour: int = Field(default=6, ge=0, le=24)
    night_score: int = Field(default=15, ge=0)

    # The customer's IP (x-fapi-customer-ip-address) and device (as the TPP reports it) against those
    # of the customer's earlier assessed payments; only once the customer has any.
    new_ip_score: int = Field(default=15, ge=0)
    new_device_score: int = Field(default=10, ge=0)

    # The Risk block: a MerchantCategoryCode (ISO 18245) in this list scores ``merchant_category_score``.
    # Defaults: 4829 money transfer, 6051 quasi-cash (crypto), 6211 securities brokers, 7995 gambling.
    risky_merchant_categories: list[str] = Field(default_factory=lambda: ["4829", "6051", "6211", "7995"])
    merchant_category_score: int = Field(default=20, ge=0)

    # Consent age at payment submission: sooner than ``min_consent_age_seconds`` after the consent was
    # created (no customer reads and approves that fast) or later than ``max_consent_age_seconds``
    # (one day) each score ``consent_age_score``.
    min_consent_age_seconds: int = Field(default=3, ge=0)
    max_consent_age_seconds: int = Field(default=86_400, ge=1)
    consent_age_score: int = Field(default=15, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _from_file(cls, data: Any) -> Any:
        if not isinstance(data, dict) or data.get("file") in (None, ""):
            return data
        path = Path(data["file"])
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
        except OSError as error:
            raise ValueError(f"cannot read {path}: {error.strerror}") from None
        except ValueError as error:
            raise ValueError(f"{path} is not JSON: {error}") from None
        if not isinstance(loaded, dict) or "file" in loaded:
            raise ValueError(f"{path} must hold one JSON object of risk settings (and no 'file')")
        return {**loaded, **data}

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (an IANA name, e.g. Europe/London)") from None
        return value

    @model_validator(mode="after")
    def _ordered(self) -> RiskSettings:
        if not self.step_up_score <= self.hold_score <= self.reject_score:
            raise ValueError("thresholds must satisfy step_up_score <= hold_score <= reject_score")
        if self.tpp_reject_count < self.tpp_max_count:
            raise ValueError("tpp_reject_count must be at least tpp_max_count")
        return self
