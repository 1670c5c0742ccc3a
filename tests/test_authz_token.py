"""The token endpoint's authorization_code grant (RFC 6749 §4.1.3, RFC 7636 §4.6, RFC 9449 §5/§10, FAPI
2.0 §5.3.2.1): one test per rule, each asserting the exact refusal."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import pytest
from sqlalchemy import update

from kaimen.authz.codes import digest_of
from kaimen.settings import Settings
from kaimen.store.authz_models import AuthorizationCode
from kaimen.store.types import utcnow
from tests.authz_flow_support import (
    PAR,
    TOKEN,
    Harness,
    Pkce,
    assert_oauth_error,
    dpop_key,
    harness,
    proof,
    thumbprint,
)


@pytest.fixture
async def h(make_settings: Callable[..., Settings], database_url: str) -> AsyncIterator[Harness]:
    async with harness(make_settings(database_url=database_url)) as flow:
        yield flow


async def test_a_code_is_exchanged_for_dpop_bound_tokens_and_an_id_token(h: Harness) -> None:
    tpp, pkce = await h.tpp(), Pkce()
    response = await h.redeem(tpp, await h.code(tpp, pkce), pkce)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope", "refresh_token", "id_token"}
    assert body["token_type"] == "DPoP"
    assert body["scope"] == "openid accounts"
    assert body["expires_in"] == h.settings.oauth.access_token_ttl_seconds
    assert response.headers["cache-control"] == "no-store"
    access = await h.server.tokens.access(body["access_token"])
    assert access.jkt == thumbprint(dpop_key())
    assert (access.client_id, access.customer_id) == (tpp.client_id, "cust-1")
    assert [name for name, _ in h.events] == ["authorization.approved", "token.issued"]
    issued = h.events[-1][1]
    assert (issued.grant_type, issued.client_id, issued.refresh_token) == (
        "authorization_code",
        tpp.client_id,
        True,
    )
    assert body["access_token"] not in repr(issued)  # events never carry a token


async def test_a_client_not_registered_for_refresh_tokens_gets_none(h: Harness) -> None:
    tpp, pkce = await h.tpp(grant_types=["authorization_code"]), Pkce()
    body = (await h.redeem(tpp, await h.code(tpp, pkce), pkce)).json()
    assert "refresh_token" not in body


async def test_pkce_verifier_missing_is_invalid_grant_and_leaves_the_code(h: Harness) -> None:
    """RFC 7636 §4.6: a code with a challenge redeemed without a verifier fails verification ->
    invalid_grant (FAPI2SPFinalPAREnsurePKCECodeVerifierRequired); like a wrong verifier, it does not
    consume the code."""
    tpp, pkce = await h.tpp(), Pkce()
    code = await h.code(tpp, pkce)
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": tpp.redirect_uri}
    body = assert_oauth_error(await h.token(tpp, form), 400, "invalid_grant")
    description = "code_verifier is required: the authorization code has a code_challenge"
    assert body["error_description"] == description
    assert (await h.redeem(tpp, code, pkce)).status_code == 200


async def test_a_wrong_pkce_verifier_is_refused(h: Harness) -> None:
    tpp, pkce = await h.tpp(), Pkce()
    code = await h.code(tpp, pkce)
    assert_oauth_error(await h.redeem(tpp, code, Pkce()), 400, "invalid_grant")
    assert (await h.redeem(tpp, code, pkce)).status_code == 200  # not consumed by the failed check


async def test_the_challenge_itself_as_verifier_is_refused(h: Harness) -> None:
    """What a server that fell back to "plain" would accept."""
    tpp, pkce = await h.tpp(), Pkce()
    code = await h.code(tpp, pkce)
    assert_oauth_error(await h.redeem(tpp, code, Pkce(verifier=pkce.challenge)), 400, "invalid_grant")


async def test_a_malformed_pkce_verifier_is_refused(h: Harness) -> None:
    tpp, pkce = await h.tpp(), Pkce()
    code = await h.code(tpp, pkce)
    assert_oauth_error(await h.redeem(tpp, code, Pkce(verifier="short")), 400, "invalid_grant")


async def test_a_verifier_for_a_code_without_a_challenge_is_refused(h: Harness) -> None:
    """PAR refuses a request without code_challenge, so no such code exists; were one stored without a
    challenge, a verifier still could not redeem it."""
    tpp, pkce = await h.tpp(), Pkce()
    code = await h.code(tpp, pkce)
    async with h.server.db.write() as session:
        await session.execute(
            update(AuthorizationCode)
            .where(AuthorizationCode.digest == digest_of(code))
            .values(code_challenge="")
        )
    assert_oauth_error(await h.redeem(tpp, code, pkce), 400, "invalid_grant")


async def test_a_reused_code_is_refused_and_what_it_issued_is_revoked(h: Harness) -> None:
    tpp, pkce = await h.tpp(), Pkce()
    code = await h.code(tpp, pkce)
    first = (await h.redeem(tpp, code, pkce)).json()
    assert await h.server.tokens.access(first["access_token"]) is not None
    assert_oauth_error(await h.redeem(tpp, code, pkce), 400, "invalid_grant")
    # Revoked in the database (tokens.find reads it; every worker's cache follows the generation bump).
    assert await h.server.tokens.find(first["access_token"]) is None
    assert await h.server.tokens.refresh(first["refresh_token"]) is None


async def test_concurrent_redemptions_leave_no_live_tokens_behind(h: Harness) -> None:
    tpp, pkce = await h.tpp(), Pkce()
    code = await h.code(tpp, pkce)
    responses = await asyncio.gather(*(h.redeem(tpp, code, pkce) for _ in range(4)))
    winners = [r.json() for r in responses if r.status_code == 200]
    assert len(winners) <= 1
    for response in responses:
        if response.status_code != 200:
            assert_oauth_error(response, 400, "invalid_grant")
    for body in winners:  # a code used more than once: whatever it issued is revoked
        assert await h.server.tokens.find(body["access_token"]) is None


async def test_a_code_of_client_a_redeemed_by_client_b_is_refused(h: Harness) -> None:
    victim, attacker, pkce = await h.tpp(), await h.tpp(), Pkce()
    code = await h.code(victim, pkce)
    response = await h.redeem(attacker, code, pkce)
    assert_oauth_error(response, 400, "invalid_grant")
    # The attempt does not burn the victim's code (it is bound to the victim, who can still redeem it).
    assert (await h.redeem(victim, code, pkce)).status_code == 200


async def test_an_expired_code_is_refused(h: Harness) -> None:
    tpp, pkce = await h.tpp(), Pkce()
    code = await h.code(tpp, pkce)
    async with h.server.db.write() as session:
        await session.execute(
            update(AuthorizationCode)
            .where(AuthorizationCode.digest == digest_of(code))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert_oauth_error(await h.redeem(tpp, code, pkce), 400, "invalid_grant")


async def test_an_unknown_code_is_refused(h: Harness) -> None:
    tpp = await h.tpp()
    assert_oauth_error(await h.redeem(tpp, "A" * 43, Pkce()), 400, "invalid_grant")


@pytest.mark.parametrize(
    "redirect_uri", ["https://tpp.example/other?x=1", "https://attacker.example/cb", None]
)
async def test_a_redirect_uri_other_than_the_requested_one_is_refused(
    h: Harness, redirect_uri: str | None
) -> None:
    tpp, pkce = await h.tpp(), Pkce()
    form = {
        "grant_type": "authorization_code",
        "code": await h.code(tpp, pkce),
        "code_verifier": pkce.verifier,
    }
    if redirect_uri is not None:
        form["redirect_uri"] = redirect_uri
    assert_oauth_error(await h.token(tpp, form), 400, "invalid_grant")


async def test_a_dpop_proof_is_always_required(h: Harness) -> None:
    """No DPoP header: a missing required parameter, invalid_request (RFC 6749 §5.2)."""
    tpp, pkce = await h.tpp(), Pkce()
    code = await h.code(tpp, pkce)
    body = assert_oauth_error(await h.redeem(tpp, code, pkce, dpop=None), 400, "invalid_request")
    assert body["error_description"] == "a DPoP proof is required"


async def test_an_empty_dpop_header_is_an_invalid_proof(h: Harness) -> None:
    """A DPoP header that is present is judged as a proof (RFC 9449 §5: invalid_dpop_proof)."""
    tpp, pkce = await h.tpp(), Pkce()
    code = await h.code(tpp, pkce)
    assert_oauth_error(await h.redeem(tpp, code, pkce, dpop=""), 400, "invalid_dpop_proof")


async def test_a_dpop_proof_for_another_url_is_refused(h: Harness) -> None:
    tpp, pkce = await h.tpp(), Pkce()
    code = await h.code(tpp, pkce)
    assert_oauth_error(
        await h.redeem(tpp, code, pkce, dpop=proof(dpop_key(), PAR)), 400, "invalid_dpop_proof"
    )


async def test_two_dpop_headers_are_refused(h: Harness) -> None:
    tpp, pkce = await h.tpp(), Pkce()
    form = {
        **tpp.assertion(),
        "grant_type": "authorization_code",
        "code": await h.code(tpp, pkce),
        "redirect_uri": tpp.redirect_uri,
        "code_verifier": pkce.verifier,
    }
    headers = [("DPoP", proof(dpop_key(), TOKEN)), ("DPoP", proof(dpop_key(), TOKEN))]
    response = await h.http.post(TOKEN, data=form, headers=headers)
    assert_oauth_error(response, 400, "invalid_dpop_proof")


async def test_a_code_bound_at_par_needs_the_same_key(h: Harness) -> None:
    """RFC 9449 §10: the proof at the token endpoint must use the key the code is bound to."""
    tpp, pkce = await h.tpp(), Pkce()
    code = await h.code(tpp, pkce, dpop_jkt=thumbprint(dpop_key("bound")))
    response = await h.redeem(tpp, code, pkce, key=dpop_key("other"))
    assert_oauth_error(response, 400, "invalid_grant")
    ok = await h.redeem(tpp, code, pkce, key=dpop_key("bound"))
    assert ok.status_code == 200
    assert (await h.server.tokens.access(ok.json()["access_token"])).jkt == thumbprint(dpop_key("bound"))


async def test_a_code_bound_by_a_proof_at_par_needs_the_same_key(h: Harness) -> None:
    tpp, pkce = await h.tpp(), Pkce()
    response = await h.par(tpp, pkce, headers={"DPoP": proof(dpop_key("bound"), PAR)})
    from tests.authz_flow_support import query_of

    code = query_of(await h.finish(response.json()["request_uri"]))["code"]
    assert_oauth_error(await h.redeem(tpp, code, pkce, key=dpop_key("other")), 400, "invalid_grant")


@pytest.mark.parametrize(
    "grant_type", ["password", "implicit", "urn:ietf:params:oauth:grant-type:device_code", "token-exchange"]
)
async def test_an_unsupported_grant_type_is_refused(h: Harness, grant_type: str) -> None:
    tpp = await h.tpp()
    assert_oauth_error(await h.token(tpp, {"grant_type": grant_type}), 400, "unsupported_grant_type")


async def test_a_missing_grant_type_is_refused(h: Harness) -> None:
    tpp = await h.tpp()
    assert_oauth_error(await h.token(tpp, {}), 400, "invalid_request")


async def test_a_grant_type_the_client_did_not_register_is_refused(h: Harness) -> None:
    tpp = await h.tpp(grant_types=["authorization_code"])
    response = await h.token(tpp, {"grant_type": "client_credentials", "scope": "accounts"})
    assert_oauth_error(response, 400, "unauthorized_client")


async def test_an_unauthenticated_token_request_is_refused(h: Harness) -> None:
    tpp, pkce = await h.tpp(), Pkce()
    form = {
        "grant_type": "authorization_code",
        "client_id": tpp.client_id,
        "code": await h.code(tpp, pkce),
        "redirect_uri": tpp.redirect_uri,
        "code_verifier": pkce.verifier,
    }
    response = await h.http.post(TOKEN, data=form, headers={"DPoP": proof(dpop_key(), TOKEN)})
    assert_oauth_error(response, 401, "invalid_client")
