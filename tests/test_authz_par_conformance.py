"""PAR without the openbanking_intent_id claim (settings.oauth.conformance_mint_account_consent): off by
default, the UK OB rule stands; on, an ``accounts`` request gets a consent minted for its client and
the flow goes on as if the client had named it (consent page, ID token, Account API)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import select

from kaimen.apis.accounts.intents import MINTED_PERMISSIONS
from kaimen.apis.accounts.models import AccountAccessConsent
from kaimen.settings import Settings
from kaimen.store.types import utcnow
from tests.authz_flow_support import (
    Harness,
    Pkce,
    assert_oauth_error,
    harness,
    query_of,
)


@pytest.fixture
async def h(make_settings: Callable[..., Settings], database_url: str) -> AsyncIterator[Harness]:
    settings = make_settings(database_url=database_url, oauth={"conformance_mint_account_consent": True})
    async with harness(settings) as flow:
        yield flow


@pytest.fixture
async def plain(make_settings: Callable[..., Settings], database_url: str) -> AsyncIterator[Harness]:
    async with harness(make_settings(database_url=database_url)) as flow:
        yield flow


async def id_token_claims(h: Harness, token: str) -> dict[str, Any]:
    jwks = KeySet.import_key_set((await h.http.get("/oauth2/jwks")).json())
    return dict(jwt.decode(token, jwks, algorithms=["PS256"]).claims)


async def consents_of(h: Harness, client_id: str) -> list[AccountAccessConsent]:
    async with h.server.db.read() as session:
        query = select(AccountAccessConsent).where(AccountAccessConsent.client_id == client_id)
        return list((await session.execute(query)).scalars())


async def test_off_by_default_a_request_without_the_claim_is_refused(plain: Harness) -> None:
    assert plain.settings.oauth.conformance_mint_account_consent is False
    tpp = await plain.tpp()
    body = assert_oauth_error(await plain.par(tpp, claims=None), 400, "invalid_request")
    description = "the openbanking_intent_id claim naming the accounts consent is required"
    assert body["error_description"] == description


async def test_on_an_accounts_request_without_the_claim_gets_a_minted_consent(h: Harness) -> None:
    tpp, pkce = await h.tpp(), Pkce()
    response = await h.par(tpp, pkce, claims=None)
    assert response.status_code == 201, response.text
    [row] = await consents_of(h, tpp.client_id)
    consent = await h.app.components.consents.get(row.id, tpp.client_id)
    assert consent is not None and consent.status.value == "AwaitingAuthorisation"
    assert consent.permissions == MINTED_PERMISSIONS
    assert consent.expiration is not None
    assert utcnow() + timedelta(hours=23) < consent.expiration.at <= utcnow() + timedelta(days=1)
    # The customer approves it, and the ID token names it as if the client had asked for it.
    code = query_of(await h.finish(response.json()["request_uri"]))["code"]
    tokens = await h.redeem(tpp, code, pkce)
    assert tokens.status_code == 200, tokens.text
    claims = await id_token_claims(h, tokens.json()["id_token"])
    assert claims["openbanking_intent_id"] == consent.consent_id
    authorised = await h.app.components.consents.get(consent.consent_id, tpp.client_id)
    assert authorised is not None and authorised.status.value == "Authorised"
    access = await h.server.tokens.access(tokens.json()["access_token"])
    assert access.consent_id == consent.consent_id


async def test_on_a_request_naming_a_consent_still_uses_that_one(h: Harness) -> None:
    tpp = await h.tpp()
    assert (await h.par(tpp)).status_code == 201  # the harness names a consent it created
    assert [row.id for row in await consents_of(h, tpp.client_id)] == [h.intent_id]


@pytest.mark.parametrize("scope", ["openid payments", "openid fundsconfirmations"])
async def test_on_payment_and_funds_requests_must_still_name_their_consent(h: Harness, scope: str) -> None:
    tpp = await h.tpp()
    body = assert_oauth_error(await h.par(tpp, scope=scope, claims=None), 400, "invalid_request")
    kind = scope.split()[1]
    description = f"the openbanking_intent_id claim naming the {kind} consent is required"
    assert body["error_description"] == description


async def test_on_openid_alone_is_still_invalid_scope(h: Harness) -> None:
    tpp = await h.tpp()
    body = assert_oauth_error(await h.par(tpp, scope="openid", claims=None), 400, "invalid_scope")
    description = "scope must name exactly one of accounts, payments, fundsconfirmations"
    assert body["error_description"] == description
