"""ID tokens (OIDC Core §2, §3.1.3.6, §8.1, §10.2): verified here with the published JWKS and joserfc."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
import pytest
from joserfc import jwe, jwt
from joserfc.jwk import KeySet

from kaimen.settings import Settings
from tests.authz_flow_support import ISSUER, Harness, Pkce, Tpp, harness

REFRESH_EXPIRES_AT = "http://openbanking.org.uk/refresh_token_expires_at"


@pytest.fixture
async def h(make_settings: Callable[..., Settings], database_url: str) -> AsyncIterator[Harness]:
    async with harness(make_settings(database_url=database_url)) as flow:
        yield flow


async def id_token_of(h: Harness, tpp: Tpp, *, customer_id: str = "cust-1", **params: str | None) -> str:
    pkce = Pkce()
    request_uri = await h.pushed(tpp, pkce, **params)
    from tests.authz_flow_support import query_of

    code = query_of(await h.finish(request_uri, customer_id=customer_id))["code"]
    response = await h.redeem(tpp, code, pkce)
    assert response.status_code == 200, response.text
    token: str = response.json()["id_token"]
    return token


async def verified(h: Harness, token: str, alg: str = "PS256") -> tuple[dict[str, Any], dict[str, Any]]:
    jwks = KeySet.import_key_set((await h.http.get("/oauth2/jwks")).json())
    decoded = jwt.decode(token, jwks, algorithms=[alg])
    assert decoded.header["alg"] == alg
    return dict(decoded.header), dict(decoded.claims)


async def test_the_id_token_is_signed_ps256_and_carries_the_required_claims(h: Harness) -> None:
    tpp = await h.tpp()
    before = int(time.time())
    _, claims = await verified(h, await id_token_of(h, tpp, nonce="nonce-123"))
    assert claims["iss"] == ISSUER
    assert claims["aud"] == tpp.client_id
    assert before <= claims["iat"] <= int(time.time())
    assert claims["exp"] > claims["iat"]
    assert claims["nonce"] == "nonce-123"
    assert claims["acr"] == "urn:openbanking:psd2:sca"
    assert claims["amr"] == ["pwd", "otp"]
    assert abs(claims["auth_time"] - before) < 5
    assert claims["openbanking_intent_id"] == h.intent_id
    assert claims[REFRESH_EXPIRES_AT] > claims["iat"]


async def test_es256_when_the_client_registered_it(h: Harness) -> None:
    tpp = await h.tpp(id_token_signed_response_alg="ES256")
    header, _ = await verified(h, await id_token_of(h, tpp), alg="ES256")
    assert header["alg"] == "ES256"


async def test_no_nonce_claim_when_no_nonce_was_sent(h: Harness) -> None:
    tpp = await h.tpp()
    _, claims = await verified(h, await id_token_of(h, tpp, nonce=None))
    assert "nonce" not in claims


async def test_a_long_nonce_is_returned_unchanged(h: Harness) -> None:
    tpp = await h.tpp()
    nonce = "N" * 4000 + " !#$%&'()*+,-./:;<=>?@[]^_`{|}~"
    _, claims = await verified(h, await id_token_of(h, tpp, nonce=nonce))
    assert claims["nonce"] == nonce


async def test_no_refresh_expiry_claim_without_a_refresh_token(h: Harness) -> None:
    tpp = await h.tpp()
    tpp = await h.tpp(grant_types=["authorization_code"])
    _, claims = await verified(h, await id_token_of(h, tpp))
    assert REFRESH_EXPIRES_AT not in claims


async def test_the_intent_id_only_when_asked_for_in_the_id_token(h: Harness) -> None:
    tpp = await h.tpp()
    intent_id = await h.consent(tpp)
    userinfo_only = orjson.dumps({"userinfo": {"openbanking_intent_id": {"value": intent_id}}}).decode()
    _, claims = await verified(h, await id_token_of(h, tpp, claims=userinfo_only))
    assert "openbanking_intent_id" not in claims


async def test_sub_is_pairwise_stable_per_tpp_and_not_the_customer_id(h: Harness) -> None:
    tpp, other = await h.tpp(), await h.tpp()
    first = (await verified(h, await id_token_of(h, tpp)))[1]["sub"]
    again = (await verified(h, await id_token_of(h, tpp)))[1]["sub"]
    elsewhere = (await verified(h, await id_token_of(h, other)))[1]["sub"]
    someone_else = (await verified(h, await id_token_of(h, tpp, customer_id="cust-2")))[1]["sub"]
    assert first == again
    assert len({first, elsewhere, someone_else}) == 3
    assert "cust-1" not in first


async def test_the_id_token_is_encrypted_when_the_client_registered_it(h: Harness) -> None:
    tpp = await h.tpp(
        id_token_encrypted_response_alg="RSA-OAEP-256", id_token_encrypted_response_enc="A256GCM"
    )
    token = await id_token_of(h, tpp)
    assert token.count(".") == 4  # JWE compact serialisation
    registry = jwe.JWERegistry(algorithms=["RSA-OAEP-256", "A256GCM"])
    assert tpp.enc_key is not None
    decrypted = jwe.decrypt_compact(token, tpp.enc_key, registry=registry)
    assert decrypted.protected["alg"] == "RSA-OAEP-256"
    assert decrypted.protected["enc"] == "A256GCM"
    assert decrypted.protected["cty"] == "JWT"
    assert decrypted.plaintext is not None
    _, claims = await verified(h, decrypted.plaintext.decode())
    assert claims["aud"] == tpp.client_id
