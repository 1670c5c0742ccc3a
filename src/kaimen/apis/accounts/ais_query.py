"""The transaction endpoints' query: booking date window, page, and the links between pages.

Spec file, parameters FromBookingDateTimeParam / ToBookingDateTimeParam: "The UTC ISO 8601 Date Time
to filter transactions FROM [TO]. NB Time component is optional - set to 00:00:00 for just Date. If
the Date Time contains a timezone, the ASPSP must ignore the timezone component." A value that is not
such a date-time is refused with 400 ``UK.OBIE.Field.InvalidDate``.

The window asked for is intersected with the consent's ``TransactionFromDateTime`` /
``TransactionToDateTime``: nothing outside what the PSU agreed to is ever read.

Read/Write Data API Profile, "Pagination": the ASPSP "must provide a link to the next page of resources
in the Links.Next field" and "a link to the previous page of resources in the Links.Prev field"; the
links carry the query the TPP sent (its date filters) and ``page``. Pages hold 25 transactions.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from urllib.parse import urlencode

from starlette.datastructures import QueryParams

from kaimen.apis.accounts.ais_permissions import Grant
from kaimen.apis.accounts.consents import Consent
from kaimen.apis.accounts.errors import FieldInvalid, FieldInvalidDate
from kaimen.ledger.core import TransactionQuery

FROM = "fromBookingDateTime"
TO = "toBookingDateTime"
PAGE = "page"
PAGE_SIZE = 25
MAX_PAGE = 100_000  # far past any history; keeps the SQL offset small
# A date, or a date and time, an optional fraction and an optional zone (Z, ±hh:mm, ±hhmm or ±hh), which is
# then ignored: R/W Data API Profile, "Filtering": "If the DateTime contains a timezone, the ASPSP must
# ignore the timezone component"; "Date Formats": all "permitted variations" of ISO 8601 are accepted.
# A "+" sent unencoded in a query string arrives as a space (form decoding), so a space may start a zone.
_DATE_TIME = re.compile(
    r"(\d{4}-\d{2}-\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?"
    r"(?:[Zz]|[+\- ]\d{2}(?::?\d{2})?)?)?",
    re.ASCII,
)
_PAGE = re.compile(r"[1-9][0-9]{0,5}", re.ASCII)


@dataclass(frozen=True, slots=True)
class TransactionRequest:
    """What the TPP asked for: its window (UTC), the page, and its date parameters as sent (for links)."""

    from_booking: datetime | None
    to_booking: datetime | None
    page: int
    echoed: tuple[tuple[str, str], ...]


def booking_date_time(text: str, name: str) -> datetime:
    """``text`` as a UTC date-time: the time defaults to 00:00:00, a zone is ignored (spec file)."""
    match = _DATE_TIME.fullmatch(text)
    if match is None:
        raise FieldInvalidDate(f"{name} must be an ISO 8601 date-time", path=name)
    day, hour, minute, second, fraction = match.groups()
    try:
        micro = int((fraction or "0")[:6].ljust(6, "0"))
        at = time(int(hour or 0), int(minute or 0), int(second or 0), micro)
        return datetime.combine(date.fromisoformat(day), at, UTC)
    except ValueError:
        raise FieldInvalidDate(f"{name} is not a valid date-time", path=name) from None


def _single(params: QueryParams, name: str) -> str | None:
    values = params.getlist(name)
    if len(values) > 1:
        raise FieldInvalid(f"{name} is given more than once", path=name)
    return values[0] if values else None


def read_transaction_request(params: QueryParams) -> TransactionRequest:
    echoed: list[tuple[str, str]] = []
    bounds: dict[str, datetime | None] = {}
    for name in (FROM, TO):
        text = _single(params, name)
        bounds[name] = None if text is None else booking_date_time(text, name)
        if text is not None:
            echoed.append((name, text))
    low, high = bounds[FROM], bounds[TO]
    if low is not None and high is not None and low > high:
        raise FieldInvalidDate(f"{TO} is before {FROM}", path=TO)
    page_text = _single(params, PAGE)
    if page_text is not None and not _PAGE.fullmatch(page_text):
        raise FieldInvalid(f"page must be a whole number from 1 to {MAX_PAGE}", path=PAGE)
    page = int(page_text) if page_text is not None else 1
    if page > MAX_PAGE:
        raise FieldInvalid(f"page must be a whole number from 1 to {MAX_PAGE}", path=PAGE)
    return TransactionRequest(low, high, page, tuple(echoed))


def transaction_query(request: TransactionRequest, consent: Consent, grant: Grant) -> TransactionQuery:
    """The core's query: the TPP's window within the consent's, the directions the grant allows (so the
    page count counts only what the TPP may see), the page asked for."""
    agreed_from, agreed_to = consent.transaction_from, consent.transaction_to
    lows = [request.from_booking, agreed_from.at if agreed_from is not None else None]
    highs = [request.to_booking, agreed_to.at if agreed_to is not None else None]
    low = max((at for at in lows if at is not None), default=None)
    high = min((at for at in highs if at is not None), default=None)
    return TransactionQuery(
        from_booking=low,
        to_booking=high,
        credit_debit=grant.transaction_filter,
        page=request.page,
        page_size=PAGE_SIZE,
    )


def page_links(url: str, request: TransactionRequest) -> Callable[[int], str]:
    """``links(n)``: the URL of page ``n``, the TPP's date filters kept (encoded once per request)."""
    prefix = f"{url}?{urlencode(request.echoed)}&{PAGE}=" if request.echoed else f"{url}?{PAGE}="

    def link(page: int) -> str:
        return f"{prefix}{page}"

    return link
