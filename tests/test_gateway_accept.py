"""Accept on the UK OB APIs (kaimen.gateway.accept): UK OB Read/Write Data API Profile, "Request
Headers", Accept: "If set to an unacceptable value the ASPSP must respond with a 406 (Not
Acceptable)". Media ranges are read as RFC 9110 §12.5.1 says; the Product (Open Data) API and the
OAuth endpoints do not negotiate and are unchanged."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from kaimen.apis.media_type import is_utf8_json
from kaimen.gateway.accept import accepts_json
from kaimen.gateway.ratelimit_counters import Limiter, build_rate_limiter
from kaimen.settings import Settings
from tests.ais_resources_support import AISP, Bank, open_bank
from tests.customer_presence_support import INTERACTION_ID, OB_MEDIA, presence_gateway, unattended
from tests.dpop_support import BASE, proof
from tests.product_support import PRODUCT_APIS, public_settings, serve
from tests.support import client_for

NOT_ACCEPTABLE = {
    "Code": "406 NotAcceptable",
    "Id": INTERACTION_ID,
    "Message": "Not acceptable",
    "Errors": [
        {
            "ErrorCode": "UK.OBIE.Header.Invalid",
            "Message": "the Accept header admits no media type this API answers in: application/json",
            "Path": "accept",
        }
    ],
}


# -- the values ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "application/json",
        "application/json; charset=utf-8",
        "application/json;charset=UTF-8",
        'application/json; charset="utf-8"',
        "Application/JSON",
        "application/*",
        "*/*",
        "application/json;q=0.5",
        "application/json ; q=1.000",
        "text/html, application/json;q=0.1",
        "application/jose+jwe, application/json;q=0.9",
        "application/json; q=0.5; charset=utf-8",  # "q" is the weight wherever it stands
        "*/*;q=0, application/json",  # the most specific range has precedence
        "application/json;q=0, application/json;charset=utf-8",  # the charset range is more specific
        "application/json;charset=iso-8859-1, */*;q=0.1",  # that range does not apply; */* does
        'text/plain; format="a,b", application/json',  # a comma inside a quoted value
        "application/json;",  # an empty parameter (RFC 9110 §5.6.6)
        "text/html, , application/json",  # an empty list element (RFC 9110 §5.6.1)
        "application/json;q=2, */*",  # the malformed element is ignored; */* accepts
        "application/json;q=0;q=1, */*;q=0.1",  # a parameter named twice spoils its element
        'application/json;charset="utf\x01-8", */*;q=0.1',  # a control character is no qdtext
    ],
)
def test_acceptable_values(value: str) -> None:
    assert accepts_json(value)


@pytest.mark.parametrize(
    "value",
    ['application/json;charset="utf\x01-8"', 'application/json; charset="utf-8";charset=utf-8'],
)
def test_accept_and_content_type_read_media_types_with_one_grammar(value: str) -> None:
    """RFC 9110 §5.6.4 and §5.6.6 as kaimen.apis.media_type reads them: what is no media type in a
    Content-Type is no media range in an Accept either."""
    assert not is_utf8_json(value)
    assert not accepts_json(value)


@pytest.mark.parametrize(
    "value",
    [
        "text/html",
        "application/xml",
        "application/jose+jwe",  # in the spec files, but Kaimen never encrypts a response
        "application/json; charset=iso-8859-1",
        "application/json; charset=utf-16",
        "application/json; version=2",  # a parameter the representation does not have
        "application/json;q=0",  # RFC 9110 §12.4.2: "A value of 0 means "not acceptable""
        "application/json;q=0.000",
        "application/*;q=0",
        "*/*;q=0",
        "application/json;q=0, */*",  # the most specific range has precedence
        "*/*, application/*;q=0",
        "application/json;charset=utf-8;q=0, application/json",
        "*/json",  # not a media range
        "application/json;q=2",  # not a qvalue: the element is ignored, nothing else accepts JSON
        "application/json;q=0.5000",
        "application/json/x",
        "text/*",
    ],
)
def test_unacceptable_values(value: str) -> None:
    assert not accepts_json(value)


# -- the gateway step ---------------------------------------------------------------------------------


@pytest.fixture
async def gateway(make_settings: Callable[..., Settings]) -> AsyncIterator[Any]:
    limiter: Limiter = build_rate_limiter(make_settings())
    yield presence_gateway(limiter)
    await limiter.close()


@pytest.mark.parametrize("accept", ["text/html", "application/xml;q=1, application/json;q=0"])
async def test_an_unacceptable_accept_on_a_uk_ob_api_is_406(gateway: Any, accept: str) -> None:
    async with client_for(gateway) as http:
        response = await http.get("/ob/x", headers={**unattended(), "accept": accept})
    assert response.status_code == 406
    assert response.headers["content-type"] == OB_MEDIA
    assert response.json() == NOT_ACCEPTABLE


async def test_accept_lines_are_read_as_one_list(gateway: Any) -> None:
    # RFC 9110 §5.3: several field lines are one comma-separated list.
    async with client_for(gateway) as http:
        admits = [*unattended().items(), ("accept", "text/html"), ("accept", "application/json")]
        refuses = [*unattended().items(), ("accept", "text/html"), ("accept", "application/xml")]
        assert (await http.get("/ob/x", headers=admits)).status_code == 200
        assert (await http.get("/ob/x", headers=refuses)).status_code == 406


@pytest.mark.parametrize("accept", [None, "", "application/json", "*/*", "application/json; charset=utf-8"])
async def test_json_or_no_preference_reaches_the_handler(gateway: Any, accept: str | None) -> None:
    headers = unattended() if accept is None else {**unattended(), "accept": accept}
    async with client_for(gateway) as http:
        response = await http.get("/ob/x", headers=headers)
    assert response.status_code == 200
    assert response.json()["customer_present"] is False  # the handler ran


async def test_an_open_data_api_does_not_negotiate(gateway: Any) -> None:
    async with client_for(gateway) as http:
        response = await http.get("/opendata", headers={**unattended(), "accept": "text/html"})
    assert response.status_code == 200


# -- the whole app --------------------------------------------------------------------------------------


@pytest.fixture
async def bank(make_settings: Callable[..., Settings], sqlite_url: str) -> AsyncIterator[Bank]:
    async with open_bank(make_settings(database_url=sqlite_url)) as opened:
        yield opened


async def test_the_account_api_answers_406_before_its_handler(bank: Bank) -> None:
    """The consent is not authorised, so the handler would answer 403: a 406 shows it never ran."""
    token = await bank.token("aac-never-issued")
    headers = {
        "authorization": f"DPoP {token}",
        "dpop": proof(method="GET", url=BASE + AISP + "/accounts", token=token),
        "x-fapi-interaction-id": INTERACTION_ID,
        "accept": "application/json; charset=iso-8859-1",
    }
    response = await bank.http.get(AISP + "/accounts", headers=headers)
    assert response.status_code == 406
    assert response.headers["content-type"] == OB_MEDIA
    assert response.json() == NOT_ACCEPTABLE


async def test_the_account_api_serves_an_accept_that_admits_json(bank: Bank) -> None:
    token = await bank.reader()
    headers = {
        "authorization": f"DPoP {token}",
        "dpop": proof(method="GET", url=BASE + AISP + "/accounts", token=token),
        "accept": "application/jose+jwe, application/json;q=0.5",
    }
    response = await bank.http.get(AISP + "/accounts", headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == OB_MEDIA


async def test_the_product_api_and_the_oauth_endpoints_do_not_negotiate(
    make_settings: Callable[..., Settings], sqlite_url: str
) -> None:
    async with serve(public_settings(make_settings, sqlite_url)) as (_, http):
        product = await http.get(PRODUCT_APIS[0].path, headers={"accept": "text/html"})
        discovery = await http.get("/.well-known/openid-configuration", headers={"accept": "text/html"})
    assert product.status_code == 200
    assert discovery.status_code == 200
