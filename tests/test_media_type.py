"""The request Content-Type as the UK OB APIs read it (kaimen.apis.media_type): R/W Data API Profile,
"Request Headers", Content-Type ("The TPP may provide additional information (e.g. a 'q' value and
charset)"; any other media type is 415), parameters per RFC 9110 §5.6.6 and §8.3.1."""

from __future__ import annotations

import pytest

from kaimen.apis.media_type import is_utf8_json, parse


def test_parse_lowers_the_type_and_parameter_names_and_unquotes_values() -> None:
    assert parse('Application/JSON ; Charset="UTF-8";q=1') == (
        "application/json",
        {"charset": "UTF-8", "q": "1"},
    )
    assert parse(r'application/json; name="a \"b\"; c"') == ("application/json", {"name": 'a "b"; c'})
    assert parse("application/json;;") == ("application/json", {})


@pytest.mark.parametrize(
    "header",
    ["", "json", "application/", "application/json charset=utf-8", "application/json; charset",
     'application/json; charset="utf-8', "application/json; charset=utf-8; charset=latin-1"],
)  # fmt: skip
def test_parse_refuses_what_is_not_a_media_type(header: str) -> None:
    assert parse(header) is None


@pytest.mark.parametrize(
    "header",
    ["application/json", "application/json; charset=utf-8", "application/json; charset=utf-8; q=1",
     'application/json; charset="utf-8"', "APPLICATION/JSON;CHARSET=UTF-8", "application/json; q=0.9",
     "application/json; foo=bar"],
)  # fmt: skip
def test_json_with_any_parameters_and_a_utf8_charset_is_accepted(header: str) -> None:
    assert is_utf8_json(header)


@pytest.mark.parametrize(
    "header",
    ["text/plain", "application/jose+jwe", "application/json-patch+json", "application/xml",
     "application/json; charset=latin-1", 'application/json; charset="iso-8859-1"',
     "application/json; charset", "application/json; charset=utf-8; charset=latin-1", ""],
)  # fmt: skip
def test_another_media_type_or_charset_is_refused(header: str) -> None:
    assert not is_utf8_json(header)
