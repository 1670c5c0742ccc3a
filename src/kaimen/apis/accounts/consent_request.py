"""OBReadConsent1, the body of POST /account-access-consents, read strictly (UK OB v3.1.11 spec file,
components/schemas/OBReadConsent1), one named step after another:

1. ``json_object``   the body is one JSON object, else UK.OBIE.Resource.InvalidFormat;
2. ``members``       ``Data`` and ``Risk`` are required objects (UK.OBIE.Field.Missing / Field.Invalid);
                     no member the schema does not name, anywhere (UK.OBIE.Field.Unexpected): the
                     top level and OBRisk2 are ``additionalProperties: false`` (OBRisk2 names no
                     property at all: "No fields for business logic security concerns have been
                     identified for the Account Info APIs", profile "Risk Scoring Information"), and
                     an unknown member of ``Data`` is refused too, so a misspelt ExpirationDateTime can
                     never silently make an open-ended consent;
3. ``permissions``   kaimen.apis.accounts.permissions;
4. ``dates``         ExpirationDateTime, TransactionFromDateTime, TransactionToDateTime: ISO 8601
                     date-times with a zone (the schema's ``format: date-time``, RFC 3339 §5.6: the
                     offset is required), else UK.OBIE.Field.InvalidDate. ExpirationDateTime must be in
                     the future (a consent that has already expired can never be used) and
                     TransactionFromDateTime must not be after TransactionToDateTime (an empty
                     window); both refusals are UK.OBIE.Field.InvalidDate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from kaimen.apis.accounts.errors import (
    FieldInvalid,
    FieldInvalidDate,
    FieldMissing,
    FieldUnexpected,
    InvalidFormat,
)
from kaimen.apis.accounts.permissions import checked_permissions

DATA_MEMBERS = frozenset(
    {"Permissions", "ExpirationDateTime", "TransactionFromDateTime", "TransactionToDateTime"}
)
# Read/Write Data API Profile, "Date Formats": "An ASPSP must accept all valid ISO-8601 date formats
# including its permitted variations (e.g. variations in how the timezone is defined, dates with or
# without a seconds or milliseconds part etc.) in the requests". ISO 8601 extended date "T" time: hh:mm,
# optionally :ss and a decimal fraction ("." or ","), then the zone: Z, ±hh:mm, ±hhmm or ±hh. The zone
# stays required (the spec file's format: date-time, RFC 3339 §5.6 time-offset): without it the instant
# an ExpirationDateTime names would be a guess.
_DATE_TIME = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2})(?:(:\d{2})([.,]\d{1,9})?)?([Zz]|[+-]\d{2}(?::?\d{2})?)$", re.ASCII
)
MAX_DATE_TIME = 64  # characters kept of a date-time as sent (a valid one has at most 35)


@dataclass(frozen=True, slots=True)
class DateTimeField:
    """A date-time of the consent: as the TPP sent it (echoed unchanged) and as a UTC instant."""

    text: str
    at: datetime


@dataclass(frozen=True, slots=True)
class ConsentRequest:
    permissions: tuple[str, ...]
    expiration: DateTimeField | None
    transaction_from: DateTimeField | None
    transaction_to: DateTimeField | None


def read_consent_request(body: bytes, now: datetime) -> ConsentRequest:
    document = json_object(body)
    data = members(document)
    permissions = checked_permissions(data.get("Permissions"))
    expiration, window_from, window_to = dates(data, now)
    return ConsentRequest(permissions, expiration, window_from, window_to)


def json_object(body: bytes) -> dict[str, Any]:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise InvalidFormat("the body is not valid JSON") from None
    if not isinstance(document, dict):
        raise InvalidFormat("the body must be an OBReadConsent1 JSON object")
    return document


def members(document: dict[str, Any]) -> dict[str, Any]:
    """``Data``, once the document holds exactly the members OBReadConsent1 names."""
    _only(document, frozenset({"Data", "Risk"}), "")
    data = _object(document, "Data", "Data")
    risk = _object(document, "Risk", "Risk")
    if "Permissions" not in data:
        raise FieldMissing("Data.Permissions is required", path="Data.Permissions")
    _only(data, DATA_MEMBERS, "Data.")
    _only(risk, frozenset(), "Risk.")
    return data


def _object(parent: dict[str, Any], name: str, path: str) -> dict[str, Any]:
    if name not in parent:
        raise FieldMissing(f"{path} is required", path=path)
    value = parent[name]
    if not isinstance(value, dict):
        raise FieldInvalid(f"{path} must be an object", path=path)
    return value


def _only(value: dict[str, Any], allowed: frozenset[str], prefix: str) -> None:
    for name in value:
        if name not in allowed:
            raise FieldUnexpected(
                f"{prefix}{name[:64]} is not a member of OBReadConsent1", path=prefix + name[:64]
            )


def dates(
    data: dict[str, Any], now: datetime
) -> tuple[DateTimeField | None, DateTimeField | None, DateTimeField | None]:
    expiration = date_time(data, "ExpirationDateTime")
    window_from = date_time(data, "TransactionFromDateTime")
    window_to = date_time(data, "TransactionToDateTime")
    if expiration is not None and expiration.at <= now:
        raise FieldInvalidDate("ExpirationDateTime must be in the future", path="Data.ExpirationDateTime")
    if window_from is not None and window_to is not None and window_from.at > window_to.at:
        raise FieldInvalidDate(
            "TransactionFromDateTime must not be after TransactionToDateTime",
            path="Data.TransactionToDateTime",
        )
    return expiration, window_from, window_to


def date_time(data: dict[str, Any], name: str) -> DateTimeField | None:
    if name not in data:
        return None
    path = f"Data.{name}"
    text = data[name]
    if not isinstance(text, str) or len(text) > MAX_DATE_TIME:
        raise FieldInvalidDate(f"{name} must be an ISO 8601 date-time with a time zone", path=path)
    match = _DATE_TIME.match(text)
    if match is None:
        raise FieldInvalidDate(f"{name} must be an ISO 8601 date-time with a time zone", path=path)
    day, clock, seconds, fraction, offset = match.groups()
    # Normalised to RFC 3339 for the parser: seconds, a "." fraction, a ±hh:mm offset.
    offset = "+00:00" if offset in ("Z", "z") else f"{offset[:3]}:{offset[-2:] if len(offset) > 3 else '00'}"
    # Python keeps microseconds; finer digits only order instants that are already a microsecond apart.
    fraction = "." + fraction[1:7] if fraction else ""
    normalised = f"{day}T{clock}{seconds or ':00'}{fraction}{offset}"
    try:
        # OverflowError: a date at the edge of the calendar whose offset takes it past year 1 or 9999
        # in UTC ("9999-12-31T23:59:59-23:59").
        at = datetime.fromisoformat(normalised).astimezone(UTC)
    except (ValueError, OverflowError):
        raise FieldInvalidDate(f"{name} is not a valid date-time", path=path) from None
    return DateTimeField(text, at)
