"""The two request bodies of the Confirmation of Funds API, read strictly, one named step after another
(UK OB v3.1.11 spec file confirmation-funds-openapi.json, components/schemas):

OBFundsConfirmationConsent1 (POST /funds-confirmation-consents)
1. ``json_object``    one JSON object, else UK.OBIE.Resource.InvalidFormat;
2. ``members``        ``Data`` required (UK.OBIE.Field.Missing), an object (UK.OBIE.Field.Invalid); no
                      member the schema does not name (UK.OBIE.Field.Unexpected): the top level is
                      ``additionalProperties: false``, and Data and DebtorAccount are held to the same,
                      so a misspelt ExpirationDateTime never silently makes an open-ended consent;
3. ``debtor_account`` Data.DebtorAccount required, SchemeName and Identification required
                      (UK.OBIE.Field.Missing); strings within the schema's min/maxLength
                      (UK.OBIE.Field.Invalid); SchemeName one of the x-namespaced-enum
                      (UK.OBIE.Unsupported.Scheme); a UK.OBIE.SortCodeAccountNumber Identification is 14
                      digits (UK.OBIE.Unsupported.AccountIdentifier);
4. ``expiration``     ExpirationDateTime optional, ``format: date-time`` with its zone, in the future
                      (UK.OBIE.Field.InvalidDate; the Account API's reader,
                      kaimen.apis.accounts.consent_request.date_time).

OBFundsConfirmation1 (POST /funds-confirmations)
1. ``json_object``, 2. ``members`` as above (Data: ConsentId, Reference, InstructedAmount required);
3. ``ConsentId`` 1-128 characters, ``Reference`` 1-35 (UK.OBIE.Field.Invalid);
4. ``instructed_amount``  Amount and Currency required; Amount matches
                      ``^\\d{1,13}$|^\\d{1,13}\\.\\d{1,5}$`` and Currency ``^[A-Z]{3,3}$``
                      (UK.OBIE.Field.Invalid); a currency the bank keeps no accounts in is
                      UK.OBIE.Unsupported.Currency; the amount must be more than zero and have no
                      non-zero digits past the currency's minor unit (Kaimen: money is integer minor
                      units, and a check of nothing confirms nothing) (UK.OBIE.Field.Invalid).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from kaimen.apis.accounts.consent_request import DateTimeField, date_time
from kaimen.apis.funds.errors import (
    FieldInvalid,
    FieldInvalidDate,
    FieldMissing,
    FieldUnexpected,
    InvalidFormat,
    UnsupportedCurrency,
    UnsupportedIdentifier,
    UnsupportedScheme,
)
from kaimen.ledger.core import SORT_CODE_ACCOUNT_NUMBER
from kaimen.ledger.money import MINOR_UNITS, Money

# The spec file, OBFundsConfirmationConsent1 Data.DebtorAccount.SchemeName x-namespaced-enum.
SCHEME_NAMES = frozenset(
    {"UK.OBIE.BBAN", "UK.OBIE.IBAN", "UK.OBIE.PAN", "UK.OBIE.Paym", SORT_CODE_ACCOUNT_NUMBER}
)
_SORT_CODE_ACCOUNT_NUMBER = re.compile(r"[0-9]{14}", re.ASCII)
_AMOUNT = re.compile(r"([0-9]{1,13})(?:\.([0-9]{1,5}))?", re.ASCII)  # OBActiveCurrencyAndAmount
_CURRENCY = re.compile(r"[A-Z]{3}", re.ASCII)  # ActiveOrHistoricCurrencyCode
_PATH_NAME = 64  # characters of an unexpected member's name kept in an error Path


@dataclass(frozen=True, slots=True)
class DebtorAccount:
    """OBFundsConfirmationConsent1 Data.DebtorAccount, as sent."""

    scheme_name: str
    identification: str
    name: str | None
    secondary_identification: str | None


@dataclass(frozen=True, slots=True)
class FundsConsentRequest:
    debtor_account: DebtorAccount
    expiration: DateTimeField | None


@dataclass(frozen=True, slots=True)
class InstructedAmount:
    """InstructedAmount as sent (``text``, echoed unchanged) and as integer minor units."""

    text: str
    money: Money

    @property
    def currency(self) -> str:
        return self.money.currency


@dataclass(frozen=True, slots=True)
class FundsCheckRequest:
    consent_id: str
    reference: str
    amount: InstructedAmount


# --- shared steps ----------------------------------------------------------------------------------


def json_object(body: bytes, schema: str) -> dict[str, Any]:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise InvalidFormat("the body is not valid JSON") from None
    if not isinstance(document, dict):
        raise InvalidFormat(f"the body must be an {schema} JSON object")
    return document


def member_object(parent: dict[str, Any], name: str, path: str) -> dict[str, Any]:
    if name not in parent:
        raise FieldMissing(f"{path} is required", path=path)
    value = parent[name]
    if not isinstance(value, dict):
        raise FieldInvalid(f"{path} must be an object", path=path)
    return value


def only(value: dict[str, Any], allowed: frozenset[str], prefix: str, schema: str) -> None:
    for name in value:
        if name not in allowed:
            path = prefix + name[:_PATH_NAME]
            raise FieldUnexpected(f"{path} is not a member of {schema}", path=path)


def text(
    parent: dict[str, Any], name: str, path: str, *, max_length: int, required: bool = True
) -> str | None:
    """A string member within 1..``max_length`` characters (the schema's minLength/maxLength)."""
    if name not in parent:
        if required:
            raise FieldMissing(f"{path} is required", path=path)
        return None
    value = parent[name]
    if not isinstance(value, str) or not 1 <= len(value) <= max_length:
        raise FieldInvalid(f"{path} must be a string of 1 to {max_length} characters", path=path)
    return value


def _required(parent: dict[str, Any], name: str, path: str, *, max_length: int) -> str:
    value = text(parent, name, path, max_length=max_length)
    assert value is not None
    return value


# --- OBFundsConfirmationConsent1 ---------------------------------------------------------------------

CONSENT_SCHEMA = "OBFundsConfirmationConsent1"
_CONSENT_DATA = frozenset({"ExpirationDateTime", "DebtorAccount"})
_DEBTOR = frozenset({"SchemeName", "Identification", "Name", "SecondaryIdentification"})
DEBTOR = "Data.DebtorAccount"


def read_funds_consent_request(body: bytes, now: datetime) -> FundsConsentRequest:
    document = json_object(body, CONSENT_SCHEMA)
    only(document, frozenset({"Data"}), "", CONSENT_SCHEMA)
    data = member_object(document, "Data", "Data")
    only(data, _CONSENT_DATA, "Data.", CONSENT_SCHEMA)
    return FundsConsentRequest(debtor_account(data), expiration(data, now))


def debtor_account(data: dict[str, Any]) -> DebtorAccount:
    debtor = member_object(data, "DebtorAccount", DEBTOR)
    only(debtor, _DEBTOR, f"{DEBTOR}.", CONSENT_SCHEMA)
    scheme = text(debtor, "SchemeName", f"{DEBTOR}.SchemeName", max_length=64)
    identification = _required(debtor, "Identification", f"{DEBTOR}.Identification", max_length=256)
    name = text(debtor, "Name", f"{DEBTOR}.Name", max_length=350, required=False)
    secondary = text(
        debtor, "SecondaryIdentification", f"{DEBTOR}.SecondaryIdentification", max_length=34, required=False
    )
    if scheme not in SCHEME_NAMES:
        raise UnsupportedScheme("SchemeName is not a supported scheme", path=f"{DEBTOR}.SchemeName")
    if scheme == SORT_CODE_ACCOUNT_NUMBER and not _SORT_CODE_ACCOUNT_NUMBER.fullmatch(identification):
        raise UnsupportedIdentifier(
            "a UK.OBIE.SortCodeAccountNumber Identification is the 6-digit sort code and 8-digit number",
            path=f"{DEBTOR}.Identification",
        )
    return DebtorAccount(scheme, identification, name, secondary)


def expiration(data: dict[str, Any], now: datetime) -> DateTimeField | None:
    expires = date_time(data, "ExpirationDateTime")
    if expires is not None and expires.at <= now:
        raise FieldInvalidDate("ExpirationDateTime must be in the future", path="Data.ExpirationDateTime")
    return expires


# --- OBFundsConfirmation1 ----------------------------------------------------------------------------

CHECK_SCHEMA = "OBFundsConfirmation1"
_CHECK_DATA = frozenset({"ConsentId", "Reference", "InstructedAmount"})
AMOUNT = "Data.InstructedAmount"


def read_funds_check_request(body: bytes) -> FundsCheckRequest:
    document = json_object(body, CHECK_SCHEMA)
    only(document, frozenset({"Data"}), "", CHECK_SCHEMA)
    data = member_object(document, "Data", "Data")
    only(data, _CHECK_DATA, "Data.", CHECK_SCHEMA)
    consent_id = _required(data, "ConsentId", "Data.ConsentId", max_length=128)
    reference = _required(data, "Reference", "Data.Reference", max_length=35)
    return FundsCheckRequest(consent_id, reference, instructed_amount(data))


def instructed_amount(data: dict[str, Any]) -> InstructedAmount:
    instructed = member_object(data, "InstructedAmount", AMOUNT)
    only(instructed, frozenset({"Amount", "Currency"}), f"{AMOUNT}.", CHECK_SCHEMA)
    for name in ("Amount", "Currency"):
        if name not in instructed:
            raise FieldMissing(f"{AMOUNT}.{name} is required", path=f"{AMOUNT}.{name}")
    amount, currency = instructed["Amount"], instructed["Currency"]
    matched = _AMOUNT.fullmatch(amount) if isinstance(amount, str) else None
    if matched is None:
        raise FieldInvalid("Amount must be a decimal string, at most 13 digits and 5 decimals",
                           path=f"{AMOUNT}.Amount")  # fmt: skip
    if not isinstance(currency, str) or not _CURRENCY.fullmatch(currency):
        raise FieldInvalid("Currency must be an ISO 4217 code", path=f"{AMOUNT}.Currency")
    if currency not in MINOR_UNITS:
        raise UnsupportedCurrency("the bank keeps no accounts in this currency", path=f"{AMOUNT}.Currency")
    whole, fraction = matched.group(1), matched.group(2) or ""
    digits = MINOR_UNITS[currency]
    if fraction[digits:].strip("0"):
        raise FieldInvalid(f"Amount has more than {digits} decimals for {currency}", path=f"{AMOUNT}.Amount")
    minor = int(whole) * 10**digits + int((fraction[:digits]).ljust(digits, "0") or "0")
    if minor <= 0:
        raise FieldInvalid("Amount must be more than zero", path=f"{AMOUNT}.Amount")
    return InstructedAmount(amount, Money(minor, currency))
