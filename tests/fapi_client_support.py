"""An independent OAuth client for the end-to-end tests: Authlib's AsyncOAuth2Client with FAPI 2.0's
private_key_jwt rules, and the customer's browser as plain form posts (DESIGN.md sandbox contract)."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import time
import warnings
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pyotp
from authlib.oauth2.rfc7523 import PrivateKeyJWT  # type: ignore[import-untyped]
from authlib.oauth2.rfc7523.assertion import private_key_jwt_sign  # type: ignore[import-untyped]

from tests.authz_flow_support import (
    AUTHORIZE,
    ISSUER,
    PAR,
    TOKEN,
    Harness,
    Tpp,
    claims_for,
    dpop_key,
    proof,
    query_of,
)

RADIO = re.compile(r'<input type="radio" id="[^"]+" name="debtor_account_id" value="([^"]+)"')
CHECKBOX = re.compile(r'<input type="checkbox" id="[^"]+" name="account_id" value="([^"]+)"')

with warnings.catch_warnings():
    # Authlib 1.9 announces its move to the httpx2 package name; the client is the same.
    warnings.simplefilter("ignore")
    from authlib.integrations.httpx_client import AsyncOAuth2Client  # type: ignore[import-untyped]

PASSWORD = "correct horse battery staple"
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


class FapiPrivateKeyJWT(PrivateKeyJWT):  # type: ignore[misc]
    """Authlib's private_key_jwt with FAPI 2.0's rules: PS256, aud = the issuer (FAPI 2.0 §5.3.2.1), and
    a short-lived assertion (Authlib's default lifetime is an hour)."""

    alg = "PS256"

    def sign(self, auth: Any, token_endpoint: str) -> str:
        token: str = private_key_jwt_sign(
            auth.client_secret,
            client_id=auth.client_id,
            token_endpoint=ISSUER,
            alg=self.alg,
            header={"kid": auth.client_secret.kid},
            expires_in=60,
        )
        return token


def oauth_client(h: Harness, tpp: Tpp, scope: str = "openid accounts") -> AsyncOAuth2Client:
    """Authlib's client for ``tpp``, talking to the app in-process."""
    client = AsyncOAuth2Client(
        client_id=tpp.client_id,
        client_secret=tpp.key,
        token_endpoint_auth_method="private_key_jwt",
        scope=scope,
        redirect_uri=tpp.redirect_uri,
        code_challenge_method="S256",
        transport=httpx.ASGITransport(app=h.app, client=("198.51.100.20", 40000)),
        base_url=ISSUER,
    )
    client.register_client_auth_method(FapiPrivateKeyJWT(ISSUER))
    return client


@dataclass
class Customer:
    username: str
    totp: pyotp.TOTP
    customer_id: str


async def customer(h: Harness, username: str) -> Customer:
    customer_id, secret = await h.server.customers.create(username, PASSWORD, username.title())
    return Customer(username, pyotp.TOTP(secret), customer_id)


def hidden_fields(page: httpx.Response) -> dict[str, str]:
    return dict(_HIDDEN.findall(page.text))


async def post_form(browser: httpx.AsyncClient, path: str, **fields: str) -> httpx.Response:
    page = await browser.get(path)
    assert page.status_code == 200, page.text
    response = await browser.post(path, data={**hidden_fields(page), **fields})
    assert response.status_code == 303, response.text  # 303 after every successful POST
    return response


def ath(token: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(token.encode()).digest()).rstrip(b"=").decode()


async def call(
    h: Harness,
    method: str,
    path: str,
    token: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """A UK OB API request with the DPoP-bound token and a fresh proof for it (RFC 9449 §7.1);
    ``body`` as JSON bytes when it is ``bytes`` already, else encoded here."""
    sent = {"authorization": f"DPoP {token}", "dpop": proof(dpop_key(), path, method, ath=ath(token))}
    content = None
    if body is not None:
        sent["content-type"] = "application/json"
        content = body if isinstance(body, bytes) else orjson.dumps(body)
    return await h.http.request(method, path, content=content, headers={**sent, **(headers or {})})


async def tpp_token(h: Harness, tpp: Tpp, scope: str = "accounts") -> str:
    """The TPP's own token (client_credentials), fetched with Authlib."""
    client = oauth_client(h, tpp, scope=scope)
    try:
        token = await client.fetch_token(
            ISSUER + TOKEN, grant_type="client_credentials", headers={"DPoP": proof(dpop_key(), TOKEN)}
        )
    finally:
        await client.aclose()
    assert token["token_type"] == "DPoP"
    access: str = token["access_token"]
    return access


async def authorise(
    h: Harness,
    tpp: Tpp,
    person: Customer,
    consent_id: str,
    *,
    decision: str = "approve",
    later: int = 0,
    scope: str = "openid accounts",
    language: str | None = None,
) -> tuple[dict[str, Any], str]:
    """PAR with Authlib naming ``consent_id``, the customer's pages (ticking the first account offered;
    ``language`` as their browser's Accept-Language), the code redeemed with Authlib: (token response,
    or the error callback's query; consent page)."""
    client = oauth_client(h, tpp, scope=scope)
    verifier = secrets.token_urlsafe(48)
    url, state = client.create_authorization_url(
        ISSUER + AUTHORIZE, code_verifier=verifier, nonce="n-1", claims=claims_for(consent_id)
    )
    pushed = await client.request(
        "POST", PAR, data=query_of(url), auth=client.client_auth("private_key_jwt"), withhold_token=True
    )
    assert pushed.status_code == 201, pushed.text
    transport = httpx.ASGITransport(app=h.app, client=("198.51.100.40", 40002))
    headers = {"accept-language": language} if language else None
    async with httpx.AsyncClient(transport=transport, base_url=ISSUER, headers=headers) as browser:
        start = await browser.get(
            AUTHORIZE, params={"client_id": tpp.client_id, "request_uri": pushed.json()["request_uri"]}
        )
        otp_page = await post_form(
            browser,
            start.headers["location"],
            username=person.username,
            password="correct horse battery staple",
        )
        consent_url = (
            await post_form(browser, otp_page.headers["location"], otp=person.totp.at(time.time() + later))
        ).headers["location"]
        page = await browser.get(consent_url)
        offered = CHECKBOX.findall(page.text)
        debtors = RADIO.findall(page.text)
        answer = {**hidden_fields(page), "decision": decision, "account_id": offered[:1]}
        if debtors:
            answer["debtor_account_id"] = debtors[0]
        if 'name="otp"' in page.text:  # step-up: a fresh code, the next time step's
            answer["otp"] = person.totp.at(time.time() + later + 30)
        done = await browser.post(consent_url, data=answer)
        assert done.status_code == 303, done.text
    callback = done.headers["location"]
    if decision != "approve":
        await client.aclose()
        return query_of(callback), page.text
    try:
        token = await client.fetch_token(
            ISSUER + TOKEN,
            authorization_response=callback,
            state=state,
            code_verifier=verifier,
            headers={"DPoP": proof(dpop_key(), TOKEN)},
        )
    finally:
        await client.aclose()
    return dict(token), page.text
