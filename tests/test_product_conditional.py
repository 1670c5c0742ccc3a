"""RFC 9110 §13.1.1-§13.1.4 preconditions in the §13.2.2 order, as the Product API and its cache see them."""

from __future__ import annotations

import pytest

from kaimen.apis.product.conditional import http_date, none_match, precondition_status, strong_match

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
    assert precondition_status([(b"if-modified-since", field)], ETAG, MODIFIED) == 200


def test_if_modified_since_at_or_after_last_modified_is_not_modified():
    assert (
        precondition_status([(b"if-modified-since", b"Sun, 06 Nov 1994 08:49:37 GMT")], ETAG, MODIFIED) == 304
    )
    assert (
        precondition_status([(b"if-modified-since", b"Mon, 07 Nov 1994 08:49:37 GMT")], ETAG, MODIFIED) == 304
    )
    assert (
        precondition_status([(b"if-modified-since", b"Sun, 06 Nov 1994 08:49:36 GMT")], ETAG, MODIFIED) == 200
    )


def test_if_modified_since_is_ignored_when_if_none_match_is_present():
    # §13.1.3: "A recipient MUST ignore If-Modified-Since if the request contains an If-None-Match".
    later = (b"if-modified-since", b"Mon, 07 Nov 1994 08:49:37 GMT")
    assert precondition_status([(b"if-none-match", b'"other"'), later], ETAG, MODIFIED) == 200
    assert (
        precondition_status([(b"if-none-match", b'"other"'), (b"if-none-match", ETAG), later], ETAG, MODIFIED)
        == 304
    )


def test_two_if_modified_since_fields_are_ignored():
    field = (b"if-modified-since", b"Mon, 07 Nov 1994 08:49:37 GMT")
    assert precondition_status([field, field], ETAG, MODIFIED) == 200


def test_a_request_without_preconditions_is_modified():
    assert precondition_status([(b"accept", b"*/*")], ETAG, MODIFIED) == 200


EARLIER = b"Sun, 06 Nov 1994 08:49:36 GMT"  # one second before Last-Modified
SAME = b"Sun, 06 Nov 1994 08:49:37 GMT"


@pytest.mark.parametrize(
    ("field", "matches"),
    [
        (b'"abc123"', True),
        (b'"zzz", "abc123"', True),
        (b"*", True),  # §13.1.1: "*" matches a current representation, and there always is one
        (b'W/"abc123"', False),  # §8.8.3.2 strong comparison: a weak tag never matches
        (b'W/"abc123", "zzz"', False),
        (b'"zzz"', False),
        (b"abc123", False),  # not an entity-tag
        (b"", False),
    ],
)
def test_if_match_uses_the_strong_comparison(field: bytes, matches: bool):
    assert strong_match(field, ETAG) is matches


def test_a_false_if_match_is_412():
    # §13.1.1: "An origin server MUST NOT perform the requested method if a received If-Match condition
    # evaluates to false"; §13.2.2 step 1: "if false, respond 412 (Precondition Failed)".
    assert precondition_status([(b"if-match", b'"zzz"')], ETAG, MODIFIED) == 412
    assert precondition_status([(b"if-match", b'W/"abc123"')], ETAG, MODIFIED) == 412
    assert precondition_status([(b"if-match", ETAG)], ETAG, MODIFIED) == 200
    assert precondition_status([(b"if-match", b'"zzz"'), (b"if-match", ETAG)], ETAG, MODIFIED) == 200


def test_a_false_if_unmodified_since_is_412():
    # §13.1.4: the origin server "MUST NOT perform the requested method if the selected representation's
    # last modification date is more recent than the date provided"; §13.2.2 step 2.
    assert precondition_status([(b"if-unmodified-since", EARLIER)], ETAG, MODIFIED) == 412
    assert precondition_status([(b"if-unmodified-since", SAME)], ETAG, MODIFIED) == 200
    assert (
        precondition_status([(b"if-unmodified-since", b"Sunday, 06-Nov-94 08:49:36 GMT")], ETAG, MODIFIED)
        == 412
    )


@pytest.mark.parametrize(
    "field", [b"yesterday", b"", b"Sun, 06 Nov 1994 08:49:36 GMT, Sat, 05 Nov 1994 08:49:37 GMT"]
)
def test_an_invalid_if_unmodified_since_is_ignored(field: bytes):
    # §13.1.4: "A recipient MUST ignore the If-Unmodified-Since header field if the received field value
    # is not a valid HTTP-date (including when the field value appears to be a list of dates)".
    assert precondition_status([(b"if-unmodified-since", field)], ETAG, MODIFIED) == 200


def test_two_if_unmodified_since_fields_are_ignored():
    field = (b"if-unmodified-since", EARLIER)
    assert precondition_status([field, field], ETAG, MODIFIED) == 200


def test_if_unmodified_since_is_ignored_when_if_match_is_present():
    # §13.1.4: "A recipient MUST ignore If-Unmodified-Since if the request contains an If-Match header".
    assert (
        precondition_status([(b"if-match", ETAG), (b"if-unmodified-since", EARLIER)], ETAG, MODIFIED) == 200
    )
    assert (
        precondition_status([(b"if-unmodified-since", EARLIER), (b"if-match", b"*")], ETAG, MODIFIED) == 200
    )


@pytest.mark.parametrize(
    "headers",
    [
        [(b"if-match", b'"zzz"'), (b"if-none-match", ETAG)],  # step 1 before step 3
        [(b"if-match", b'"zzz"'), (b"if-modified-since", SAME)],  # step 1 before step 4
        [(b"if-none-match", ETAG), (b"if-unmodified-since", EARLIER)],  # step 2 before step 3
        [(b"if-modified-since", SAME), (b"if-unmodified-since", EARLIER)],  # step 2 before step 4
    ],
)
def test_a_failed_if_match_or_if_unmodified_since_wins_over_304(headers: list[tuple[bytes, bytes]]):
    # §13.2.2: steps 1-2 (412) are evaluated before steps 3-4 (304).
    assert precondition_status(headers, ETAG, MODIFIED) == 412


def test_when_if_match_holds_if_none_match_still_decides():
    # §13.2.2 step 1: "if true, continue to step 3".
    assert precondition_status([(b"if-match", ETAG), (b"if-none-match", ETAG)], ETAG, MODIFIED) == 304
    assert precondition_status([(b"if-match", b"*"), (b"if-none-match", b'"zzz"')], ETAG, MODIFIED) == 200
    assert (
        precondition_status([(b"if-unmodified-since", SAME), (b"if-modified-since", SAME)], ETAG, MODIFIED)
        == 304
    )
