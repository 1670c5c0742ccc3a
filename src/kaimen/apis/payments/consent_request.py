"""OBWriteDomesticConsent4, the body of POST /domestic-payment-consents, read strictly, one named step
after another (UK OB v3.1.11 spec file payment-initiation-openapi.json, components/schemas):

1. ``json_object``  one JSON object, else UK.OBIE.Resource.InvalidFormat;
2. ``schema``       the spec file's OBWriteDomesticConsent4 itself (its ``required``,
                    ``additionalProperties: false``, min/maxLength, ``pattern`` and ``enum``s, OBRisk1
                    included), the first violation in document order answered as: a missing member
                    UK.OBIE.Field.Missing, a member the schema does not name UK.OBIE.Field.Unexpected,
                    any other UK.OBIE.Field.Invalid; ``Path`` is the member's JSON path
                    (``Data.Initiation.InstructedAmount.Amount``);
3. ``schemes``      CreditorAccount/DebtorAccount SchemeName within OBExternalAccountIdentification4Code
                    (UK.OBIE.Unsupported.Scheme); a UK.OBIE.SortCodeAccountNumber Identification is the
                    "6 digit UK sort code and 8 digit account number"
                    (UK.OBIE.Unsupported.AccountIdentifier);
                    LocalInstrument within OBExternalLocalInstrument1Code
                    (UK.OBIE.Unsupported.LocalInstrument);
4. ``amount``       InstructedAmount.Currency one the bank keeps accounts in (UK.OBIE.Unsupported.Currency);
                    Amount more than zero with no non-zero digits past the currency's minor unit
                    (Kaimen: money is integer minor units; UK.OBIE.Field.Invalid);
5. ``completion``   Data.Authorisation.CompletionDateTime (``format: date-time``) with its zone
                    (UK.OBIE.Field.InvalidDate).

Steps 1-5 depend on the body alone, so a replay of an idempotency key passes them as the first request
did. The one check that depends on the time, ``completion_ahead`` (CompletionDateTime in the future,
UK.OBIE.Field.InvalidDate), runs for a new consent only, after the key was found to be new: a replay
"must not create a new resource" and answers as the first did (Read/Write Data API Profile,
"Idempotency"), even once its CompletionDateTime has passed.

The Initiation and the Risk are kept exactly as sent, as canonical JSON (sorted keys, no whitespace:
the same document always gives the same text), and the whole body's canonical digest tells a replay
of an idempotency key from a reuse with another body.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from jsonschema.exceptions import ValidationError

from kaimen.apis.accounts.consent_request import date_time
from kaimen.apis.payments.errors import (
    FieldInvalid,
    FieldInvalidDate,
    FieldMissing,
    FieldUnexpected,
    InvalidFormat,
    UnsupportedCurrency,
    UnsupportedIdentifier,
    UnsupportedLocalInstrument,
    UnsupportedScheme,
)
from kaimen.apis.payments.spec import namespaced_enum, validator
from kaimen.ledger.core import SORT_CODE_ACCOUNT_NUMBER
from kaimen.ledger.money import MINOR_UNITS, Money

SCHEMA = "OBWriteDomesticConsent4"
INITIATION = "Data.Initiation"
_AMOUNT = re.compile(r"([0-9]{1,13})(?:\.([0-9]{1,5}))?", re.ASCII)  # OBActiveCurrencyAndAmount_SimpleType
_SORT_CODE_ACCOUNT_NUMBER = re.compile(r"[0-9]{14}", re.ASCII)
_PATH_NAME = 64  # characters of a member's name kept in an error Path


@dataclass(frozen=True, slots=True)
class DomesticConsentRequest:
    initiation: str  # canonical JSON of Data.Initiation
    risk: str  # canonical JSON of Risk
    extras: str  # canonical JSON of Data's members other than Initiation
    amount: Money
    authorise_by: datetime | None
    digest: str  # SHA-256 (hex) of the canonical JSON of the whole body


def canonical(document: Any) -> str:
    return orjson.dumps(document, option=orjson.OPT_SORT_KEYS).decode()


def read_domestic_consent_request(body: bytes) -> DomesticConsentRequest:
    document = json_object(body, SCHEMA)
    check_schema(SCHEMA, document)
    data: dict[str, Any] = document["Data"]
    initiation: dict[str, Any] = data["Initiation"]
    check_schemes(initiation)
    amount = instructed_amount(initiation["InstructedAmount"])
    authorise_by = completion(data)
    return DomesticConsentRequest(
        initiation=canonical(initiation),
        risk=canonical(document["Risk"]),
        extras=canonical({name: value for name, value in data.items() if name != "Initiation"}),
        amount=amount,
        authorise_by=authorise_by,
        digest=body_digest(document),
    )


def body_digest(document: dict[str, Any]) -> str:
    """SHA-256 (hex) of the whole body's canonical JSON: what an idempotency key is bound to."""
    return hashlib.sha256(canonical(document).encode()).hexdigest()


