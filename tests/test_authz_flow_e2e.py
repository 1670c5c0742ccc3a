"""The whole FAPI 2.0 flow end to end, driven by an independent client library: Authlib's
AsyncOAuth2Client (private_key_jwt client authentication, PKCE S256, the token request), with the DPoP
proofs made here with joserfc, and the customer's login, one-time code and consent pages driven as
plain form posts, the way DESIGN.md's sandbox contract promises a script can.

Then the authorization-code swap (RFC 9700 §4.5, code injection) replayed end to end: the attacker's
own code pushed into the victim's session (the victim's PKCE verifier), and the victim's code taken to
another client. Both fail with invalid_grant.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import func, select

from kaimen.settings import Settings
from kaimen.store.authz_models import AuthorizationCode
from tests.authz_flow_support import (
    AUTHORIZE,
    ISSUER,
    PAR,
    REDIRECT_URI,
    TOKEN,
    Harness,
    Tpp,
    claims_for,
    dpop_key,
    harness,
    proof,
    query_of,
    thumbprint,
)
from tests.fapi_client_support import PASSWORD, Customer, customer, oauth_client, post_form


@pytest.fixture
async def h(make_settings: Callable[..., Settings], database_url: str) -> AsyncIterator[Harness]:
    async with harness(make_settings(database_url=database_url)) as flow:
        yield flow


@dataclass
class Authorization:
    callback: str
    state: str
    nonce: str
    verifier: str


async def authorize(h: Harness, tpp: Tpp, person: Customer, decision: str = "approve") -> Authorization:
    """The TPP pushes its request with Authlib, the customer's browser goes through the pages."""
    h.intent_id = await h.consent(tpp)
    account_id = (await h.accounts(person.customer_id))[0]
    client = oauth_client(h, tpp)
    verifier = secrets.token_urlsafe(48)
    nonce = secrets.token_urlsafe(16)
    url, state = client.create_authorization_url(
        ISSUER + AUTHORIZE, code_verifier=verifier, nonce=nonce, claims=claims_for(h.intent_id)
    )
    params = query_of(url)
    assert params["code_challenge_method"] == "S256"
    client_auth = client.client_auth("private_key_jwt")
    pushed = await client.request("POST", PAR, data=params, auth=client_auth, withhold_token=True)
    assert pushed.status_code == 201, pushed.text
    await client.aclose()

    transport = httpx.ASGITransport(app=h.app, client=("198.51.100.30", 40001))
    async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as browser:
        start = await browser.get(
            AUTHORIZE, params={"client_id": tpp.client_id, "request_uri": pushed.json()["request_uri"]}
        )
        assert start.status_code == 303
        otp_page = await post_form(
            browser, start.headers["location"], username=person.username, password=PASSWORD
        )
        consent_page = await post_form(browser, otp_page.headers["location"], otp=person.totp.now())
        done = await post_form(
            browser, consent_page.headers["location"], decision=decision, account_id=account_id
        )
    callback = done.headers["location"]
    assert callback.startswith(tpp.redirect_uri + "?")
    return Authorization(callback, state, nonce, verifier)


async def redeem(h: Harness, tpp: Tpp, auth: Authorization, *, verifier: str | None = None) -> Any:
    client = oauth_client(h, tpp)
    try:
        return await client.fetch_token(
            ISSUER + TOKEN,
            authorization_response=auth.callback,
            state=auth.state,
            code_verifier=verifier or auth.verifier,
            headers={"DPoP": proof(dpop_key(), TOKEN)},
        )
    finally:
        await client.aclose()


async def test_a_tpp_completes_the_fapi2_flow_with_authlib(h: Harness) -> None:
    tpp, alice = await h.tpp(), await customer(h, "alice")
    auth = await authorize(h, tpp, alice)
    response = query_of(auth.callback)
    assert response["iss"] == ISSUER  # RFC 9207: the client checks where the response came from
    assert response["state"] == auth.state

    token = await redeem(h, tpp, auth)
    assert token["token_type"] == "DPoP"
    assert token["scope"] == "openid accounts"
    assert "refresh_token" in token

    jwks = KeySet.import_key_set((await h.http.get("/oauth2/jwks")).json())
    id_token = jwt.decode(token["id_token"], jwks, algorithms=["PS256"]).claims
    assert (id_token["iss"], id_token["aud"], id_token["nonce"]) == (ISSUER, tpp.client_id, auth.nonce)
    assert id_token["acr"] == "urn:openbanking:psd2:sca"
    assert id_token["amr"] == ["pwd", "otp"]
    assert id_token["openbanking_intent_id"] == h.intent_id

    # The DPoP-bound access token works at userinfo, and nowhere without its key.
    access = token["access_token"]
    from kaimen.authz.dpop import access_token_hash

    userinfo = await h.http.get(
        "/oauth2/userinfo",
        headers={
            "Authorization": f"DPoP {access}",
            "DPoP": proof(dpop_key(), "/oauth2/userinfo", "GET", ath=access_token_hash(access)),
        },
    )
    assert userinfo.status_code == 200, userinfo.text
    assert userinfo.json()["sub"] == id_token["sub"]
    assert (await h.server.tokens.access(access)).jkt == thumbprint(dpop_key())


async def test_the_attackers_code_in_the_victims_session_fails(h: Harness) -> None:
    """Code injection: the attacker authorizes at the same TPP with their own account, then makes the
    victim's TPP session redeem the attacker's code. The victim's session holds the victim's PKCE
    verifier, which does not match the attacker's code: invalid_grant, no tokens."""
    tpp = await h.tpp()
    victim_auth = await authorize(h, tpp, await customer(h, "victim"))
    attacker_auth = await authorize(h, tpp, await customer(h, "mallory"))
    swapped = Authorization(
        attacker_auth.callback, attacker_auth.state, victim_auth.nonce, victim_auth.verifier
    )
    with pytest.raises(Exception, match="invalid_grant"):
        await redeem(h, tpp, swapped)
    # The victim's own code, with the victim's verifier, still works.
    assert (await redeem(h, tpp, victim_auth))["token_type"] == "DPoP"


async def test_the_victims_code_at_another_client_fails(h: Harness) -> None:
    """A stolen code taken to another client (with the stolen verifier too): invalid_grant."""
    tpp, attacker_tpp = await h.tpp(), await h.tpp()
    victim_auth = await authorize(h, tpp, await customer(h, "victim"))
    stolen = Authorization(
        victim_auth.callback.replace(tpp.redirect_uri, attacker_tpp.redirect_uri, 1),
        victim_auth.state,
        victim_auth.nonce,
        victim_auth.verifier,
    )
    with pytest.raises(Exception, match="invalid_grant"):
        await redeem(h, attacker_tpp, stolen)


async def test_the_redirect_uri_is_the_registered_one(h: Harness) -> None:
    tpp = await h.tpp()
    auth = await authorize(h, tpp, await customer(h, "carol"))
    assert auth.callback.split("?", 1)[0] == REDIRECT_URI


async def test_a_customer_who_denies_sends_the_tpp_access_denied_with_state_and_iss(h: Harness) -> None:
    tpp = await h.tpp()
    auth = await authorize(h, tpp, await customer(h, "dave"), decision="deny")
    assert query_of(auth.callback) == {"error": "access_denied", "state": auth.state, "iss": ISSUER}
    async with h.server.db.read() as session:  # no code was issued for the denial
        assert (await session.execute(select(func.count()).select_from(AuthorizationCode))).scalar_one() == 0
