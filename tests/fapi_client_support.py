"""An independent OAuth client for the end-to-end tests: Authlib's AsyncOAuth2Client with FAPI 2.0's
private_key_jwt rules, and the customer's browser as plain form posts (DESIGN.md sandbox contract)."""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from typing import Any

import httpx
import pyotp
from authlib.oauth2.rfc7523 import PrivateKeyJWT  # type: ignore[import-untyped]
from authlib.oauth2.rfc7523.assertion import private_key_jwt_sign  # type: ignore[import-untyped]

from tests.authz_flow_support import ISSUER, Harness, Tpp

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
