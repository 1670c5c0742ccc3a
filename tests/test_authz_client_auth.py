"""private_key_jwt client authentication (issue 3, item 3), one test per rule, on SQLite and PostgreSQL:
each sends the bad assertion and asserts the exact refusal (invalid_client, 401, description)."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from kaimen.authz.client_auth import ClientAuthenticator
from kaimen.authz.clients import ClientRegistry
from kaimen.authz.errors import InvalidClient
from kaimen.authz.once import DatabaseOnce
from kaimen.settings import Settings
from kaimen.store.db import Database
from kaimen.tpp.registry import ReviewStatus
from tests.authz_clients_support import (
    ASSERTION_TYPE,
    Tpp,
    approved_client,
    claims_for,
    ec_key,
    form_for,
    hmac_with_public_key,
    rsa_key,
    sign,
    unsigned,
)
from tests.dpop_support import tpp

ISSUER = "http://localhost:8000"


@dataclass
class Env:
    auth: ClientAuthenticator
    tpp: Tpp
    db: Database
    settings: Settings

    @property
    def client_id(self) -> str:
        return self.tpp.client.client_id

    def claims(self, **overrides: Any) -> dict[str, Any]:
        return claims_for(self.client_id, ISSUER, **overrides)

    async def refused(self, form: dict[str, str], description: str, **kwargs: Any) -> InvalidClient:
        with pytest.raises(InvalidClient) as caught:
            await self.auth.authenticate(form, **kwargs)
        error = caught.value
        assert (error.status, error.error, error.description) == (401, "invalid_client", description)
        return error


@pytest.fixture
async def env(database_url: str, make_settings: Callable[..., Settings]) -> AsyncIterator[Env]:
    settings = make_settings(database_url=database_url)
    db = Database(database_url)
    clients = ClientRegistry(db, settings)
    tpp = await approved_client(db, settings, clients)
    yield Env(ClientAuthenticator(clients, DatabaseOnce(db), settings), tpp, db, settings)
    await db.dispose()


@pytest.mark.parametrize("alg", ["PS256", "ES256"])
async def test_a_valid_assertion_authenticates_the_client(env: Env, alg: str) -> None:
    client = await env.auth.authenticate(form_for(sign(env.claims(), alg=alg), client_id=env.client_id))
    assert client == env.tpp.client


async def test_the_key_is_chosen_without_kid_when_only_one_fits(env: Env) -> None:
    # One EC signing key is registered, so an ES256 assertion without kid is unambiguous.
    token = jwt.encode({"alg": "ES256"}, env.claims(), ec_key(), algorithms=["ES256"])
    assert (await env.auth.authenticate(form_for(token))).client_id == env.client_id


async def test_wrong_aud_is_refused(env: Env) -> None:
    form = form_for(sign(env.claims(aud="https://other-bank.example")))
    await env.refused(form, "client_assertion aud must be the issuer identifier")


async def test_array_aud_is_refused_even_with_the_issuer_in_it(env: Env) -> None:
    # FAPI 2.0 §5.3.2.1: the issuer identifier "as a string in the aud claim".
    form = form_for(sign(env.claims(aud=[ISSUER])))
    await env.refused(form, "client_assertion aud must be the issuer identifier as a single string")


async def test_token_endpoint_url_as_aud_is_refused(env: Env) -> None:
    form = form_for(sign(env.claims(aud=ISSUER + "/oauth2/token")))
    await env.refused(form, "client_assertion aud must be the issuer identifier")


async def test_exp_in_the_past_is_refused(env: Env) -> None:
    now = int(time.time())
    form = form_for(sign(env.claims(iat=now - 120, exp=now - 60)))
    await env.refused(form, "client_assertion has expired")


async def test_missing_exp_is_refused(env: Env) -> None:
    claims = env.claims()
    del claims["exp"]
    await env.refused(form_for(sign(claims)), "client_assertion exp is required")


async def test_exp_too_far_ahead_is_refused(env: Env) -> None:
    far = int(time.time()) + env.settings.oauth.client_assertion_max_lifetime_seconds + 30
    await env.refused(form_for(sign(env.claims(exp=far))), "client_assertion exp is too far in the future")


async def test_nbf_far_in_the_future_is_refused(env: Env) -> None:
    later = int(time.time()) + 120
    form = form_for(sign(env.claims(nbf=later, exp=later + 60)))
    await env.refused(form, "client_assertion nbf is in the future")


async def test_nbf_a_few_seconds_ahead_is_accepted(env: Env) -> None:
    # FAPI 2.0: "shall accept JWTs with an iat or nbf time up to 10 seconds in the future".
    soon = int(time.time()) + 5
    client = await env.auth.authenticate(form_for(sign(env.claims(nbf=soon, iat=soon))))
    assert client.client_id == env.client_id


async def test_iat_in_the_future_is_refused(env: Env) -> None:
    form = form_for(sign(env.claims(iat=int(time.time()) + 120)))
    await env.refused(form, "client_assertion iat is in the future")


async def test_missing_sub_is_refused(env: Env) -> None:
    await env.refused(
        form_for(sign(env.claims(sub=None))), "client_assertion sub is required and must be the client_id"
    )


async def test_sub_other_than_iss_is_refused(env: Env) -> None:
    form = form_for(sign(env.claims(iss="someone-else")))
    await env.refused(form, "client_assertion iss and sub must both be the client_id")


async def test_client_id_parameter_other_than_sub_is_refused(env: Env) -> None:
    form = form_for(sign(env.claims()), client_id="client_other")
    await env.refused(form, "client_id does not match the client_assertion sub")


async def test_missing_jti_is_refused(env: Env) -> None:
    await env.refused(form_for(sign(env.claims(jti=None))), "client_assertion jti is required")


ALG_REFUSED = "client_assertion must be signed with PS256 or ES256"


async def test_rs256_is_refused(env: Env) -> None:
    await env.refused(form_for(sign(env.claims(), alg="RS256")), ALG_REFUSED)


async def test_alg_none_is_refused(env: Env) -> None:
    await env.refused(form_for(unsigned(env.claims())), ALG_REFUSED)


async def test_hs256_keyed_with_the_public_key_is_refused(env: Env) -> None:
    await env.refused(form_for(hmac_with_public_key(env.claims(), rsa_key())), ALG_REFUSED)


@pytest.mark.parametrize(("registered", "sent"), [("ES256", "PS256"), ("PS256", "ES256")])
async def test_an_alg_other_than_the_registered_token_endpoint_auth_signing_alg_is_refused(
    env: Env, registered: str, sent: str
) -> None:
    # OIDC Dynamic Client Registration 1.0 §2 token_endpoint_auth_signing_alg: "All Token Requests using
    # these authentication methods from this Client MUST be rejected, if the JWT is not signed with this
    # algorithm." Both keys are registered, so only the registered alg tells the two apart.
    pinned = await approved_client(
        env.db, env.settings, env.tpp.clients, token_endpoint_auth_signing_alg=registered
    )
    claims = claims_for(pinned.client.client_id, ISSUER)
    await env.refused(
        form_for(sign(claims, alg=sent)),
        f"client_assertion must be signed with {registered}, the registered alg",
    )


async def test_the_registered_token_endpoint_auth_signing_alg_is_accepted(env: Env) -> None:
    pinned = await approved_client(
        env.db, env.settings, env.tpp.clients, token_endpoint_auth_signing_alg="ES256"
    )
    claims = claims_for(pinned.client.client_id, ISSUER)
    assert (await env.auth.authenticate(form_for(sign(claims, alg="ES256")))) == pinned.client


async def test_replayed_jti_is_refused(env: Env) -> None:
    form = form_for(sign(env.claims()))
    await env.auth.authenticate(form)
    await env.refused(form, "client_assertion jti has already been used")


async def test_same_jti_from_two_concurrent_calls_exactly_one_wins(env: Env) -> None:
    claims = env.claims()
    forms = [form_for(sign(claims)), form_for(sign(claims, alg="ES256"))]  # two assertions, one jti
    results = await asyncio.gather(*(env.auth.authenticate(f) for f in forms), return_exceptions=True)
    winners = [r for r in results if not isinstance(r, BaseException)]
    losers = [r for r in results if isinstance(r, InvalidClient)]
    assert len(winners) == 1 and len(losers) == 1
    assert losers[0].description == "client_assertion jti has already been used"


async def test_the_same_jti_is_fine_for_another_client(env: Env) -> None:
    other = await approved_client(env.db, env.settings, env.tpp.clients)
    jti = "shared-jti"
    await env.auth.authenticate(form_for(sign(env.claims(jti=jti))))
    other_claims = claims_for(other.client.client_id, ISSUER, jti=jti)
    assert (await env.auth.authenticate(form_for(sign(other_claims)))).client_id == other.client.client_id


async def test_unknown_client_is_refused(env: Env) -> None:
    claims = claims_for("client_" + "0" * 32, ISSUER)
    await env.refused(form_for(sign(claims)), "unknown client")


@pytest.mark.parametrize("status", [ReviewStatus.SUSPENDED, ReviewStatus.REVOKED])
async def test_client_of_a_suspended_or_revoked_application_is_refused(
    env: Env, status: ReviewStatus
) -> None:
    await env.tpp.registry.set_status(env.tpp.client.application_id, status)
    await env.refused(form_for(sign(env.claims())), "the client's application is not approved")


async def test_client_of_a_pending_application_is_refused(env: Env) -> None:
    pending = await approved_client(env.db, env.settings, env.tpp.clients, status=ReviewStatus.PENDING)
    claims = claims_for(pending.client.client_id, ISSUER)
    await env.refused(form_for(sign(claims)), "the client's application is not approved")


async def test_bad_signature_is_refused(env: Env) -> None:
    # Signed by another key that claims the registered key's kid.
    impostor = RSAKey.generate_key(2048, parameters={"kid": "rsa-1"}, private=True)
    await env.refused(form_for(sign(env.claims(), impostor)), "client_assertion signature is invalid")


async def test_key_not_in_the_clients_jwks_is_refused(env: Env) -> None:
    stranger = RSAKey.generate_key(2048, parameters={"kid": "not-registered"}, private=True)
    await env.refused(
        form_for(sign(env.claims(), stranger)), "no registered key of the client matches the client_assertion"
    )


SECRET_REFUSED = "client_secret is not accepted: use private_key_jwt"


async def test_client_secret_as_a_second_method_is_refused(env: Env) -> None:
    form = form_for(sign(env.claims()), client_secret="s3cret")
    await env.refused(form, SECRET_REFUSED)


BASIC_REFUSED = "HTTP Basic client authentication is not accepted: use private_key_jwt"
# RFC 6749 §5.2: "If the client attempted to authenticate via the "Authorization" request header field,
# the authorization server MUST respond with an HTTP 401 (Unauthorized) status code and include the
# "WWW-Authenticate" response header field matching the authentication scheme used by the client."
BASIC_CHALLENGE = {"WWW-Authenticate": f'Basic realm="{ISSUER}"'}


@pytest.mark.parametrize(
    "authorization", ["Basic Y2xpZW50OnNlY3JldA==", "basic Y2xpZW50OnNlY3JldA==", "BASIC"]
)
async def test_http_basic_as_a_second_method_is_refused_with_a_basic_challenge(
    env: Env, authorization: str
) -> None:
    form = form_for(sign(env.claims()))
    error = await env.refused(form, BASIC_REFUSED, headers={"authorization": authorization})
    assert error.headers == BASIC_CHALLENGE


async def test_http_basic_with_a_client_secret_is_still_answered_with_a_basic_challenge(env: Env) -> None:
    form = {"client_id": env.client_id, "client_secret": "s3cret"}
    error = await env.refused(form, BASIC_REFUSED, headers={"authorization": "Basic Y2xpZW50OnNlY3JldA=="})
    assert error.headers == BASIC_CHALLENGE


async def test_a_refusal_without_an_authorization_header_carries_no_challenge(env: Env) -> None:
    error = await env.refused(form_for(sign(env.claims()), client_secret="s3cret"), SECRET_REFUSED)
    assert error.headers == {}


@pytest.mark.parametrize("path", ["/oauth2/token", "/oauth2/par", "/oauth2/introspect", "/oauth2/revoke"])
async def test_every_client_authenticating_endpoint_answers_basic_with_401_and_a_basic_challenge(
    server: tuple[Any, httpx.AsyncClient], path: str
) -> None:
    app, http = server
    who = await tpp(app, "alice")
    form = {"client_id": who.client.client_id, "grant_type": "client_credentials", "token": "t"}
    basic = "Basic " + base64.b64encode(f"{who.client.client_id}:secret".encode()).decode()
    response = await http.post(path, data=form, headers={"authorization": basic})
    assert response.status_code == 401
    assert response.json() == {"error": "invalid_client", "error_description": BASIC_REFUSED}
    assert response.headers["www-authenticate"] == BASIC_CHALLENGE["WWW-Authenticate"]


async def test_no_client_authentication_is_refused(env: Env) -> None:
    await env.refused(
        {"grant_type": "client_credentials"}, "client authentication is required: use private_key_jwt"
    )


async def test_wrong_assertion_type_is_refused(env: Env) -> None:
    form = {"client_assertion_type": "urn:example:other", "client_assertion": sign(env.claims())}
    await env.refused(form, f"client_assertion_type must be {ASSERTION_TYPE}")


@pytest.mark.parametrize("assertion", ["not-a-jwt", "a.b.c", "eyJhbGciOiJQUzI1NiJ9.bm90IGpzb24.c2ln"])
async def test_malformed_assertion_is_refused(env: Env, assertion: str) -> None:
    await env.refused(form_for(assertion), "client_assertion is not a well-formed JWS")


async def test_same_jti_from_two_concurrent_calls_exactly_one_wins_with_redis(
    env: Env, redis_url: str
) -> None:
    # Production keeps the assertion jti in Redis (SET NX): still exactly one winner across workers.
    from kaimen.authz.once import RedisOnce

    once = RedisOnce(redis_url)
    try:
        auths = [ClientAuthenticator(env.tpp.clients, once, env.settings) for _ in range(2)]  # two "workers"
        claims = env.claims()
        results = await asyncio.gather(
            *(auth.authenticate(form_for(sign(claims))) for auth in auths), return_exceptions=True
        )
        assert sorted(type(r).__name__ for r in results) == ["Client", "InvalidClient"]
    finally:
        await once.close()
