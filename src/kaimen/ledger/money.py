"""Money as integer minor units of an ISO 4217 currency, never a float.

A signed amount reads as the ledger sees the account: positive is a credit balance or a credit entry,
negative a debit. UK OB v3.1.11 carries the sign separately, as ``CreditDebitIndicator``
(OBCreditDebitCode), next to an unsigned ``Amount`` (OBActiveCurrencyAndAmount_SimpleType,
``^\\d{1,13}$|^\\d{1,13}\\.\\d{1,5}$``); ``Money.credit_debit`` and ``Money.ob_amount`` give both.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# ISO 4217 minor units of the currencies the sandbox ledger keeps.
MINOR_UNITS = {"GBP": 2, "EUR": 2, "USD": 2}


class CreditDebit(StrEnum):
    """OBCreditDebitCode: whether an entry or balance is a credit or a debit."""

    CREDIT = "Credit"
    DEBIT = "Debit"


@dataclass(frozen=True, slots=True)
class Money:
    minor: int
    currency: str

    def __post_init__(self) -> None:
        if self.currency not in MINOR_UNITS:
            raise ValueError(f"unsupported currency {self.currency!r}")

    @property
    def credit_debit(self) -> CreditDebit:
        """A zero balance is reported as a credit (OB balances have no third value)."""
        return CreditDebit.DEBIT if self.minor < 0 else CreditDebit.CREDIT

    def ob_amount(self) -> str:
        """The unsigned OB decimal string, e.g. ``Money(-123456, "GBP")`` → ``"1234.56"``."""
        digits = MINOR_UNITS[self.currency]
        if digits == 2:  # every currency Kaimen holds today; the general form costs twice as much
            whole, fraction = divmod(abs(self.minor), 100)
            return f"{whole}.{fraction:02d}"
        whole, fraction = divmod(abs(self.minor), 10**digits)
        return f"{whole}.{fraction:0{digits}d}" if digits else str(whole)

    def __neg__(self) -> Money:
        return Money(-self.minor, self.currency)
