"""R/W Data API Profile, "Date Formats": "An ASPSP must accept all valid ISO-8601 date formats including
its permitted variations (e.g. variations in how the timezone is defined, dates with or without a
seconds or milliseconds part etc.) in the requests"; request body date-times still need a zone (the spec
files' format: date-time), are echoed as sent and kept as UTC instants. "Filtering": a zone in a
DateTime filter "must" be ignored."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kaimen.apis.accounts.ais_query import booking_date_time
from kaimen.apis.accounts.consent_request import date_time
from kaimen.apis.accounts.errors import FieldInvalidDate


@pytest.mark.parametrize(
    ("text", "instant"),
    [("2031-01-01T00:00:00+0000", datetime(2031, 1, 1, tzinfo=UTC)),
     ("2031-01-01T00:00Z", datetime(2031, 1, 1, tzinfo=UTC)),
     ("2031-01-01T00:00+01:00", datetime(2030, 12, 31, 23, tzinfo=UTC)),
     ("2031-01-01T00:00:00+01", datetime(2030, 12, 31, 23, tzinfo=UTC)),
     ("2031-01-01T00:00:00-0130", datetime(2031, 1, 1, 1, 30, tzinfo=UTC)),
     ("2031-01-01T00:00:00.5Z", datetime(2031, 1, 1, 0, 0, 0, 500_000, tzinfo=UTC)),
     ("2031-01-01T00:00:00,123456789+00:00", datetime(2031, 1, 1, 0, 0, 0, 123_456, tzinfo=UTC)),
     ("2031-01-01t00:00:00z", datetime(2031, 1, 1, tzinfo=UTC))],
)  # fmt: skip
def test_body_date_time_variants_are_accepted_echoed_and_normalised(text: str, instant: datetime) -> None:
    field = date_time({"ExpirationDateTime": text}, "ExpirationDateTime")
    assert field is not None and (field.text, field.at) == (text, instant)


@pytest.mark.parametrize(
    "text",
    ["2031-01-01T00:00:00", "2031-01-01T00:00", "2031-01-01", "2031-01-01T00:00.5Z", "2031-01-01T00Z",
     "2031-01-01T00:00:00+1", "2031-01-01T00:00:00+01:0", "2031-01-01T00:00:00+24:00", "2031-02-30T00:00Z"],
)  # fmt: skip
def test_body_date_times_without_a_zone_or_malformed_are_invalid_date(text: str) -> None:
    with pytest.raises(FieldInvalidDate) as refused:
        date_time({"ExpirationDateTime": text}, "ExpirationDateTime")
    assert (refused.value.status, refused.value.ob_code, refused.value.path) == (
        400, "UK.OBIE.Field.InvalidDate", "Data.ExpirationDateTime"
    )  # fmt: skip


@pytest.mark.parametrize(
    "text",
    ["2031-01-01T10:30:00", "2031-01-01T10:30:00Z", "2031-01-01T10:30:00+05:00", "2031-01-01T10:30:00-0800",
     "2031-01-01T10:30:00+05", "2031-01-01T10:30:00 05:00", "2031-01-01T10:30+05:00"],
)  # fmt: skip
def test_a_filter_zone_in_any_form_is_ignored(text: str) -> None:
    assert booking_date_time(text, "fromBookingDateTime") == datetime(2031, 1, 1, 10, 30, tzinfo=UTC)


def test_a_filter_keeps_its_fraction() -> None:
    at = booking_date_time("2031-01-01T10:30:00,25", "fromBookingDateTime")
    assert at == datetime(2031, 1, 1, 10, 30, 0, 250_000, tzinfo=UTC)
