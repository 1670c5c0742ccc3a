"""Hostile HTTP input straight into the parsers that are functions (issue 6 item 4): OAuth form bodies
(http.read_form: InvalidRequest), the PSU headers of the UK OB APIs (customer_headers: HeaderInvalid),
the interaction id, API keys in the query, JSON depth, and the account-access consent body
(consent_request: an OB ApiError with a UK.OBIE code). Whatever the input, each answers or raises its
documented error, never anything else. Budget and case count: tests.fuzz_support.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from starlette.requests import Request

from kaimen.apis.accounts.consent_request import read_consent_request
from kaimen.authz.errors import InvalidRequest
from kaimen.authz.http import read_form
from kaimen.errors import ApiError
from kaimen.gateway.clientip import ClientIpResolver
from kaimen.gateway.context import Call
from kaimen.gateway.customer_headers import (
    HeaderInvalid,
    parse_auth_date,
    parse_customer_ip,
    read_customer_headers,
)
from kaimen.gateway.entry import interaction_id_from
from kaimen.gateway.identify import key_in_query
from kaimen.gateway.limits import json_depth_exceeds
from tests.fuzz_support import (
    CONTENT_TYPES,
    FUZZ,
    HEADER_VALUES,
    HOSTILE_VALUES,
    JSON_VALUES,
    count,
    dumps,
    form_bytes,
    hostile_object,
    http_dates,
)

pytest_plugins = ["tests.fuzz_plugin"]

# Upper-case hex digits too: a valid incoming id is echoed as received (kaimen.gateway.entry).
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


# -- form bodies (RFC 6749 §3.2) -------------------------------------------------------------------


def _request(body: bytes, content_type: str) -> Request:
    headers = [(b"content-type", content_type.encode("latin-1"))] if content_type else []
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/oauth2/token",
        "headers": headers,
        "query_string": b"",
    }
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(scope, receive)


@FUZZ
@given(form_bytes({"grant_type": "client_credentials", "scope": "accounts"}), CONTENT_TYPES)
@example(b"a=%ff", "application/x-www-form-urlencoded")
@example(b"\xff", "application/x-www-form-urlencoded")
@example(b"a=1&a=2", "application/x-www-form-urlencoded")
def test_read_form_answers_a_dict_or_invalid_request(body: bytes, content_type: str) -> None:
    count("http.read_form")

    async def read() -> None:
        try:
            form = await read_form(_request(body, content_type))
        except InvalidRequest:
            return
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in form.items())

    asyncio.run(read())


# -- gateway headers --------------------------------------------------------------------------------


def _call() -> Call:
    return Call(interaction_id="i", client_ip="203.0.113.7", api=None, started_ns=0)


@FUZZ
@given(
    st.lists(
        st.tuples(
            st.sampled_from([b"x-fapi-auth-date", b"x-fapi-customer-ip-address", b"x-other"]),
            http_dates() | st.sampled_from([b"::1", b"fe80::1%eth0", b"1.2.3.4", b"1.2.3.256", b"\xff"]),
        ),
        max_size=4,
    )
)
@example([(b"x-fapi-auth-date", b"Sun, 10 Sep 2017 19:43:60 GMT")])
@example([(b"x-fapi-auth-date", b"Mon, 31 Feb 2017 19:43:31 GMT")])
def test_customer_headers_are_recorded_or_header_invalid(headers: list[tuple[bytes, bytes]]) -> None:
    count("customer_headers.read_customer_headers")
    try:
        read_customer_headers(_call(), headers)
    except HeaderInvalid as error:
        assert error.ob_code == "UK.OBIE.Header.Invalid" and error.path


@FUZZ
@given(st.text(max_size=60))
def test_auth_date_and_ip_parsers_answer_a_value_or_none(value: str) -> None:
    count("customer_headers.parse_*")
    when = parse_auth_date(value)
    assert when is None or when.tzinfo is UTC
    address = parse_customer_ip(value)
    assert address is None or isinstance(address, str)


@FUZZ
@given(st.lists(st.tuples(st.sampled_from([b"x-fapi-interaction-id", b"x"]), HEADER_VALUES), max_size=4))
@example([(b"x-fapi-interaction-id", b"93BC1A5E-3F5C-4D4B-9C3A-0F2B6D9E1A77\n")])
@example([(b"x-fapi-interaction-id", b"93BC1A5E-3F5C-4D4B-9C3A-0F2B6D9E1A77")])
def test_interaction_id_is_always_a_uuid(headers: list[tuple[bytes, bytes]]) -> None:
    count("entry.interaction_id_from")
    assert _UUID.fullmatch(interaction_id_from(headers))


@FUZZ
@given(st.binary(max_size=200) | st.text(max_size=100).map(lambda s: s.encode("utf-8", "surrogatepass")))
def test_key_in_query_and_json_depth_answer_a_bool(data: bytes) -> None:
    count("identify.key_in_query + limits.json_depth_exceeds")
    assert isinstance(key_in_query(data), bool)
    assert isinstance(json_depth_exceeds(data, 32), bool)


# -- the account-access consent body (OBReadConsent1) ---------------------------------------------

CONSENT_BODIES = st.one_of(
    hostile_object(
        {
            "Data": hostile_object(
                {
                    "Permissions": st.lists(
                        st.sampled_from(["ReadAccountsBasic", "ReadBalances", "x"]) | JSON_VALUES, max_size=4
                    ),
                    "ExpirationDateTime": st.sampled_from(
                        [
                            "2099-01-01T00:00:00Z",
                            "2099-13-01T00:00:00Z",
                            "9999-12-31T23:59:59-23:59",
                            "0001-01-01T00:00:00+23:59",
                        ]
                    )
                    | JSON_VALUES,
                    "TransactionFromDateTime": st.sampled_from(
                        ["2020-01-01T00:00:00Z", "2020-02-30T00:00:00Z"]
                    )
                    | JSON_VALUES,
                    "TransactionToDateTime": st.sampled_from(["2019-01-01T00:00:00.123456789+01:00", "x"])
                    | JSON_VALUES,
                }
            ),
            "Risk": st.just({}) | JSON_VALUES,
        }
    ).map(dumps),
    HOSTILE_VALUES.map(dumps),
    st.text(max_size=100),
).map(lambda s: s.encode("utf-8", "surrogatepass"))


@FUZZ
@given(CONSENT_BODIES)
@example(
    b'{"Data":{"Permissions":["ReadAccountsBasic"],"ExpirationDateTime":"9999-12-31T23:59:59-23:59"},"Risk":{}}'
)
@example(
    b'{"Data":{"Permissions":["ReadAccountsBasic"],"ExpirationDateTime":"0001-01-01T00:00:00+23:59"},"Risk":{}}'
)
def test_consent_request_is_read_or_an_ob_error(body: bytes) -> None:
    count("consent_request.read_consent_request")
    try:
        read_consent_request(body, datetime.now(UTC))
    except ApiError as error:
        assert error.status == 400 and error.ob_code.startswith("UK.OBIE."), error


# -- regressions: the minimal cases these properties found ----------------------------------------


@pytest.mark.parametrize("name", ["ExpirationDateTime", "TransactionFromDateTime", "TransactionToDateTime"])
@pytest.mark.parametrize("value", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59"])
def test_a_date_time_past_the_calendar_in_utc_is_invalid_date(name: str, value: str) -> None:
    """Found by test_consent_request_is_read_or_an_ob_error: a valid RFC 3339 date-time whose offset
    takes it past year 9999 (or before year 1) in UTC raised OverflowError, a 500 at POST
    /account-access-consents."""
    body = {"Data": {"Permissions": ["ReadAccountsBasic"], name: value}, "Risk": {}}
    with pytest.raises(ApiError) as refused:
        read_consent_request(dumps(body).encode(), datetime.now(UTC))
    assert (refused.value.status, refused.value.ob_code) == (400, "UK.OBIE.Field.InvalidDate")
    assert refused.value.path == f"Data.{name}"


@FUZZ
@given(
    peer=st.sampled_from(["10.0.0.1", "203.0.113.7", "::1", "garbage", ""]),
    forwarded=st.lists(
        HEADER_VALUES | st.sampled_from([b"1.2.3.4, 10.0.0.2", b"::1,,", b"fe80::1%eth0"]), max_size=3
    ),
)
def test_client_ip_is_an_address_or_the_peer(peer: str, forwarded: list[bytes]) -> None:
    """X-Forwarded-For from a trusted proxy (clientip): an address in the chain, or the peer itself."""
    count("clientip.ClientIpResolver")
    resolver = ClientIpResolver([ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("::1/128")])
    scope = {"client": (peer, 1234), "headers": [(b"x-forwarded-for", value) for value in forwarded]}
    resolved = resolver.resolve(scope)
    assert resolved == peer or str(ipaddress.ip_address(resolved)) == resolved
