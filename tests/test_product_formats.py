"""Swagger 2.0 "Data Types" formats, as ``products load`` and the response conformance checks apply them."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from kaimen.apis.product.document import render
from kaimen.apis.product.formats import SWAGGER_FORMATS
from kaimen.apis.product.spec import BY_SHORT
from kaimen.demo.products import demo_documents
from tests.product_support import response_validator


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("2020-01-31", True),
        ("2024-02-29", True),  # RFC 3339 §5.7: leap years counted
        ("2000-02-29", True),
        ("2020-99-99", False),  # the audit's file: no month 99
        ("2020-13-01", False),
        ("2020-00-10", False),
        ("2020-04-31", False),  # §5.7: day within the month
        ("2023-02-29", False),
        ("1900-02-29", False),  # not a leap year (divisible by 100, not by 400)
        ("2020-1-01", False),  # §5.6: 2DIGIT month
        ("20200101", False),  # ISO 8601 basic format is not RFC 3339
        ("2020-01-01T00:00:00Z", False),  # a date-time is not a full-date
        ("2020-01-01 ", False),
        ("２０２０-01-01", False),  # DIGIT is ASCII only
    ],
)
def test_date_is_an_rfc3339_full_date(value: str, valid: bool):
    assert SWAGGER_FORMATS.conforms(value, "date") is valid


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("2020-01-31T23:59:59Z", True),
        ("2020-01-31t23:59:59z", True),  # §5.6 NOTE: "T" and "Z" may be lower case
        ("2020-01-31T23:59:59.123456+01:00", True),
        ("2016-12-31T23:59:60Z", True),  # §5.7: a leap second
        ("2020-01-31T23:59:59-23:59", True),
        ("2020-01-31T24:00:00Z", False),
        ("2020-01-31T23:60:00Z", False),
        ("2020-01-31T23:59:61Z", False),
        ("2020-01-31T23:59:59", False),  # §5.6: time-offset is required
        ("2020-01-31T23:59:59+0100", False),
        ("2020-01-31T23:59:59+24:00", False),
        ("2020-01-31 23:59:59Z", False),
        ("2020-01-31T23:59:59.Z", False),  # time-secfrac needs at least one digit
        ("2020-99-99T00:00:00Z", False),
        ("2020-01-31", False),
    ],
)
def test_date_time_is_an_rfc3339_date_time(value: str, valid: bool):
    assert SWAGGER_FORMATS.conforms(value, "date-time") is valid


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("https://www.openbanking.org.uk/open-licence", True),
        ("urn:example:a%20b", True),
        ("www.openbanking.org.uk", False),  # RFC 3986 §3: a URI starts with its scheme
        ("https://example.com/a b", False),  # §2: a space is not allowed
        ("https://example.com/%zz", False),  # §2.1: "%" starts two hex digits
        ("1http://example.com", False),  # §3.1: a scheme starts with a letter
    ],
)
def test_uri_is_an_rfc3986_uri(value: str, valid: bool):
    assert SWAGGER_FORMATS.conforms(value, "uri") is valid


@pytest.mark.parametrize(
    ("value", "form", "valid"),
    [
        (2**31 - 1, "int32", True),
        (-(2**31), "int32", True),
        (2**31, "int32", False),  # Swagger 2.0: int32 is "signed 32 bits"
        (-(2**31) - 1, "int32", False),
        (3.4e38, "float", True),
        (3.5e38, "float", False),  # beyond what a 32-bit float can hold
        (-3.5e38, "float", False),
    ],
)
def test_numeric_formats_bound_the_value(value: float, form: str, valid: bool):
    assert SWAGGER_FORMATS.conforms(value, form) is valid


def test_another_json_type_is_left_to_the_type_keyword():
    assert all(SWAGGER_FORMATS.conforms(17, form) for form in ("date", "date-time", "uri"))
    assert SWAGGER_FORMATS.conforms("x", "int32") and SWAGGER_FORMATS.conforms("x", "float")


def test_response_conformance_refuses_a_bad_date():
    # The tests' response checks use the same formats: a served "2020-99-99" cannot pass unnoticed.
    data = demo_documents()["pca"]
    data[0]["Brand"][0]["PCA"][0]["PCAMarketingState"][0]["FirstMarketedDate"] = "2020-99-99"
    body = orjson.loads(render("pca", orjson.dumps(data).decode(), datetime(2025, 4, 1, tzinfo=UTC)).body)
    errors = list(response_validator(BY_SHORT["pca"], 200).iter_errors(body))
    assert [(list(e.absolute_path), e.message) for e in errors] == [
        (
            ["data", 0, "Brand", 0, "PCA", 0, "PCAMarketingState", 0, "FirstMarketedDate"],
            "'2020-99-99' is not a 'date'",
        )
    ]
