"""RFC 9110 §13.1.2 / §13.1.3 preconditions as the Product API and the response cache evaluate them."""

from __future__ import annotations

import pytest

from kaimen.apis.product.conditional import http_date, none_match, not_modified

ETAG = b'"abc123"'
MODIFIED = 784111777  # Sun, 06 Nov 1994 08:49:37 GMT


@pytest.mark.parametrize(
    ("field", "matches"),
    [
        (b'"abc123"', True),
        (b'W/"abc123"', True),  # §8.8.3.2 weak comparison: a weak tag matches the strong one
        (b'"zzz", "abc123"', True),  # a list
        (b'"zzz",W/"abc123"', True),
        (b"*", True),  # §13.1.2: "*" matches any current representation
        (b" * ", True),
        (b'"zzz"', False),
        (b'"ABC123"', False),  # opaque-tags compare octet by octet
        (b"abc123", False),  # not an entity-tag: no quotes
        (b"", False),
    ],
)
def test_if_none_match_uses_the_weak_comparison(field: bytes, matches: bool):
    assert none_match(field, ETAG) is matches


@pytest.mark.parametrize(
    "field",
    [b"Sun, 06 Nov 1994 08:49:37 GMT", b"Sunday, 06-Nov-94 08:49:37 GMT", b"Sun Nov  6 08:49:37 1994"],
)
def test_the_three_http_date_formats_are_accepted(field: bytes):
    # RFC 9110 §5.6.7: "A recipient that parses a timestamp value in an HTTP field MUST accept all three
    # HTTP-date formats."
    assert http_date(field) == MODIFIED


@pytest.mark.parametrize(
    "field", [b"yesterday", b"", b"Sun, 06 Nov 1994 08:49:37 GMT, Mon, 07 Nov 1994 08:49:37 GMT"]
)
def test_an_invalid_or_listed_date_is_ignored(field: bytes):
    assert http_date(field) is None
    assert not_modified([(b"if-modified-since", field)], ETAG, MODIFIED) is False


def test_if_modified_since_at_or_after_last_modified_is_not_modified():
    assert not_modified([(b"if-modified-since", b"Sun, 06 Nov 1994 08:49:37 GMT")], ETAG, MODIFIED)
    assert not_modified([(b"if-modified-since", b"Mon, 07 Nov 1994 08:49:37 GMT")], ETAG, MODIFIED)
    assert not not_modified([(b"if-modified-since", b"Sun, 06 Nov 1994 08:49:36 GMT")], ETAG, MODIFIED)


def test_if_modified_since_is_ignored_when_if_none_match_is_present():
    # §13.1.3: "A recipient MUST ignore If-Modified-Since if the request contains an If-None-Match".
    later = (b"if-modified-since", b"Mon, 07 Nov 1994 08:49:37 GMT")
    assert not not_modified([(b"if-none-match", b'"other"'), later], ETAG, MODIFIED)
    assert not_modified([(b"if-none-match", b'"other"'), (b"if-none-match", ETAG), later], ETAG, MODIFIED)


def test_two_if_modified_since_fields_are_ignored():
    field = (b"if-modified-since", b"Mon, 07 Nov 1994 08:49:37 GMT")
    assert not not_modified([field, field], ETAG, MODIFIED)


def test_a_request_without_preconditions_is_modified():
    assert not not_modified([(b"accept", b"*/*")], ETAG, MODIFIED)
