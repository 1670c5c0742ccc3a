"""Phase 2 end to end, driven by an independent client library: Authlib's OAuth client (private_key_jwt,
PKCE S256, the token requests) with DPoP proofs made here with joserfc, the customer's pages as plain
form posts, and the Account API over plain HTTP.

The TPP creates an account-access consent with a client_credentials token, pushes an authorization
request naming it (the essential ``openbanking_intent_id`` claim), the customer logs in, passes SCA,
reads the permissions in plain words and ticks one of their accounts; the TPP redeems the code and reads
accounts, balances and transactions of that account only. The TPP's DELETE ends the access at once.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from kaimen.ledger.history import seed_history
from kaimen.settings import Settings
from tests.account_consents_support import assert_consent_response
from tests.ais_resources_support import AISP, ok, refused
from tests.authz_flow_support import (
    AUTHORIZE,
    ISSUER,
    PAR,
    TOKEN,
    Harness,
    Tpp,
    claims_for,
    dpop_key,
    harness,
    proof,
    query_of,
)
from tests.fapi_client_support import Customer, customer, hidden_fields, oauth_client, post_form

CONSENTS = AISP + "/account-access-consents"
REFRESH_EXPIRES_AT = "http://openbanking.org.uk/refresh_token_expires_at"
_CHECKBOX = re.compile(r'<input type="checkbox" id="[^"]+" name="account_id" value="([^"]+)"')


@pytest.fixture
async def h(make_settings: Callable[..., Settings], database_url: str) -> AsyncIterator[Harness]:
    async with harness(make_settings(database_url=database_url)) as flow:
        yield flow


def ath(token: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(token.encode()).digest()).rstrip(b"=").decode()


async def call(h: Harness, method: str, path: str, token: str, body: Any = None) -> httpx.Response:
    """An Account API request with the DPoP-bound token and a fresh proof for it (RFC 9449 §7.1)."""
    headers = {"authorization": f"DPoP {token}", "dpop": proof(dpop_key(), path, method, ath=ath(token))}
    content = None
    if body is not None:
        headers["content-type"] = "application/json"
        content = orjson.dumps(body)
    return await h.http.request(method, path, content=content, headers=headers)


async def tpp_token(h: Harness, tpp: Tpp) -> str:
    """The TPP's own token (client_credentials, scope accounts), fetched with Authlib."""
    client = oauth_client(h, tpp, scope="accounts")
    try:
        token = await client.fetch_token(
            ISSUER + TOKEN, grant_type="client_credentials", headers={"DPoP": proof(dpop_key(), TOKEN)}
        )
    finally:
        await client.aclose()
    assert token["token_type"] == "DPoP"
    access: str = token["access_token"]
    return access


async def create_consent(h: Harness, tpp: Tpp, **data: Any) -> str:
    body = {
        "Data": {
            "Permissions": [
                "ReadAccountsDetail",
                "ReadBalances",
                "ReadTransactionsDetail",
                "ReadTransactionsCredits",
                "ReadTransactionsDebits",
            ],
            **data,
        },
        "Risk": {},
    }
    response = await call(h, "POST", CONSENTS, await tpp_token(h, tpp), body)
    consent_id: str = assert_consent_response(response, 201)["Data"]["ConsentId"]
    return consent_id


async def authorise(
    h: Harness,
    tpp: Tpp,
    person: Customer,
    consent_id: str,
    *,
    decision: str = "approve",
    later: int = 0,
) -> tuple[dict[str, Any], str]:
    """PAR with Authlib, the customer's pages, the code redeemed with Authlib: (token, consent page)."""
    client = oauth_client(h, tpp)
    verifier = secrets.token_urlsafe(48)
    url, state = client.create_authorization_url(
        ISSUER + AUTHORIZE, code_verifier=verifier, nonce="n-1", claims=claims_for(consent_id)
    )
    pushed = await client.request(
        "POST", PAR, data=query_of(url), auth=client.client_auth("private_key_jwt"), withhold_token=True
    )
    assert pushed.status_code == 201, pushed.text
    transport = httpx.ASGITransport(app=h.app, client=("198.51.100.40", 40002))
    async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as browser:
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
        offered = _CHECKBOX.findall(page.text)
        done = await browser.post(
            consent_url, data={**hidden_fields(page), "decision": decision, "account_id": offered[0]}
        )
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


async def alice(h: Harness) -> tuple[Customer, list[str]]:
    person = await customer(h, "alice")
    await seed_history(h.app.components.db, [person.customer_id], seed=11, days=30)
    accounts = await h.app.components.core_banking.accounts(person.customer_id)
    return person, [account.account_id for account in accounts]


