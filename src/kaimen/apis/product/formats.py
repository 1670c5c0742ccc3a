"""The Swagger 2.0 data type formats the Open Data v2 files use, as a jsonschema FormatChecker.

jsonschema's draft 4 checker knows none of them here: draft 4 has no ``date``, and its ``date-time``
and ``uri`` checkers need optional packages that are not installed, so every value passed. Swagger 2.0
("Data Types") defines each format the files use:

- ``date``: "As defined by full-date - RFC3339" (RFC 3339 §5.6 ``full-date``, with the §5.7
  restrictions: month 01-12, day within the month, leap years counted).
- ``date-time``: "As defined by date-time - RFC3339" (§5.6 ``date-time``: ``full-date "T" full-time``,
  an optional fraction of a second, ``Z`` or a numeric offset; §5.6 NOTE lets ``T`` and ``Z`` be
  lower case; §5.7: second 60 only as a leap second, which is accepted without a leap-second table).
- ``uri``: a URI (RFC 3986 §3): a scheme, ``:``, then only the characters RFC 3986 §2 allows, every
  ``%`` starting a percent-encoding.
- ``int32``: "signed 32 bits"; ``float``: a number a 32-bit float can hold (its range).

A value of another JSON type passes: ``type`` is checked by its own keyword.
"""

from __future__ import annotations

import calendar
import re

from jsonschema import FormatChecker

_FULL_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})", re.ASCII)
_FULL_TIME = re.compile(r"(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:[Zz]|[+-](\d{2}):(\d{2}))", re.ASCII)
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*")
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
FLOAT32_MAX = 3.4028234663852886e38

SWAGGER_FORMATS = FormatChecker(formats=())


def _full_date(text: str) -> bool:
    match = _FULL_DATE.fullmatch(text)
    if match is None:
        return False
    year, month, day = (int(part) for part in match.groups())
    return 1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1]


def _full_time(text: str) -> bool:
    match = _FULL_TIME.fullmatch(text)
    if match is None:
        return False
    hour, minute, second = (int(part) for part in match.group(1, 2, 3))
    offset_hour, offset_minute = match.group(4, 5)
    if offset_hour is not None and (int(offset_hour) > 23 or int(offset_minute) > 59):
        return False
    return hour <= 23 and minute <= 59 and second <= 60


@SWAGGER_FORMATS.checks("date")
def is_date(value: object) -> bool:
    return not isinstance(value, str) or _full_date(value)


@SWAGGER_FORMATS.checks("date-time")
def is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    date, separator, time = value[:10], value[10:11], value[11:]
    return separator in ("T", "t") and _full_date(date) and _full_time(time)


@SWAGGER_FORMATS.checks("uri")
def is_uri(value: object) -> bool:
    return not isinstance(value, str) or _URI.fullmatch(value) is not None


@SWAGGER_FORMATS.checks("int32")
def is_int32(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return True
    return INT32_MIN <= value <= INT32_MAX


@SWAGGER_FORMATS.checks("float")
def is_float(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return True
    return -FLOAT32_MAX <= value <= FLOAT32_MAX
