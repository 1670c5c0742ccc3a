"""The refresh_token (RFC 6749 §6, FAPI 2.0 §5.3.2.1) and client_credentials (RFC 6749 §4.4) grants."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from kaimen.settings import Settings
from tests.authz_flow_support import (
    Harness,
    Pkce,
    Tpp,
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


async def tokens_for(h: Harness, tpp: Tpp) -> dict[str, Any]:
    pkce = Pkce()
    response = await h.redeem(tpp, await h.code(tpp, pkce), pkce)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def refresh(h: Harness, tpp: Tpp, refresh_token: str, **kwargs: Any) -> Any:
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    if "scope" in kwargs:
        form["scope"] = kwargs.pop("scope")
    return await h.token(tpp, form, **kwargs)


async def test_a_refresh_issues_a_new_access_token_bound_to_the_new_proof_key(h: Harness) -> None:
    tpp = await h.tpp()
    first = await tokens_for(h, tpp)
    response = await refresh(h, tpp, first["refresh_token"], key=dpop_key("rotated"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}  # no rotation, no ID token
    assert body["token_type"] == "DPoP"
    access = await h.server.tokens.access(body["access_token"])
    assert access.jkt == thumbprint(dpop_key("rotated"))
    assert access.customer_id == "cust-1"
    assert h.events[-1][0] == "token.refreshed"


async def test_a_retry_with_the_same_refresh_token_still_works(h: Harness) -> None:
    """FAPI 2.0 §5.3.2.1: no rotation, so a lost response costs nothing."""
    tpp = await h.tpp()
    first = await tokens_for(h, tpp)
    for _ in range(2):
        assert (await refresh(h, tpp, first["refresh_token"])).status_code == 200


async def test_a_refresh_token_of_another_client_is_refused(h: Harness) -> None:
    victim, attacker = await h.tpp(), await h.tpp()
    stolen = (await tokens_for(h, victim))["refresh_token"]
    assert_oauth_error(await refresh(h, attacker, stolen), 400, "invalid_grant")


async def test_an_unknown_refresh_token_is_refused(h: Harness) -> None:
    tpp = await h.tpp()
    assert_oauth_error(await refresh(h, tpp, "A" * 43), 400, "invalid_grant")


async def test_a_refresh_without_a_dpop_header_is_invalid_request(h: Harness) -> None:
    """RFC 6749 §5.2 (a required parameter is missing); FAPI2SPFinalRefreshToken's step "without proof
    of possession" accepts invalid_request, invalid_grant or invalid_client, not invalid_dpop_proof."""
    tpp = await h.tpp()
    first = await tokens_for(h, tpp)
    response = await refresh(h, tpp, first["refresh_token"], dpop=None)
    assert assert_oauth_error(response, 400, "invalid_request")["error_description"] == (
        "a DPoP proof is required"
    )


async def test_a_refresh_with_a_bad_dpop_proof_is_invalid_dpop_proof(h: Harness) -> None:
    """RFC 9449 §5: a proof that is present but invalid is invalid_dpop_proof."""
    tpp = await h.tpp()
    first = await tokens_for(h, tpp)
    response = await refresh(h, tpp, first["refresh_token"], dpop=proof(dpop_key(), "/oauth2/par"))
    assert assert_oauth_error(response, 400, "invalid_dpop_proof")["error_description"] == (
        "htu does not match the request URL"
    )


async def test_a_refresh_may_narrow_the_scope_but_never_widen_it(h: Harness) -> None:
    tpp = await h.tpp()
    first = await tokens_for(h, tpp)
    narrowed = await refresh(h, tpp, first["refresh_token"], scope="accounts")
    assert narrowed.json()["scope"] == "accounts"
    wider = await refresh(h, tpp, first["refresh_token"], scope="openid accounts payments")
    assert_oauth_error(wider, 400, "invalid_scope")


async def test_a_refresh_token_missing_is_refused(h: Harness) -> None:
    tpp = await h.tpp()
    assert_oauth_error(await h.token(tpp, {"grant_type": "refresh_token"}), 400, "invalid_request")


async def test_client_credentials_issue_a_dpop_bound_token_without_refresh_or_id_token(h: Harness) -> None:
    tpp = await h.tpp()
    response = await h.token(tpp, {"grant_type": "client_credentials", "scope": "accounts"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}
    assert (body["token_type"], body["scope"]) == ("DPoP", "accounts")
    access = await h.server.tokens.access(body["access_token"])
    assert (access.jkt, access.customer_id, access.client_id) == (thumbprint(dpop_key()), None, tpp.client_id)
    assert h.events[-1][0] == "token.issued"


@pytest.mark.parametrize("scope", [None, "", "openid", "openid accounts", "email", "accounts email"])
async def test_client_credentials_refuse_a_bad_scope(h: Harness, scope: str | None) -> None:
    tpp = await h.tpp()
    form = {"grant_type": "client_credentials"} | ({"scope": scope} if scope is not None else {})
    assert_oauth_error(await h.token(tpp, form), 400, "invalid_scope")


async def test_client_credentials_stay_within_the_registered_scope(h: Harness) -> None:
    tpp = await h.tpp(scope="openid accounts")
    response = await h.token(tpp, {"grant_type": "client_credentials", "scope": "payments"})
    assert_oauth_error(response, 400, "invalid_scope")


async def test_client_credentials_need_a_dpop_proof(h: Harness) -> None:
    tpp = await h.tpp()
    response = await h.token(tpp, {"grant_type": "client_credentials", "scope": "accounts"}, dpop=None)
    assert_oauth_error(response, 400, "invalid_request")
