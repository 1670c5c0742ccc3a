"""The pushed authorization request endpoint (RFC 9126 §2): one test per rule, each asserting the exact
refusal (status, error code, description charset, no-store)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import select

from kaimen.authz.pushed import request_id_of
from kaimen.settings import Settings
from kaimen.store.authz_models import AuthorizationRequest
from tests.authz_flow_support import (
    PAR,
    Harness,
    Pkce,
    assert_oauth_error,
    dpop_key,
    harness,
    proof,
    thumbprint,
)

_FORM = "application/x-www-form-urlencoded"


@pytest.fixture
async def h(make_settings: Callable[..., Settings], database_url: str) -> AsyncIterator[Harness]:
    async with harness(make_settings(database_url=database_url)) as flow:
        yield flow


async def stored(h: Harness, request_uri: str) -> AuthorizationRequest:
    async with h.server.db.read() as session:
        query = select(AuthorizationRequest).where(AuthorizationRequest.id == request_id_of(request_uri))
        row: AuthorizationRequest = (await session.execute(query)).scalar_one()
    return row


async def test_a_valid_pushed_request_gets_201_with_a_random_request_uri_and_expires_in(h: Harness) -> None:
    tpp = await h.tpp()
    response = await h.par(tpp)
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"request_uri", "expires_in"}
    assert body["expires_in"] == h.settings.oauth.par_ttl_seconds
    # RFC 9126 §2.2 URN form; the random part carries 256 bits (43 base64url characters).
    assert re.fullmatch(r"urn:ietf:params:oauth:request_uri:[A-Za-z0-9_-]{43}", body["request_uri"])
    assert response.headers["cache-control"] == "no-store"
    row = await stored(h, body["request_uri"])
    assert row.client_id == tpp.client_id
    assert row.params["intent_id"] == h.intent_id
    assert body["request_uri"].rsplit(":", 1)[1] not in row.id  # only the digest is stored


async def test_request_uris_are_unique(h: Harness) -> None:
    tpp = await h.tpp()
    uris = {(await h.par(tpp)).json()["request_uri"] for _ in range(5)}
    assert len(uris) == 5


@pytest.mark.parametrize(
    ("params", "error", "rule"),
    [
        ({"code_challenge": None}, "invalid_request", "PKCE missing"),
        ({"code_challenge_method": None}, "invalid_request", "PKCE method missing (plain by default)"),
        ({"code_challenge_method": "plain"}, "invalid_request", "PKCE plain"),
        ({"code_challenge": "too-short"}, "invalid_request", "PKCE challenge not 43 base64url chars"),
        ({"code_challenge": "+" * 43}, "invalid_request", "PKCE challenge outside base64url"),
        ({"response_type": None}, "invalid_request", "response_type missing"),
        ({"response_type": "token"}, "unsupported_response_type", "implicit"),
        ({"response_type": "code id_token"}, "unsupported_response_type", "hybrid"),
        ({"response_type": "id_token"}, "unsupported_response_type", "id_token only"),
        ({"response_mode": "fragment"}, "invalid_request", "response_mode other than query"),
        ({"redirect_uri": None}, "invalid_request", "redirect_uri missing"),
        ({"redirect_uri": "https://attacker.example/cb"}, "invalid_request", "unregistered redirect_uri"),
        ({"redirect_uri": "https://tpp.example/cb/"}, "invalid_request", "redirect_uri not an exact match"),
        ({"redirect_uri": "https://TPP.example/cb"}, "invalid_request", "redirect_uri case differs"),
        ({"redirect_uri": "https://tpp.example/other"}, "invalid_request", "registered query dropped"),
        ({"scope": None}, "invalid_scope", "scope missing"),
        ({"scope": "accounts"}, "invalid_scope", "openid missing"),
        ({"scope": "openid"}, "invalid_scope", "no consent scope"),
        ({"scope": "openid accounts payments"}, "invalid_scope", "two consent scopes"),
        ({"scope": "openid accounts email"}, "invalid_scope", "unknown scope"),
        ({"request_uri": "urn:ietf:params:oauth:request_uri:x"}, "invalid_request", "request_uri in PAR"),
        ({"request": "eyJhbGciOiJQUzI1NiJ9.e30.sig"}, "request_not_supported", "request object"),
        ({"claims": "{not json"}, "invalid_request", "claims not JSON"),
        ({"claims": "[1]"}, "invalid_request", "claims not an object"),
        ({"claims": '{"id_token": {"acr": 5}}'}, "invalid_request", "claim request not an object"),
        (
            {"claims": '{"id_token": {"openbanking_intent_id": {"essential": true}}}'},
            "invalid_request",
            "no value",
        ),
        (
            {
                "claims": '{"id_token": {"openbanking_intent_id": {"value": "a"}},'
                ' "userinfo": {"openbanking_intent_id": {"value": "b"}}}'
            },
            "invalid_request",
            "intent ids disagree",
        ),
        ({"state": "s" * 4097}, "invalid_request", "state over the documented cap"),
        ({"nonce": "n" * 4097}, "invalid_request", "nonce over the documented cap"),
        ({"state": "caf\u00e9"}, "invalid_request", "state outside VSCHAR"),
        ({"dpop_jkt": "not-a-thumbprint"}, "invalid_request", "malformed dpop_jkt"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
async def test_a_bad_pushed_request_is_refused(
    h: Harness, params: dict[str, Any], error: str, rule: str
) -> None:
    tpp = await h.tpp()
    response = await h.par(tpp, **params)
    assert_oauth_error(response, 400, error)


async def test_a_parameter_sent_twice_is_refused(h: Harness) -> None:
    tpp = await h.tpp()
    form = [*{**tpp.assertion(), **h.par_form(tpp, Pkce())}.items(), ("scope", "openid payments")]
    response = await h.http.post(PAR, content=urlencode(form), headers={"content-type": _FORM})
    assert_oauth_error(response, 400, "invalid_request")


async def test_a_scope_beyond_the_registered_scope_is_refused(h: Harness) -> None:
    tpp = await h.tpp(scope="openid accounts")
    assert_oauth_error(await h.par(tpp, scope="openid payments"), 400, "invalid_scope")
    assert (await h.par(tpp, scope="openid accounts")).status_code == 201


async def test_a_client_without_the_code_grant_cannot_push(h: Harness) -> None:
    tpp = await h.tpp(grant_types=["client_credentials"], redirect_uris=[])
    assert_oauth_error(await h.par(tpp), 400, "unauthorized_client")


@pytest.mark.parametrize(
    "params",
    [
        {"scope": 'openid "quoted" \\back\\slash'},
        {"scope": "openid caf\u00e9 \u6388\u6b0a"},
        {"scope": "openid " + "x" * 1000},
        {"code_challenge_method": "\u00e9\n\t"},
        {"claims": '{"id_token": "\u6388"}'},
    ],
)
async def test_every_error_description_stays_in_the_rfc6749_character_set(
    h: Harness, params: dict[str, str]
) -> None:
    """RFC 6749 §5.2: "MUST NOT include characters outside the set %x20-21 / %x23-5B / %x5D-7E", even
    when the request was full of them (assert_oauth_error checks the set on every refusal)."""
    tpp = await h.tpp()
    response = await h.par(tpp, **params)
    assert response.status_code == 400
    description = assert_oauth_error(response, 400, response.json()["error"])["error_description"]
    assert description.isascii()


async def test_an_unauthenticated_pushed_request_is_refused(h: Harness) -> None:
    tpp = await h.tpp()
    response = await h.http.post(PAR, data=h.par_form(tpp, Pkce()))
    assert_oauth_error(response, 401, "invalid_client")


async def test_a_client_id_other_than_the_authenticated_client_is_refused(h: Harness) -> None:
    tpp, other = await h.tpp(), await h.tpp()
    response = await h.par(tpp, client_id=other.client_id)
    # RFC 9126 §2.1 / RFC 7523 §3: the client authentication step refuses it first (F's authenticator).
    assert_oauth_error(response, 401, "invalid_client")


async def test_a_client_of_an_application_under_review_cannot_push(h: Harness) -> None:
    from kaimen.tpp.registry import ReviewStatus

    tpp = await h.tpp(status=ReviewStatus.PENDING)
    assert_oauth_error(await h.par(tpp), 401, "invalid_client")


async def test_long_state_and_nonce_are_kept_unchanged(h: Harness) -> None:
    tpp = await h.tpp()
    state, nonce = "S" * 3000 + " ~!$'()*+,;=:@/?", "N" * 4096
    request_uri = (await h.par(tpp, state=state, nonce=nonce)).json()["request_uri"]
    row = await stored(h, request_uri)
    assert (row.params["state"], row.params["nonce"]) == (state, nonce)


async def test_a_dpop_proof_at_par_binds_the_code_to_its_key(h: Harness) -> None:
    tpp = await h.tpp()
    response = await h.par(tpp, headers={"DPoP": proof(dpop_key(), PAR)})
    assert response.status_code == 201
    assert (await stored(h, response.json()["request_uri"])).dpop_jkt == thumbprint(dpop_key())


async def test_dpop_jkt_at_par_binds_the_code_to_that_key(h: Harness) -> None:
    tpp = await h.tpp()
    response = await h.par(tpp, dpop_jkt=thumbprint(dpop_key("other")))
    assert response.status_code == 201
    assert (await stored(h, response.json()["request_uri"])).dpop_jkt == thumbprint(dpop_key("other"))


async def test_dpop_jkt_and_a_proof_of_another_key_are_refused(h: Harness) -> None:
    """RFC 9449 §10.1: both present and different -> reject."""
    tpp = await h.tpp()
    response = await h.par(
        tpp, dpop_jkt=thumbprint(dpop_key("other")), headers={"DPoP": proof(dpop_key(), PAR)}
    )
    assert_oauth_error(response, 400, "invalid_dpop_proof")


async def test_dpop_jkt_and_a_proof_of_the_same_key_are_accepted(h: Harness) -> None:
    tpp = await h.tpp()
    response = await h.par(tpp, dpop_jkt=thumbprint(dpop_key()), headers={"DPoP": proof(dpop_key(), PAR)})
    assert response.status_code == 201


async def test_a_dpop_proof_for_another_endpoint_is_refused_at_par(h: Harness) -> None:
    tpp = await h.tpp()
    response = await h.par(tpp, headers={"DPoP": proof(dpop_key(), "/oauth2/token")})
    assert_oauth_error(response, 400, "invalid_dpop_proof")


async def test_no_binding_without_dpop_at_par(h: Harness) -> None:
    tpp = await h.tpp()
    response = await h.par(tpp)
    assert (await stored(h, response.json()["request_uri"])).dpop_jkt is None