async def test_a_tpp_reads_only_the_account_the_customer_chose(h: Harness) -> None:
    tpp = await h.tpp()
    person, accounts = await alice(h)
    assert len(accounts) >= 2, "the seed should give Alice more than one account"
    consent_id = await create_consent(h, tpp)
    token, page = await authorise(h, tpp, person, consent_id)

    # The consent page said what is asked in plain words and offered each of Alice's accounts.
    assert "Your account names, types and currencies, with sort codes and account numbers" in page
    assert "Your account balances and any credit limits" in page
    assert set(_CHECKBOX.findall(page)) == set(accounts)
    chosen = _CHECKBOX.findall(page)[0]

    assert token["token_type"] == "DPoP" and token["scope"] == "openid accounts"
    jwks = KeySet.import_key_set((await h.http.get("/oauth2/jwks")).json())
    id_token = jwt.decode(token["id_token"], jwks, algorithms=["PS256"]).claims
    assert id_token["openbanking_intent_id"] == consent_id
    access = token["access_token"]

    listed = ok(await call(h, "GET", AISP + "/accounts", access), "/accounts")
    assert [a["AccountId"] for a in listed["Data"]["Account"]] == [chosen]
    ok(await call(h, "GET", f"{AISP}/accounts/{chosen}/balances", access), "/accounts/{AccountId}/balances")
    transactions = ok(
        await call(h, "GET", f"{AISP}/accounts/{chosen}/transactions", access),
        "/accounts/{AccountId}/transactions",
    )
    assert transactions["Data"]["Transaction"], "thirty days of history hold transactions"
    other = next(a for a in accounts if a != chosen)
    refused(
        await call(h, "GET", f"{AISP}/accounts/{other}/balances", access),
        403,
        "UK.OBIE.Resource.ConsentMismatch",
        "AccountId",
    )

    status = await call(h, "GET", f"{CONSENTS}/{consent_id}", await tpp_token(h, tpp))
    assert assert_consent_response(status, 200)["Data"]["Status"] == "Authorised"

    # The TPP deletes the consent: the access token stops working on the very next call.
    deleted = await call(h, "DELETE", f"{CONSENTS}/{consent_id}", await tpp_token(h, tpp))
    assert deleted.status_code == 204
    after = await call(h, "GET", AISP + "/accounts", access)
    assert after.status_code in (401, 403), after.text


async def test_the_refresh_token_lives_no_longer_than_the_consent(h: Harness) -> None:
    """Issue 4, item 6; the ID token says when the refresh token expires (UK OB claim)."""
    tpp = await h.tpp()
    person, _ = await alice(h)
    ends = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)
    consent_id = await create_consent(h, tpp, ExpirationDateTime=ends.isoformat())
    token, page = await authorise(h, tpp, person, consent_id)
    assert "Until " + ends.strftime("%Y-%m-%d %H:%M UTC") in page
    jwks = KeySet.import_key_set((await h.http.get("/oauth2/jwks")).json())
    id_token = jwt.decode(token["id_token"], jwks, algorithms=["PS256"]).claims
    assert id_token[REFRESH_EXPIRES_AT] == int(ends.timestamp())
    stored = await h.server.tokens.refresh(token["refresh_token"])
    assert stored is not None and stored.expires_at <= ends


async def test_a_customer_who_denies_rejects_the_consent(h: Harness) -> None:
    tpp = await h.tpp()
    person, _ = await alice(h)
    consent_id = await create_consent(h, tpp)
    callback, _ = await authorise(h, tpp, person, consent_id, decision="deny")
    assert callback["error"] == "access_denied"
    status = await call(h, "GET", f"{CONSENTS}/{consent_id}", await tpp_token(h, tpp))
    assert assert_consent_response(status, 200)["Data"]["Status"] == "Rejected"
    # A rejected consent cannot be pushed again.
    pushed = await h.par(tpp, claims=claims_for(consent_id))
    assert pushed.status_code == 400 and pushed.json()["error"] == "invalid_request"


async def test_an_authorised_consent_is_re_authenticated_with_the_accounts_ticked(h: Harness) -> None:
    """The profile, "Consent Re-authentication": an Authorised, unexpired consent may be authorised
    again; the page ticks the accounts chosen before, and the new choice replaces them."""
    tpp = await h.tpp()
    person, accounts = await alice(h)
    consent_id = await create_consent(h, tpp)
    await authorise(h, tpp, person, consent_id)
    # A code is used once: the second login uses the next time step's (within the accepted window).
    again, page = await authorise(h, tpp, person, consent_id, later=30)
    assert "already has this permission" in page
    assert re.search(rf'value="{re.escape(accounts[0])}" checked', page)
    listed = ok(await call(h, "GET", AISP + "/accounts", again["access_token"]), "/accounts")
    assert [a["AccountId"] for a in listed["Data"]["Account"]] == [accounts[0]]
