"""Issue 3, "Done when": a demo TPP completes the full FAPI 2.0 flow against a running ``kaimen demo``
with a third-party client library, SCA included.

Everything an outside tool has is the credentials file: the TPP (Authlib's OAuth2Client, private_key_jwt
with the TPP's PS256 key, PKCE S256, PAR with a DPoP proof) and the customer (username, password, TOTP
secret), who goes through the login, one-time-code and consent pages as plain form posts over real
HTTP. The client checks ``iss`` and ``state``, redeems the code with a DPoP proof, verifies the ID token
against the published JWKS, calls userinfo with the DPoP-bound token, and refreshes it once.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pyotp
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey

from tests.demo_flow_support import (
    ACR_SCA,
    DemoTpp,
    check_authorization_response,
    dpop_proof,
    push,
)
from tests.test_demo_server import Demo, free_port

pytestmark = pytest.mark.server

_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    running = Demo(tmp_path / "data", tmp_path / "out" / "credentials.json", free_port())
    try:
        yield running
    finally:
        running.stop()


def submit(browser: httpx.Client, url: str, **fields: str) -> tuple[str, str]:
    """GET the page, post its form back with its hidden fields (the CSRF token among them) and
    ``fields``; the sandbox contract promises 303 for a successful POST. Returns the page's HTML and
    the absolute URL the 303 points at."""
    page = browser.get(url)
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    hidden = dict(_HIDDEN.findall(page.text))
    assert hidden.get("csrf"), page.text
    answer = browser.post(url, data={**hidden, **fields})
    assert answer.status_code == 303, answer.text
    return page.text, urljoin(url, answer.headers["location"])


def test_a_demo_tpp_completes_the_fapi2_flow_with_authlib_and_sca(demo: Demo) -> None:
    started = time.monotonic()
    creds = demo.start()
    tpp = DemoTpp.from_credentials(creds, "PARTNER")
    customer = creds["customers"][0]
    meta = tpp.meta
    assert tpp.issuer == creds["issuer"] == f"http://localhost:{demo.port}"
    assert meta["authorization_response_iss_parameter_supported"] is True
    assert meta["require_pushed_authorization_requests"] is True
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert "ES256" in meta["dpop_signing_alg_values_supported"]
    dpop_key = ECKey.generate_key("P-256", private=True)

    # The TPP pushes its request; the customer's browser follows the authorize URL to the pages.
    pushed = push(tpp, dpop_key, bind="header")
    with httpx.Client(timeout=10) as browser:
        start = browser.get(pushed.authorize_url)
        assert start.status_code == 303, start.text
        login_url = urljoin(pushed.authorize_url, start.headers["location"])
        login_page, otp_url = submit(
            browser, login_url, username=customer["username"], password=customer["password"]
        )
        assert tpp.name in login_page
        _, consent_url = submit(browser, otp_url, otp=pyotp.TOTP(customer["totp_secret"]).now())
        account = customer["accounts"][0]
        consent_page, callback = submit(
            browser, consent_url, decision="approve", account_id=account["account_id"]
        )
        assert tpp.name in consent_page and pushed.intent_id in consent_page
        # Each permission in plain words, and each of the customer's accounts to tick.
        assert "Your account balances and any credit limits" in consent_page
        for held in customer["accounts"]:
            assert f'name="account_id" value="{held["account_id"]}"' in consent_page
    # The 303 goes to the client's loopback redirect URI; nothing listens there, the client reads it.
    check_authorization_response(tpp, pushed, callback)

    token_endpoint = meta["token_endpoint"]
    with tpp.oauth_client() as client:
        token = client.fetch_token(
            token_endpoint,
            authorization_response=callback,
            state=pushed.state,
            code_verifier=pushed.verifier,
            headers={"DPoP": dpop_proof(dpop_key, "POST", token_endpoint)},
        )
    assert token["token_type"] == "DPoP"
    assert token["scope"] == "openid accounts"
    assert token["expires_in"] > 0 and token["refresh_token"]

    # The ID token, verified with the keys the server publishes at jwks_uri (OIDC Core §3.1.3.7).
    id_token = jwt.decode(token["id_token"], tpp.signing_keys(), algorithms=["PS256"])
    assert id_token.header["alg"] == "PS256" and id_token.header["kid"]
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": tpp.issuer},
        aud={"essential": True, "value": tpp.client_id},
        nonce={"essential": True, "value": pushed.nonce},
        acr={"essential": True, "value": ACR_SCA},
        sub={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
        auth_time={"essential": True},
    ).validate(id_token.claims)
    assert id_token.claims["amr"] == ["pwd", "otp"]
    assert id_token.claims["openbanking_intent_id"] == pushed.intent_id
    sub = id_token.claims["sub"]

    userinfo_url = meta["userinfo_endpoint"]

    def userinfo(access_token: str) -> httpx.Response:
        return httpx.get(
            userinfo_url,
            headers={
                "Authorization": f"DPoP {access_token}",
                "DPoP": dpop_proof(dpop_key, "GET", userinfo_url, access_token),
            },
            timeout=10,
        )

    first = userinfo(token["access_token"])
    assert first.status_code == 200, first.text
    assert first.json()["sub"] == sub

    # Refresh once, with a fresh proof of the same key: a new DPoP-bound access token for the same sub.
    with tpp.oauth_client() as client:
        refreshed = client.refresh_token(
            token_endpoint,
            refresh_token=token["refresh_token"],
            headers={"DPoP": dpop_proof(dpop_key, "POST", token_endpoint)},
        )
    assert refreshed["token_type"] == "DPoP"
    assert refreshed["access_token"] != token["access_token"]
    second = userinfo(refreshed["access_token"])
    assert second.status_code == 200, second.text
    assert second.json()["sub"] == sub

    # Issue 4, "Done when": the TPP reads the account the customer chose, its balances, transactions.
    access = refreshed["access_token"]
    accounts = tpp.call(dpop_key, "GET", tpp.aisp + "/accounts", access)
    assert accounts.status_code == 200, accounts.text
    assert [a["AccountId"] for a in accounts.json()["Data"]["Account"]] == [account["account_id"]]
    balances = tpp.call(dpop_key, "GET", f"{tpp.aisp}/accounts/{account['account_id']}/balances", access)
    assert balances.status_code == 200, balances.text
    booked = {b["Type"]: b["Amount"]["Amount"] for b in balances.json()["Data"]["Balance"]}
    assert booked["InterimBooked"] == account["balance"].lstrip("-")
    history = tpp.call(dpop_key, "GET", f"{tpp.aisp}/accounts/{account['account_id']}/transactions", access)
    assert history.status_code == 200, history.text
    assert history.json()["Data"]["Transaction"]
    assert time.monotonic() - started < 20
