"""The token benchmark's data and its checks that the authorization server does the full work.

- Server settings: bench/prepare.py's, plus the authorization server's own API ("oauth") with limits
  that never trigger, and the public base URL set to the address the benchmark server listens on, so
  the assertion ``aud`` is the issuer and every proof's ``htu`` is what the server publishes.
- An OAuth client for the prepared application (``ClientRegistry.create_for_application``, as
  ``kaimen demo`` makes them) whose JWKS holds the TPP's PS256 key.
- Authorization codes made through the flow's storage API (``AuthorizationCodes.add``, the call
  ``AuthorizationFlow.finish`` makes when the customer approves), each with its own PKCE verifier and
  bound to the TPP's DPoP key, as a pushed request with a DPoP header would bind it.
- ``sanity_check``: before any timed run, each request kind succeeds once, and a replayed assertion,
  a replayed proof and a reused code are refused.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx

import prepare
import token_requests as tr
from kaimen.authz.clients import ClientRegistry
from kaimen.authz.codes import AuthorizationCodes
from kaimen.settings import Settings, load_settings
from kaimen.store.db import Database

REDIRECT_URI = "https://tpp.example/cb"
CODE_SCOPE = "openid accounts"  # a refresh token and an ID token come with each redemption
CUSTOMER_ID = "bench-customer"


def server_env(
    data_dir: Path, base_url: str, *, log_level: str | None, redis_url: str | None, iat_window: int | None
) -> dict[str, str]:
    tiers = {**prepare.TIERS, "oauth": "PUBLIC"}
    env = prepare.server_env(data_dir, log_level=log_level, redis_url=redis_url, tiers=tiers)
    env["KAIMEN_PUBLIC_BASE_URL"] = base_url
    if iat_window is not None:
        env["KAIMEN_OAUTH__DPOP_IAT_WINDOW_SECONDS"] = str(iat_window)
    return env


def settings_for(data_dir: Path, base_url: str) -> Settings:
    return load_settings(data_dir=data_dir, public_base_url=base_url)


def client_metadata(public_jwk: dict[str, Any]) -> dict[str, Any]:
    return {
        "client_name": "Token benchmark TPP",
        "redirect_uris": [REDIRECT_URI],
        "jwks": {"keys": [public_jwk]},
        "token_endpoint_auth_method": "private_key_jwt",
        "token_endpoint_auth_signing_alg": "PS256",
        "id_token_signed_response_alg": "PS256",
        "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
        "response_types": ["code"],
    }


def create_client(settings: Settings, application_id: str, keys: tr.Keys) -> str:
    async def run() -> str:
        db = Database(settings.sqlalchemy_url)
        try:
            clients = ClientRegistry(db, settings)
            client = await clients.create_for_application(
                application_id, client_metadata(keys.public_client_jwk())
            )
            return client.client_id
        finally:
            await db.dispose()

    return asyncio.run(run())


def create_codes(settings: Settings, keys: tr.Keys, count: int) -> list[tuple[str, tr.Pkce]]:
    """``count`` fresh codes for the TPP and the prepared customer; they live code_ttl_seconds."""
    grant: dict[str, Any] = {
        "nonce": None,
        "acr": "urn:openbanking:psd2:sca",
        "amr": ["pwd", "otp"],
        "auth_time": int(time.time()),
        "claims": {},
        "intent_id": None,
        "consent": {},
    }
    jkt = keys.jkt()

    async def run() -> list[tuple[str, tr.Pkce]]:
        db = Database(settings.sqlalchemy_url)
        codes = AuthorizationCodes(db, settings.oauth.code_ttl_seconds)
        made: list[tuple[str, tr.Pkce]] = []
        try:
            for start in range(0, count, 1000):
                async with db.write() as session:
                    for _ in range(min(1000, count - start)):
                        pkce = tr.Pkce.new()
                        code = codes.add(
                            session,
                            client_id=keys.client_id,
                            customer_id=CUSTOMER_ID,
                            redirect_uri=REDIRECT_URI,
                            code_challenge=pkce.challenge,
                            dpop_jkt=jkt,
                            scope=CODE_SCOPE,
                            grant=grant,
                        )
                        made.append((code, pkce))
            return made
        finally:
            await db.dispose()

    return asyncio.run(run())


class SanityError(AssertionError):
    pass


def _expect(response: httpx.Response, status: int, what: str, error: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    if response.status_code != status or (error is not None and body.get("error") != error):
        raise SanityError(f"{what}: expected {status} {error or ''}, got {response.status_code} {body}")
    return body


def redeem(http: httpx.Client, signer: tr.Signer, code: str, pkce: tr.Pkce) -> httpx.Response:
    form = signer.token_form(
        grant_type="authorization_code", code=code, redirect_uri=REDIRECT_URI, code_verifier=pkce.verifier
    )
    return http.post(tr.TOKEN, data=form, headers={"DPoP": signer.proof("POST", tr.TOKEN)})


def sanity_check(base_url: str, settings: Settings, signer: tr.Signer) -> dict[str, Any]:
    """Every request kind once, and the refusals that prove the one-time checks run."""
    out: dict[str, Any] = {}
    with httpx.Client(base_url=base_url, timeout=10) as http:
        form = signer.token_form(grant_type="client_credentials", scope="accounts")
        proof = signer.proof("POST", tr.TOKEN)
        body = _expect(http.post(tr.TOKEN, data=form, headers={"DPoP": proof}), 200, "client_credentials")
        if body.get("token_type") != "DPoP" or "refresh_token" in body:
            raise SanityError(f"client_credentials: unexpected body {body}")
        again = http.post(tr.TOKEN, data=form, headers={"DPoP": signer.proof("POST", tr.TOKEN)})
        _expect(again, 401, "replayed client assertion", "invalid_client")
        form = signer.token_form(grant_type="client_credentials", scope="accounts")
        replayed = http.post(tr.TOKEN, data=form, headers={"DPoP": proof})
        _expect(replayed, 400, "replayed DPoP proof", "invalid_dpop_proof")
        out["client_credentials"] = "200 DPoP token; replayed assertion 401, replayed proof 400"

        (code, pkce), (reused_code, reused_pkce) = create_codes(settings, signer.keys, 2)
        body = _expect(redeem(http, signer, code, pkce), 200, "authorization_code")
        if not {"id_token", "refresh_token"} <= body.keys():
            raise SanityError(f"authorization_code: no ID token or refresh token in {sorted(body)}")
        _expect(redeem(http, signer, reused_code, reused_pkce), 200, "second code")
        _expect(redeem(http, signer, reused_code, reused_pkce), 400, "reused code", "invalid_grant")
        out["authorization_code"] = "200 with id_token and refresh_token; reused code 400 invalid_grant"

        token = body["access_token"]
        proof = signer.proof("GET", tr.USERINFO, token)
        headers = {"Authorization": f"DPoP {token}", "DPoP": proof}
        answer = http.get(tr.USERINFO, headers=headers)
        info = _expect(answer, 200, "userinfo")
        if "sub" not in info:
            raise SanityError(f"userinfo: no sub in {info}")
        _expect(http.get(tr.USERINFO, headers=headers), 401, "userinfo, replayed proof", "invalid_dpop_proof")
        out["userinfo"] = "200 with sub; replayed proof 401 invalid_dpop_proof"
        out["userinfo_body"] = answer.content
        out["userinfo_media_type"] = answer.headers["content-type"]
    return out


def fresh_access_token(base_url: str, settings: Settings, signer: tr.Signer) -> str:
    """An access token with scope openid for a customer, bound to the TPP's DPoP key."""
    ((code, pkce),) = create_codes(settings, signer.keys, 1)
    with httpx.Client(base_url=base_url, timeout=10) as http:
        token: str = _expect(redeem(http, signer, code, pkce), 200, "authorization_code")["access_token"]
    return token
