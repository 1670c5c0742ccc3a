"""``x-fapi-auth-date`` and ``x-fapi-customer-ip-address`` on the UK OB APIs (UK OB v3.1.11, every
API file, "Request Headers"): a malformed or repeated value is refused with the exact 400
OBErrorResponse1 ``UK.OBIE.Header.Invalid`` naming the header, before any handler runs; a good one is
recorded on the call (customer-present or unattended) and never echoed."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from kaimen.gateway.customer_headers import AUTH_DATE_SKEW_SECONDS, parse_auth_date, parse_customer_ip
from kaimen.gateway.ratelimit_counters import Limiter, build_rate_limiter
from kaimen.settings import Settings
from tests.account_consents_support import CONSENTS, assert_valid
from tests.ais_resources_support import AISP, Bank, open_bank
from tests.customer_presence_support import (
    AUTH_DATE,
    CUSTOMER_IP,
    INTERACTION_ID,
    OB_MEDIA,
    header_invalid,
    in_seconds,
    presence_gateway,
    unattended,
)
from tests.dpop_support import BASE, proof
from tests.support import client_for

BAD_DATE = "x-fapi-auth-date must be an HTTP-date such as 'Sun, 10 Sep 2017 19:43:31 GMT'"
FUTURE_DATE = "x-fapi-auth-date is in the future"
BAD_IP = "x-fapi-customer-ip-address must be an IPv4 or IPv6 address"


@pytest.fixture
async def gateway(make_settings: Callable[..., Settings]) -> AsyncIterator[Any]:
    limiter: Limiter = build_rate_limiter(make_settings())
    yield presence_gateway(limiter)
    await limiter.close()


# -- the values ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "instant"),
    [
        ("Sun, 10 Sep 2017 19:43:31 GMT", datetime(2017, 9, 10, 19, 43, 31, tzinfo=UTC)),
        ("Sun, 10 Sep 2017 19:43:31 UTC", datetime(2017, 9, 10, 19, 43, 31, tzinfo=UTC)),  # spec example
        ("Thu, 29 Feb 2024 00:00:00 GMT", datetime(2024, 2, 29, tzinfo=UTC)),
        ("Sat, 31 Dec 2016 23:59:60 GMT", datetime(2016, 12, 31, 23, 59, 59, tzinfo=UTC)),  # leap second
    ],
)
def test_an_imf_fixdate_is_an_auth_date(value: str, instant: datetime) -> None:
    assert parse_auth_date(value) == instant


@pytest.mark.parametrize(
    "value",
    [
        "",
        "Sunday, 10-Sep-17 19:43:31 GMT",  # rfc850-date: not the spec's pattern
        "Sun Sep 10 19:43:31 2017",  # asctime-date: not the spec's pattern
        "Sun, 10 Sep 2017 19:43:31 +0000",
        "Sun, 10 Sep 2017 19:43:31",
        "sun, 10 Sep 2017 19:43:31 GMT",
        "Sun, 10 sep 2017 19:43:31 GMT",
        "Sun,  10 Sep 2017 19:43:31 GMT",
        "Sun, 10 Sep 2017 19:43:31 GMT ",
        "Sun, 1 Sep 2017 19:43:31 GMT",
        "Mon, 10 Sep 2017 19:43:31 GMT",  # 10 Sep 2017 was a Sunday (RFC 5322 §3.3)
        "Fri, 30 Feb 2024 00:00:00 GMT",  # no such day
        "Sun, 10 Sep 2017 24:00:00 GMT",
        "Sun, 10 Sep 2017 19:60:00 GMT",
        "Sun, 10 Sep 2017 19:43:61 GMT",
        "2017-09-10T19:43:31Z",
        "Sun, 10 Sep 2017 19:43:31 GMT\n",
        "Sun, ١٠ Sep 2017 19:43:31 GMT",  # Arabic-Indic digits are digits to \\d, not to HTTP
    ],
)
def test_anything_else_is_not_an_auth_date(value: str) -> None:
    assert parse_auth_date(value) is None


@pytest.mark.parametrize(
    ("value", "canonical"),
    [
        ("198.51.100.20", "198.51.100.20"),
        ("2001:db8::1", "2001:db8::1"),
        ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"),
        ("::ffff:198.51.100.20", "::ffff:c633:6414"),
    ],
)
def test_an_ipv4_or_ipv6_address_is_a_customer_ip(value: str, canonical: str) -> None:
    assert parse_customer_ip(value) == canonical


@pytest.mark.parametrize(
    "value",
    ["", "198.51.100", "198.51.100.256", "198.051.100.20", "198.51.100.20, 203.0.113.9",
     " 198.51.100.20", "fe80::1%eth0", "2001:db8::1::2", "localhost", "[2001:db8::1]", "198.51.100.20:443"],
)  # fmt: skip
def test_anything_else_is_not_a_customer_ip(value: str) -> None:
    assert parse_customer_ip(value) is None


# -- refused before the handler, in the API's error format ---------------------------------------------


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({AUTH_DATE: "10 Sep 2017"}, header_invalid(AUTH_DATE, BAD_DATE)),
        ({AUTH_DATE: "Mon, 10 Sep 2017 19:43:31 GMT"}, header_invalid(AUTH_DATE, BAD_DATE)),
        ({AUTH_DATE: "Sun, 10 Sep 2017 19:43:31 +0000"}, header_invalid(AUTH_DATE, BAD_DATE)),
        ({AUTH_DATE: ""}, header_invalid(AUTH_DATE, BAD_DATE)),
        ({AUTH_DATE: "Thu, 01 Jan 2099 00:00:00 GMT"}, header_invalid(AUTH_DATE, FUTURE_DATE)),
        ({CUSTOMER_IP: "198.51.100.256"}, header_invalid(CUSTOMER_IP, BAD_IP)),
        ({CUSTOMER_IP: "psu.example"}, header_invalid(CUSTOMER_IP, BAD_IP)),
        ({CUSTOMER_IP: ""}, header_invalid(CUSTOMER_IP, BAD_IP)),
        ({CUSTOMER_IP: "198.51.100.20, 203.0.113.9"}, header_invalid(CUSTOMER_IP, BAD_IP)),
    ],
)
async def test_a_malformed_header_is_an_exact_400(gateway: Any, headers: dict[str, str], body: Any) -> None:
    async with client_for(gateway) as http:
        response = await http.get("/ob/accounts", headers={**unattended(), **headers})
    assert response.status_code == 400
    assert response.headers["content-type"] == OB_MEDIA
    assert response.json() == body
    assert_valid("OBErrorResponse1", response.json())
    assert response.headers["x-fapi-interaction-id"] == INTERACTION_ID


@pytest.mark.parametrize(
    ("name", "value"), [(AUTH_DATE, "Sun, 10 Sep 2017 19:43:31 GMT"), (CUSTOMER_IP, "198.51.100.20")]
)
async def test_a_repeated_header_is_refused_even_with_good_values(
    gateway: Any, name: str, value: str
) -> None:
    async with client_for(gateway) as http:
        response = await http.get(
            "/ob/accounts", headers=[*unattended().items(), (name, value), (name, value)]
        )
    assert response.status_code == 400
    assert response.json() == header_invalid(name, f"{name} must be sent at most once")


async def test_an_auth_date_within_the_clock_skew_passes(gateway: Any) -> None:
    async with client_for(gateway) as http:
        soon = await http.get(
            "/ob/x", headers={**unattended(), AUTH_DATE: in_seconds(AUTH_DATE_SKEW_SECONDS - 5)}
        )
        late = await http.get(
            "/ob/x", headers={**unattended(), AUTH_DATE: in_seconds(AUTH_DATE_SKEW_SECONDS + 5)}
        )
    assert soon.status_code == 200
    assert late.status_code == 400
    assert late.json() == header_invalid(AUTH_DATE, FUTURE_DATE)


async def test_the_call_records_the_customer_presence(gateway: Any) -> None:
    async with client_for(gateway) as http:
        present = await http.get(
            "/ob/x",
            headers={**unattended(), CUSTOMER_IP: "2001:DB8::1", AUTH_DATE: "Sun, 10 Sep 2017 19:43:31 UTC"},
        )
        logged_in_only = await http.get(
            "/ob/x", headers={**unattended(), AUTH_DATE: "Sun, 10 Sep 2017 19:43:31 GMT"}
        )
        bare = await http.get("/ob/x", headers=unattended())
        elsewhere = await http.get("/opendata", headers={**unattended(), CUSTOMER_IP: "not an address"})
    assert present.json() == {
        "customer_present": True, "customer_ip": "2001:db8::1", "auth_date": "2017-09-10T19:43:31+00:00"
    }  # fmt: skip
    # x-fapi-auth-date alone does not make the PSU present: only the PSU's address does.
    assert logged_in_only.json() == {
        "customer_present": False, "customer_ip": None, "auth_date": "2017-09-10T19:43:31+00:00"
    }  # fmt: skip
    assert bare.json() == {"customer_present": False, "customer_ip": None, "auth_date": None}
    # Not a UK OB API: the headers mean nothing there and are not read.
    assert elsewhere.json() == {"customer_present": None, "customer_ip": None, "auth_date": None}


async def test_neither_header_is_echoed(gateway: Any) -> None:
    async with client_for(gateway) as http:
        response = await http.get(
            "/ob/x", headers={**unattended(), CUSTOMER_IP: "198.51.100.20", AUTH_DATE: in_seconds(-60)}
        )
    assert response.status_code == 200
    assert AUTH_DATE not in response.headers and CUSTOMER_IP not in response.headers
    assert response.headers["x-fapi-interaction-id"] == INTERACTION_ID


# -- the whole app: the Account API ---------------------------------------------------------------------


@pytest.fixture
async def bank(make_settings: Callable[..., Settings], database_url: str) -> AsyncIterator[Bank]:
    async with open_bank(make_settings(database_url=database_url)) as opened:
        yield opened


async def test_the_account_api_refuses_a_malformed_header_before_its_handler(bank: Bank) -> None:
    """The consent is not authorised, so the handler would answer 403: a 400 shows it never ran."""
    token = await bank.token("aac-never-issued")
    headers = {
        "authorization": f"DPoP {token}",
        "dpop": proof(method="GET", url=BASE + AISP + "/accounts", token=token),
        "x-fapi-interaction-id": INTERACTION_ID,
        CUSTOMER_IP: "198.51.100.999",
    }
    response = await bank.http.get(AISP + "/accounts", headers=headers)
    assert response.status_code == 400
    assert response.headers["content-type"] == OB_MEDIA
    assert response.json() == header_invalid(CUSTOMER_IP, BAD_IP)


async def test_the_consent_endpoint_refuses_a_repeated_auth_date(bank: Bank) -> None:
    token = await bank.token(None, customer=None)
    date = in_seconds(-60)
    headers = [
        ("authorization", f"DPoP {token}"),
        ("dpop", proof(method="POST", url=BASE + CONSENTS, token=token)),
        ("x-fapi-interaction-id", INTERACTION_ID),
        ("content-type", "application/json"),
        (AUTH_DATE, date),
        (AUTH_DATE, date),
    ]
    body = b'{"Data":{"Permissions":["ReadAccountsBasic"]},"Risk":{}}'
    response = await bank.http.post(CONSENTS, content=body, headers=headers)
    assert response.status_code == 400
    assert response.json() == header_invalid(AUTH_DATE, "x-fapi-auth-date must be sent at most once")
