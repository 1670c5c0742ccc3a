"""Shared by the risk tests: a fixed clock, contexts and facts built with defaults."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from kaimen.risk.config import RiskSettings
from kaimen.risk.context import ConsentContext, PaymentContext
from kaimen.risk.decision import Stage
from kaimen.risk.facts import Facts, History, Seen, Tally

# A Thursday, 14:00 in London (GMT in November): daytime.
NOON = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)
# 02:30 in London: night.
NIGHT = datetime(2026, 11, 26, 2, 30, tzinfo=UTC)
SCHEME = "UK.OBIE.SortCodeAccountNumber"
PAYEE = "40127687654321"
KNOWN_PAYEE = "40127611112222"
SETTINGS = RiskSettings()


DEFAULTS: dict[str, Any] = {
    "subject_id": "pcon_1",
    "customer_id": "cus_alice",
    "client_id": "client_a",
    "consent_id": "pcon_1",
    "amount_minor": 2_500,
    "currency": "GBP",
    "creditor_scheme": SCHEME,
    "creditor_identification": KNOWN_PAYEE,
    "creditor_name": "Known Payee",
    "customer_ip": "198.51.100.7",
    "at": NOON,
}


def consent(**fields: Any) -> ConsentContext:
    return ConsentContext(**{**DEFAULTS, **fields})


def payment(**fields: Any) -> PaymentContext:
    return PaymentContext(**{**DEFAULTS, "subject_id": "pay_1", "debtor_account_id": "acc_1", **fields})


# Ten ordinary payments of 20.00 to 60.00 to the known payee: the 90th percentile is 5000 (50.00).
USUAL = History(
    amounts=(2_000, 2_500, 3_000, 3_500, 4_000, 4_500, 5_000, 5_000, 5_000, 6_000),
    payees=frozenset({KNOWN_PAYEE}),
)


def facts(**fields: Any) -> Facts:
    values: dict[str, Any] = {
        "context": consent(),
        "stage": Stage.CONSENT,
        "at": NOON,
        "history": USUAL,
        "customer_tally": Tally(1, 2_500),
        "tpp_tally": Tally(1, 2_500),
        "seen": Seen(anything=True, ip=True, device=None),
    }
    values.update(fields)
    return Facts(**values)


def with_context(base: Facts, **fields: Any) -> Facts:
    return replace(base, context=replace(base.context, **fields))
