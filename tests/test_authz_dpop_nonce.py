"""Server-provided DPoP nonces at the token endpoint and PAR (RFC 9449 §8): a request refused with
use_dpop_nonce uses up neither the client assertion's jti nor the proof's, so the client's retry with the
nonce may resend the same form (as the FAPI 2.0 conformance suite does); each jti is still accepted
once."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from sqlalchemy import select

from kaimen.authz.pushed import request_id_of
from kaimen.settings import Settings
from kaimen.store.authz_models import AuthorizationRequest
from tests.authz_flow_support import (
    PAR,
    TOKEN,
    Harness,
    Pkce,
    assert_oauth_error,
    claims_for,
    dpop_key,
    harness,
    proof,
    thumbprint,
)


@pytest.fixture
async def h(make_settings: Callable[..., Settings], database_url: str) -> AsyncIterator[Harness]:
    settings = make_settings(database_url=database_url, oauth={"dpop_nonce_required": True})
    async with harness(settings) as flow:
        yield flow


def nonce_of(response: httpx.Response) -> str:
    """The refusal RFC 9449 §8 asks for: 400 use_dpop_nonce with the nonce in DPoP-Nonce."""
    body = assert_oauth_error(response, 400, "use_dpop_nonce")
    assert body["error_description"] == "a fresh DPoP nonce is required"
    nonce: str = response.headers["dpop-nonce"]
    return nonce


async def test_a_token_retry_with_the_nonce_resends_the_same_client_assertion(h: Harness) -> None:
    tpp, pkce = await h.tpp(), Pkce()
    form = {
        **tpp.assertion(),
        "grant_type": "authorization_code",
        "code": await h.code(tpp, pkce),
        "redirect_uri": tpp.redirect_uri,
        "code_verifier": pkce.verifier,
    }
    first = await h.http.post(TOKEN, data=form, headers={"DPoP": proof(dpop_key(), TOKEN)})
    nonce = nonce_of(first)
    retry = await h.http.post(TOKEN, data=form, headers={"DPoP": proof(dpop_key(), TOKEN, nonce=nonce)})
    assert retry.status_code == 200, retry.text
    assert retry.json()["token_type"] == "DPoP"
    # The assertion is still one-time: accepted by the retry, refused after it.
    again = await h.http.post(TOKEN, data=form, headers={"DPoP": proof(dpop_key(), TOKEN, nonce=nonce)})
    body = assert_oauth_error(again, 401, "invalid_client")
    assert body["error_description"] == "client_assertion jti has already been used"


async def test_a_proof_refused_for_its_nonce_is_not_used_up(h: Harness) -> None:
    """The jti of a proof refused with use_dpop_nonce is not recorded; once a proof with it is
    accepted, it is."""
    tpp = await h.tpp()
    form = {"grant_type": "client_credentials", "scope": "accounts"}
    nonce = nonce_of(await h.token(tpp, form, dpop=proof(dpop_key(), TOKEN, jti="jti-1")))
    accepted = proof(dpop_key(), TOKEN, jti="jti-1", nonce=nonce)
    assert (await h.token(tpp, form, dpop=accepted)).status_code == 200
    body = assert_oauth_error(await h.token(tpp, form, dpop=accepted), 400, "invalid_dpop_proof")
    assert body["error_description"] == "the DPoP proof was already used"


async def test_a_par_retry_with_the_nonce_resends_the_same_client_assertion(h: Harness) -> None:
    tpp = await h.tpp()
    form = {**tpp.assertion(), **h.par_form(tpp, Pkce(), claims=claims_for(await h.consent(tpp)))}
    key = dpop_key("par")
    nonce = nonce_of(await h.http.post(PAR, data=form, headers={"DPoP": proof(key, PAR)}))
    retry = await h.http.post(PAR, data=form, headers={"DPoP": proof(key, PAR, nonce=nonce)})
    assert retry.status_code == 201, retry.text
    request_id = request_id_of(retry.json()["request_uri"])
    async with h.server.db.read() as session:
        query = select(AuthorizationRequest.dpop_jkt).where(AuthorizationRequest.id == request_id)
        assert (await session.execute(query)).scalar_one() == thumbprint(key)
    again = await h.http.post(PAR, data=form, headers={"DPoP": proof(key, PAR, nonce=nonce)})
    body = assert_oauth_error(again, 401, "invalid_client")
    assert body["error_description"] == "client_assertion jti has already been used"