def json_object(body: bytes, name: str = SCHEMA) -> dict[str, Any]:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise InvalidFormat("the body is not valid JSON") from None
    if not isinstance(document, dict):
        raise InvalidFormat(f"the body must be an {name} JSON object")
    return document


def _path(parts: Any) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _child(parent: str, name: str) -> str:
    name = name[:_PATH_NAME]
    return f"{parent}.{name}" if parent else name


def check_schema(name: str, document: dict[str, Any]) -> None:
    """The first violation of the spec file's schema ``name``, in document order, as its UK OB code."""
    errors = list(validator(name).iter_errors(document))
    if not errors:
        return
    first = min(errors, key=lambda e: (len(e.absolute_path), _path(e.absolute_path), e.validator))
    raise _refusal(name, first)


def _refusal(name: str, error: ValidationError) -> Exception:
    at = _path(error.absolute_path)
    instance = error.instance
    required = error.validator_value
    if error.validator == "required" and isinstance(instance, dict) and isinstance(required, list):
        missing = next(n for n in required if n not in instance)
        return FieldMissing(f"{_child(at, missing)} is required", path=_child(at, missing))
    if (
        error.validator == "additionalProperties"
        and isinstance(instance, dict)
        and isinstance(error.schema, dict)
    ):
        known = error.schema.get("properties", {})
        extra = next(n for n in instance if n not in known)
        return FieldUnexpected(f"{_child(at, extra)} is not a member of {name}", path=_child(at, extra))
    if not at:
        return InvalidFormat(f"the body must be an {name} JSON object")
    return FieldInvalid(f"{at} does not match {name} ({error.validator})", path=at)


def check_schemes(initiation: dict[str, Any]) -> None:
    schemes = namespaced_enum("OBExternalAccountIdentification4Code")
    for account_name in ("CreditorAccount", "DebtorAccount"):
        account = initiation.get(account_name)
        if account is None:
            continue
        path = f"{INITIATION}.{account_name}"
        if account["SchemeName"] not in schemes:
            raise UnsupportedScheme("SchemeName is not a supported scheme", path=f"{path}.SchemeName")
        if account["SchemeName"] == SORT_CODE_ACCOUNT_NUMBER and not _SORT_CODE_ACCOUNT_NUMBER.fullmatch(
            account["Identification"]
        ):
            raise UnsupportedIdentifier(
                "a UK.OBIE.SortCodeAccountNumber Identification is the 6-digit sort code and 8-digit number",
                path=f"{path}.Identification",
            )
    instrument = initiation.get("LocalInstrument")
    if instrument is not None and instrument not in namespaced_enum("OBExternalLocalInstrument1Code"):
        raise UnsupportedLocalInstrument(
            "LocalInstrument is not supported", path=f"{INITIATION}.LocalInstrument"
        )


def instructed_amount(instructed: dict[str, Any]) -> Money:
    """The schema has checked the Currency's three capitals and the Amount's pattern."""
    path = f"{INITIATION}.InstructedAmount"
    currency: str = instructed["Currency"]
    if currency not in MINOR_UNITS:
        raise UnsupportedCurrency("the bank keeps no accounts in this currency", path=f"{path}.Currency")
    # The spec's pattern passed, but in Python's regex dialect its \d also matches non-ASCII digits
    # and its $ a final newline: the Amount must be ASCII digits and nothing else.
    matched = _AMOUNT.fullmatch(instructed["Amount"])
    if matched is None:
        raise FieldInvalid("Amount must be a decimal string, at most 13 digits and 5 decimals",
                           path=f"{path}.Amount")  # fmt: skip
    whole, fraction = matched.group(1), matched.group(2) or ""
    digits = MINOR_UNITS[currency]
    if fraction[digits:].strip("0"):
        raise FieldInvalid(f"Amount has more than {digits} decimals for {currency}", path=f"{path}.Amount")
    minor = int(whole) * 10**digits + int(fraction[:digits].ljust(digits, "0") or "0")
    if minor <= 0:
        raise FieldInvalid("Amount must be more than zero", path=f"{path}.Amount")
    return Money(minor, currency)


_COMPLETION = "Authorisation.CompletionDateTime"


def completion(data: dict[str, Any]) -> datetime | None:
    authorisation = data.get("Authorisation")
    if authorisation is None or "CompletionDateTime" not in authorisation:
        return None
    when = date_time({_COMPLETION: authorisation["CompletionDateTime"]}, _COMPLETION)
    assert when is not None
    return when.at


def completion_ahead(request: DomesticConsentRequest, now: datetime) -> None:
    """A new consent's CompletionDateTime, if any, is in the future (not for a replay: see above)."""
    if request.authorise_by is not None and request.authorise_by <= now:
        raise FieldInvalidDate(f"{_COMPLETION} must be in the future", path=f"Data.{_COMPLETION}")
