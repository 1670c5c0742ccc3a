"""Hostile requests at the Account API (UK OB v3.1.11 AISP), through the whole app in-process (issue 6
item 4): a valid DPoP-bound token and proof with hostile ``x-fapi-interaction-id``,
``x-fapi-auth-date``, ``x-fapi-customer-ip-address``, ``authorization``, ``dpop`` and ``x-api-key``
headers, many and long headers, hostile queries; bad tokens and proofs; random JSON bodies (deep
nesting, wrong types, wrong media types) at POST /account-access-consents; hostile consent ids. Every
answer is the API's success or an OBErrorResponse1 with a 4xx status: never a 5xx. Budget and case
count: tests.fuzz_support.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from kaimen.authz.dpop import access_token_hash
from kaimen.settings import Settings
from tests.account_consents_support import CONSENTS
from tests.ais_resources_support import AISP, Bank, open_bank
from tests.dpop_support import BASE, ec_key, proof, raw_sign
from tests.fuzz_app_support import fuzz_settings
from tests.fuzz_support import (
    FUZZ,
    GATEWAY_HEADERS,
    HEADER_VALUES,
    HOSTILE_VALUES,
    MANY_HEADERS,
    QUERIES,
    accepted,
    assert_ob_refusal,
    count,
    dumps,
    hostile_object,
    jwt_garbage,
    with_headers,
)

__all__ = ["fuzz_settings"]  # fixtures
pytest_plugins = ["tests.fuzz_plugin"]


# -- the Account API (UK OB v3.1.11 AISP) ----------------------------------------------------------


@pytest.fixture
async def bank(fuzz_settings: Settings) -> AsyncIterator[tuple[Bank, str]]:
    async with open_bank(fuzz_settings) as opened:
        yield opened, await opened.reader()


def _resource_paths(bank: Bank) -> st.SearchStrategy[str]:
    account = bank.chosen[0]
    return st.sampled_from(
        [
            "/accounts",
            f"/accounts/{account}",
            f"/accounts/{account}/balances",
            f"/accounts/{account}/transactions",
            f"/accounts/{account}/product",
            f"/accounts/{account}/parties",
            "/party",
            "/balances",
            "/transactions",
            f"/accounts/{bank.not_chosen}",
            "/accounts/%00",
            "/account-access-consents/aac-x",
        ]
    ) | st.text("abcdefghijklmnopqrstuvwxyz0123456789-_%/", max_size=30).map(lambda s: "/accounts/" + s)


def _good_headers(token: str, method: str, path: str) -> list[tuple[bytes, bytes]]:
    return [
        (b"authorization", f"DPoP {token}".encode()),
        (b"dpop", proof(method=method, url=BASE + path, token=token).encode()),
        (b"x-fapi-interaction-id", str(uuid.uuid4()).encode()),
    ]


@FUZZ
@given(data=st.data(), hostile=GATEWAY_HEADERS, many=MANY_HEADERS, query=QUERIES, replace=st.booleans())
async def test_account_api_hostile_headers(
    bank: tuple[Bank, str],
    data: Any,
    hostile: list[tuple[bytes, bytes]],
    many: list[tuple[bytes, bytes]],
    query: dict[str, str],
    replace: bool,
) -> None:
    """A valid token and proof for the path, then hostile headers added or put in their place."""
    count("account API: headers and queries")
    opened, token = bank
    path = AISP + data.draw(_resource_paths(opened))
    headers = with_headers(_good_headers(token, "GET", path), hostile, replace) + many
    response = await opened.http.get(path, params=query, headers=headers)
    if response.status_code < 400:
        accepted(response)
        return
    assert_ob_refusal(response)


@FUZZ
@given(
    data=st.data(),
    authorization=st.lists(
        HEADER_VALUES | jwt_garbage().map(lambda t: b"DPoP " + t.encode("utf-8", "surrogatepass")), max_size=2
    ),
    dpop=st.lists(
        HEADER_VALUES | jwt_garbage().map(lambda t: t.encode("utf-8", "surrogatepass")), max_size=2
    ),
    keep_token=st.booleans(),
)
async def test_account_api_bad_tokens_and_proofs(
    bank: tuple[Bank, str], data: Any, authorization: list[bytes], dpop: list[bytes], keep_token: bool
) -> None:
    count("account API: tokens and proofs")
    opened, token = bank
    path = AISP + data.draw(_resource_paths(opened))
    headers = [(b"x-fapi-interaction-id", str(uuid.uuid4()).encode())]
    headers += (
        [(b"authorization", f"DPoP {token}".encode())]
        if keep_token
        else [(b"authorization", a) for a in authorization]
    )
    headers += [(b"dpop", d) for d in dpop]
    response = await opened.http.get(path, headers=headers)
    if response.status_code < 400:
        accepted(response)
        return
    assert_ob_refusal(response)


CONSENT_BODIES = st.one_of(
    hostile_object(
        {
            "Data": hostile_object(
                {
                    "Permissions": st.lists(
                        st.sampled_from(["ReadAccountsBasic", "ReadBalances", "ReadPAN"]) | HOSTILE_VALUES,
                        max_size=4,
                    ),
                    "ExpirationDateTime": st.sampled_from(
                        ["2099-01-01T00:00:00Z", "9999-12-31T23:59:59-23:59", "2099-02-30T00:00:00Z"]
                    )
                    | HOSTILE_VALUES,
                    "TransactionFromDateTime": st.sampled_from(
                        ["2020-01-01T00:00:00Z", "0001-01-01T00:00:00+23:59"]
                    )
                    | HOSTILE_VALUES,
                }
            ),
            "Risk": st.just({}) | HOSTILE_VALUES,
        }
    ).map(dumps),
    HOSTILE_VALUES.map(dumps),
    st.integers(20, 200).map(lambda n: '{"Data":' * n + "1" + "}" * n),
    st.integers(20, 200).map(lambda n: "[" * n + "]" * n),
    st.text(max_size=60),
).map(lambda s: s.encode("utf-8", "surrogatepass")) | st.binary(max_size=100)


@FUZZ
@given(
    body=CONSENT_BODIES,
    content_type=st.sampled_from(
        [
            "application/json",
            "application/json; charset=utf-8",
            "text/plain",
            "application/x-www-form-urlencoded",
            "",
            "application/jose+jwe",
        ]
    ),
    hostile=GATEWAY_HEADERS,
)
@example(
    body=b'{"Data":{"Permissions":["ReadAccountsBasic"],"ExpirationDateTime":"9999-12-31T23:59:59-23:59"},"Risk":{}}',
    content_type="application/json",
    hostile=[],
)
async def test_account_access_consent_bodies(
    bank: tuple[Bank, str], body: bytes, content_type: str, hostile: list[tuple[bytes, bytes]]
) -> None:
    count("account API: consent POST bodies")
    opened, _ = bank
    consent_token = await opened.token(None, customer=None)  # client_credentials-shaped
    headers = _good_headers(consent_token, "POST", CONSENTS) + hostile
    if content_type:
        headers.append((b"content-type", content_type.encode()))
    response = await opened.http.post(CONSENTS, content=body, headers=headers)
    if response.status_code < 400:
        accepted(response)
        return
    assert_ob_refusal(response)


@FUZZ
@given(
    consent_id=st.text(max_size=60) | st.sampled_from(["aac-" + str(uuid.uuid4()), "%00", "a" * 5000]),
    method=st.sampled_from(["GET", "DELETE", "PUT", "PATCH"]),
)
async def test_account_access_consent_ids(bank: tuple[Bank, str], consent_id: str, method: str) -> None:
    count("account API: consent ids")
    opened, _ = bank
    token = await opened.token(None, customer=None)
    from urllib.parse import quote

    path = CONSENTS + "/" + quote(consent_id, safe="")
    response = await opened.http.request(method, path, headers=_good_headers(token, method, path))
    if response.status_code < 400:
        accepted(response)
        return
    assert_ob_refusal(response)


async def test_regression_a_consent_date_past_year_9999_in_utc_is_invalid_date(
    bank: tuple[Bank, str],
) -> None:
    """Found by test_account_access_consent_bodies (its explicit example): a 500 before the fix in
    apis/accounts/consent_request.py."""
    opened, _ = bank
    token = await opened.token(None, customer=None)
    body = {
        "Data": {"Permissions": ["ReadAccountsBasic"], "ExpirationDateTime": "9999-12-31T23:59:59-23:59"},
        "Risk": {},
    }
    response = await opened.http.post(CONSENTS, json=body, headers=_good_headers(token, "POST", CONSENTS))
    refused = assert_ob_refusal(response)
    assert response.status_code == 400
    assert refused["Errors"][0]["ErrorCode"] == "UK.OBIE.Field.InvalidDate"
    assert refused["Errors"][0]["Path"] == "Data.ExpirationDateTime"


@pytest.mark.parametrize("broken", [{"kty": ["EC"]}, {"crv": "P-1"}])
async def test_regression_a_dpop_jwk_with_a_bad_kty_or_curve_at_the_account_api(
    bank: tuple[Bank, str], broken: dict[str, Any]
) -> None:
    """Found by the DPoP properties: a 500 at every DPoP-protected API before the fixes in authz/dpop.py."""
    opened, token = bank
    path = AISP + "/accounts"
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": {**ec_key().as_dict(private=False), **broken}}
    body = {
        "jti": uuid.uuid4().hex,
        "htm": "GET",
        "htu": BASE + path,
        "iat": int(time.time()),
        "ath": access_token_hash(token),
    }
    headers = {"authorization": f"DPoP {token}", "dpop": raw_sign(header, body, ec_key(), "ES256")}
    response = await opened.http.get(path, headers=headers)
    refused = assert_ob_refusal(response)
    assert response.status_code == 401
    assert refused["Errors"][0]["ErrorCode"] == "UK.OBIE.Header.Invalid"
