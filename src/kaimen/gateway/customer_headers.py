"""The PSU's presence on a UK OB API: ``x-fapi-auth-date`` and ``x-fapi-customer-ip-address``.

UK OB v3.1.11 defines both request headers on every endpoint of the Account, Payment and Funds API
files, so every API answering OBErrorResponse1 (``Api.honours_customer_headers``) gets this step:

- ``x-fapi-auth-date``: "The time when the PSU last logged in with the TPP. All dates in the HTTP
  headers are represented as RFC 7231 Full Dates", schema pattern
  ``^(Mon|...|Sun), \\d{2} (Jan|...|Dec) \\d{4} \\d{2}:\\d{2}:\\d{2} (GMT|UTC)$``: the IMF-fixdate of
  RFC 7231 §7.1.1.1 (the spec's own example ends in ``UTC``, so both zone names pass). The obsolete
  rfc850 and asctime forms do not match the pattern and are refused. The date must exist
  (``31 Feb`` does not), its day name must be the one the date implies (RFC 5322 §3.3: "the
  day-of-week MUST be the day implied by the date"), and the PSU cannot have logged in later than
  now, give or take ``AUTH_DATE_SKEW_SECONDS`` of clock skew.
- ``x-fapi-customer-ip-address``: "The PSU's IP address if the PSU is currently logged in with the
  TPP": an IPv4 or IPv6 address in text form, without an IPv6 zone (RFC 4007 §11: a zone means
  something only on the host that wrote it).

A malformed value, or a header sent more than once, is refused before any handler runs: 400
``UK.OBIE.Header.Invalid`` with the header's name as ``Path``. Otherwise the call is recorded as
customer-present when ``x-fapi-customer-ip-address`` is there and unattended when it is not
(``Call.customer_present``), which selects its rate limit (kaimen.gateway.ratelimit). Neither header
is echoed: the spec names no response header for them.
"""

from __future__ import annotations

import ipaddress
import re
import time
from datetime import UTC, datetime

from kaimen.errors import BadRequest
from kaimen.gateway.context import Call

AUTH_DATE = b"x-fapi-auth-date"
CUSTOMER_IP = b"x-fapi-customer-ip-address"
# How far ahead of this server's clock an auth date may be (a TPP's clock runs a little fast).
AUTH_DATE_SKEW_SECONDS = 60

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")  # datetime.weekday() order
_MONTHS = {m: i for i, m in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), 1)}
_FIXDATE = re.compile(
    r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), ([0-9]{2}) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
    r"([0-9]{4}) ([0-9]{2}):([0-9]{2}):([0-9]{2}) (?:GMT|UTC)"
)


class HeaderInvalid(BadRequest):
    """UK.OBIE.Header.Invalid (400; Read/Write API Specification, "Error Response Structure": "An
    invalid value is supplied in the HTTP header"); ``path`` names the header."""

    ob_code = "UK.OBIE.Header.Invalid"


def parse_auth_date(value: str) -> datetime | None:
    """The instant an IMF-fixdate names, or None when it is not one (pattern, calendar, day name)."""
    match = _FIXDATE.fullmatch(value)
    if match is None:
        return None
    day_name, day, month, year, hour, minute, second = match.groups()
    if int(second) > 60:  # RFC 5322 §3.3: 60 is a leap second
        return None
    try:
        when = datetime(
            int(year), _MONTHS[month], int(day), int(hour), int(minute), min(int(second), 59), tzinfo=UTC
        )
    except ValueError:  # no such date or time of day
        return None
    return when if _DAYS[when.weekday()] == day_name else None


def parse_customer_ip(value: str) -> str | None:
    """The address in its canonical text form, or None when ``value`` is not an IPv4/IPv6 address."""
    if "%" in value:
        return None
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def read_customer_headers(call: Call, headers: list[tuple[bytes, bytes]]) -> None:
    """Validate both headers and record the PSU's presence on ``call``; raises HeaderInvalid."""
    auth_date: bytes | None = None
    customer_ip: bytes | None = None
    for name, value in headers:
        if name == AUTH_DATE:
            if auth_date is not None:
                raise _repeated(AUTH_DATE)
            auth_date = value
        elif name == CUSTOMER_IP:
            if customer_ip is not None:
                raise _repeated(CUSTOMER_IP)
            customer_ip = value
    if auth_date is not None:
        when = parse_auth_date(auth_date.decode("latin-1"))
        if when is None:
            raise HeaderInvalid(
                "x-fapi-auth-date must be an HTTP-date such as 'Sun, 10 Sep 2017 19:43:31 GMT'",
                path=AUTH_DATE.decode(),
            )
        if when.timestamp() > time.time() + AUTH_DATE_SKEW_SECONDS:
            raise HeaderInvalid("x-fapi-auth-date is in the future", path=AUTH_DATE.decode())
        call.auth_date = when
    if customer_ip is not None:
        address = parse_customer_ip(customer_ip.decode("latin-1"))
        if address is None:
            raise HeaderInvalid(
                "x-fapi-customer-ip-address must be an IPv4 or IPv6 address", path=CUSTOMER_IP.decode()
            )
        call.customer_ip = address
    call.customer_present = customer_ip is not None


def _repeated(name: bytes) -> HeaderInvalid:
    return HeaderInvalid(f"{name.decode()} must be sent at most once", path=name.decode())
