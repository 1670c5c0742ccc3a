"""DPoP proof checks (RFC 9449 §4.3), one test per rule, each asserting the exact refusal."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from joserfc.jwk import OKPKey

from kaimen.authz.dpop import DpopVerifier, access_token_hash, normalise_url, single_proof
from kaimen.authz.errors import InvalidDpopProof, UseDpopNonce
from kaimen.authz.once import DatabaseOnce, RedisOnce
from kaimen.settings import Settings
from kaimen.store.db import Database
from tests.dpop_support import BASE, ec_key, ed_key, hs256_proof, proof, raw_sign, rsa_key, unsigned_proof

URL = BASE + "/resource"
NONCE_KEY = b"n" * 32


@pytest.fixture
async def make_verifier(
    make_settings: Callable[..., Settings], database_url: str
) -> AsyncIterator[Callable[..., DpopVerifier]]:
    db = Database(database_url)

    def make(**oauth: Any) -> DpopVerifier:
        settings = make_settings(database_url=database_url, oauth=oauth)
        return DpopVerifier(DatabaseOnce(db), settings, nonce_key=NONCE_KEY)

    yield make
    await db.dispose()


@pytest.fixture
def verifier(make_verifier: Callable[..., DpopVerifier]) -> DpopVerifier:
    return make_verifier()


async def refused(verifier: DpopVerifier, value: str | None, description: str, **kwargs: Any) -> None:
    kwargs = {"method": "GET", "url": URL, **kwargs}
    with pytest.raises(InvalidDpopProof) as caught:
        await verifier.verify(value, **kwargs)
    assert caught.value.error == "invalid_dpop_proof"
    assert caught.value.status == 400
    assert caught.value.description == description


@pytest.mark.parametrize("key", [ec_key(), rsa_key(), ed_key()], ids=["ES256", "PS256", "EdDSA"])
async def test_a_valid_proof_returns_the_rfc7638_thumbprint(verifier: DpopVerifier, key: Any) -> None:
    alg = {"EC": "ES256", "RSA": "PS256", "OKP": "EdDSA"}[key.key_type]
    jkt = await verifier.verify(proof(key, alg=alg), method="GET", url=URL)
    assert jkt == key.thumbprint()


async def test_a_path_is_taken_relative_to_the_public_base_url(verifier: DpopVerifier) -> None:
    assert await verifier.verify(proof(), method="GET", url="/resource") == ec_key().thumbprint()


async def test_missing_proof(verifier: DpopVerifier) -> None:
    await refused(verifier, None, "a DPoP proof is required")
    await refused(verifier, "", "a DPoP proof is required")


def test_more_than_one_dpop_header() -> None:
    with pytest.raises(InvalidDpopProof) as caught:
        single_proof([proof(), proof()])
    assert caught.value.description == "more than one DPoP header"
    assert single_proof([]) is None


async def test_not_a_compact_jws(verifier: DpopVerifier) -> None:
    await refused(verifier, "not-a-jwt", "the DPoP proof is not a compact JWS")
    await refused(verifier, "a.b.c", "the DPoP proof is not a compact JWS")
    await refused(verifier, "x" * 9000, "the DPoP proof is not a compact JWS")


async def test_wrong_typ(verifier: DpopVerifier) -> None:
    await refused(verifier, proof(header={"typ": "JWT"}), "the typ header must be dpop+jwt")
    await refused(verifier, proof(header={"typ": "DPOP+JWT"}), "the typ header must be dpop+jwt")


async def test_alg_none(verifier: DpopVerifier) -> None:
    await refused(verifier, unsigned_proof(), "the alg header must be one of PS256 ES256 EdDSA")


async def test_hs256(verifier: DpopVerifier) -> None:
    await refused(verifier, hs256_proof(), "the alg header must be one of PS256 ES256 EdDSA")


async def test_rs256(verifier: DpopVerifier) -> None:
    value = proof(rsa_key(), alg="RS256")
    await refused(verifier, value, "the alg header must be one of PS256 ES256 EdDSA")


async def test_private_key_in_jwk(verifier: DpopVerifier) -> None:
    key = ec_key()
    value = proof(key, header={"jwk": key.as_dict(private=True)})
    await refused(verifier, value, "the jwk header must not contain a private key")


async def test_missing_jwk(verifier: DpopVerifier) -> None:
    await refused(verifier, proof(header={"jwk": None}), "the jwk header is missing")


async def test_rsa_key_shorter_than_2048_bits(verifier: DpopVerifier) -> None:
    key = rsa_key("short", 1024)
    await refused(verifier, proof(key, alg="PS256"), "RSA keys must be 2048 bits or longer")


async def test_eddsa_with_an_ed448_key(verifier: DpopVerifier) -> None:
    # FAPI 2.0 Security Profile §5.4.1: EdDSA is allowed only "using the Ed25519 variant".
    key = OKPKey.generate_key("Ed448", private=True)
    await refused(verifier, proof(key, alg="EdDSA"), "an OKP key must be on the Ed25519 curve")


async def test_an_okp_key_that_is_not_a_signing_curve(verifier: DpopVerifier) -> None:
    # An X25519 (key agreement) jwk in the header of a proof signed by another, Ed25519, key.
    x25519 = OKPKey.generate_key("X25519", private=True).as_dict(private=False)
    value = proof(ed_key(), alg="EdDSA", header={"jwk": x25519})
    await refused(verifier, value, "an OKP key must be on the Ed25519 curve")


async def test_signature_by_another_key_than_the_jwk(verifier: DpopVerifier) -> None:
    value = proof(ec_key("attacker"), header={"jwk": ec_key().as_dict(private=False)})
    await refused(verifier, value, "the DPoP proof signature is invalid")


async def test_alg_that_does_not_fit_the_key(verifier: DpopVerifier) -> None:
    header = {"typ": "dpop+jwt", "alg": "PS256", "jwk": ec_key().as_dict(private=False)}
    body = {"jti": "j", "htm": "GET", "htu": URL, "iat": int(time.time())}
    value = raw_sign(header, body, rsa_key(), "PS256")
    await refused(verifier, value, "the DPoP proof could not be verified")


async def test_critical_header_extension(verifier: DpopVerifier) -> None:
    value = proof(header={"crit": ["exp"], "exp": 1})
    await refused(verifier, value, "critical header extensions are not supported")


async def test_missing_jti(verifier: DpopVerifier) -> None:
    await refused(verifier, proof(drop=("jti",)), "jti is missing")


async def test_wrong_htm(verifier: DpopVerifier) -> None:
    await refused(verifier, proof(method="POST"), "htm does not match the request method")
    await refused(verifier, proof(method="get"), "htm does not match the request method")


async def test_wrong_htu(verifier: DpopVerifier) -> None:
    await refused(verifier, proof(url=BASE + "/other"), "htu does not match the request URL")
    await refused(
        verifier, proof(url="https://localhost:8000/resource"), "htu does not match the request URL"
    )
    await refused(verifier, proof(drop=("htu",)), "htu is missing")


async def test_htu_for_another_host_is_refused_whatever_the_request_says(verifier: DpopVerifier) -> None:
    # The compared URL comes from the public base URL: a proof made for evil.example never matches.
    value = proof(url="http://evil.example/resource")
    await refused(verifier, value, "htu does not match the request URL", url="/resource")


@pytest.mark.parametrize("htu", [URL + "?a=1", URL + "#x", URL + "?a=1#x", URL + "?"])
async def test_htu_is_compared_ignoring_its_query_and_fragment(verifier: DpopVerifier, htu: str) -> None:
    # RFC 9449 §4.3 item 9: "the htu claim matches the HTTP URI value for the HTTP request in which the
    # JWT was received, ignoring any query and fragment parts".
    assert await verifier.verify(proof(url=htu), method="GET", url=URL) == ec_key().thumbprint()


async def test_the_request_url_is_compared_ignoring_its_query(verifier: DpopVerifier) -> None:
    assert await verifier.verify(proof(), method="GET", url=URL + "?page=2") == ec_key().thumbprint()


async def test_htu_with_a_query_still_needs_the_right_path(verifier: DpopVerifier) -> None:
    await refused(verifier, proof(url=BASE + "/other?x=/resource"), "htu does not match the request URL")


async def test_htu_is_compared_after_normalisation(verifier: DpopVerifier) -> None:
    value = proof(url="HTTP://LocalHost:8000/%72esource")
    assert await verifier.verify(value, method="GET", url=URL) == ec_key().thumbprint()


def test_normalise_url_drops_the_default_port() -> None:
    assert normalise_url("HTTPS://Bank.Example:443") == "https://bank.example/"
    assert normalise_url("https://bank.example:8443/a%2fb") == "https://bank.example:8443/a%2Fb"
    assert normalise_url("https://user@bank.example/") != normalise_url("https://bank.example/")


async def test_stale_iat(verifier: DpopVerifier) -> None:
    value = proof(iat=int(time.time()) - 61)
    await refused(verifier, value, "iat is outside the acceptable window")


async def test_future_iat(verifier: DpopVerifier) -> None:
    value = proof(iat=int(time.time()) + 61)
    await refused(verifier, value, "iat is outside the acceptable window")


async def test_missing_iat(verifier: DpopVerifier) -> None:
    await refused(verifier, proof(drop=("iat",)), "iat is missing")
    await refused(verifier, proof(iat="now"), "iat is missing")


async def test_replayed_jti(verifier: DpopVerifier) -> None:
    value = proof()
    await verifier.verify(value, method="GET", url=URL)
    await refused(verifier, value, "the DPoP proof was already used")


async def test_same_jti_with_another_key_is_another_proof(verifier: DpopVerifier) -> None:
    await verifier.verify(proof(ec_key(), jti="same"), method="GET", url=URL)
    await verifier.verify(proof(ec_key("other"), jti="same"), method="GET", url=URL)


async def test_two_concurrent_uses_of_one_proof_one_wins(
    make_verifier: Callable[..., DpopVerifier],
) -> None:
    # Two workers (two verifiers on the same database) receive the same proof at the same time.
    first, second = make_verifier(), make_verifier()
    value = proof()
    results = await asyncio.gather(
        *(v.verify(value, method="GET", url=URL) for v in (first, second, first, second)),
        return_exceptions=True,
    )
    assert sum(isinstance(r, str) for r in results) == 1
    assert all(isinstance(r, InvalidDpopProof) for r in results if not isinstance(r, str))


async def test_two_concurrent_uses_one_wins_with_redis(
    make_settings: Callable[..., Settings], sqlite_url: str, redis_url: str
) -> None:
    settings = make_settings(database_url=sqlite_url)
    stores = [RedisOnce(redis_url), RedisOnce(redis_url)]
    verifiers = [DpopVerifier(store, settings) for store in stores]
    value = proof()
    try:
        results = await asyncio.gather(
            *(v.verify(value, method="GET", url=URL) for v in verifiers * 2), return_exceptions=True
        )
    finally:
        for store in stores:
            await store.close()
    assert sum(isinstance(r, str) for r in results) == 1
    assert all(isinstance(r, InvalidDpopProof) for r in results if not isinstance(r, str))


async def test_wrong_ath(verifier: DpopVerifier) -> None:
    value = proof(token="another-token")
    await refused(verifier, value, "ath does not match the access token", access_token="the-token")


async def test_missing_ath_with_an_access_token(verifier: DpopVerifier) -> None:
    await refused(verifier, proof(), "ath is required with an access token", access_token="the-token")


async def test_ath_matches(verifier: DpopVerifier) -> None:
    assert access_token_hash("abc") == "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"
    await verifier.verify(proof(token="the-token"), method="GET", url=URL, access_token="the-token")


async def test_key_other_than_the_bound_one(verifier: DpopVerifier) -> None:
    value = proof(ec_key("other"))
    await refused(verifier, value, "the DPoP key is not the bound key", expected_jkt=ec_key().thumbprint())


async def test_nonce_required_without_a_nonce(make_verifier: Callable[..., DpopVerifier]) -> None:
    verifier = make_verifier(dpop_nonce_required=True)
    with pytest.raises(UseDpopNonce) as caught:
        await verifier.verify(proof(), method="GET", url=URL)
    assert caught.value.error == "use_dpop_nonce"
    assert caught.value.status == 400
    assert caught.value.headers == verifier.nonce_header()
    assert len(caught.value.headers["DPoP-Nonce"]) >= 22


async def test_nonce_flow(make_verifier: Callable[..., DpopVerifier]) -> None:
    verifier = make_verifier(dpop_nonce_required=True)
    nonce = verifier.nonce_header()["DPoP-Nonce"]
    # Another worker (same sealing key, no shared state) accepts the nonce this one handed out.
    other = make_verifier(dpop_nonce_required=True)
    assert await other.verify(proof(nonce=nonce), method="GET", url=URL) == ec_key().thumbprint()


async def test_a_made_up_or_stale_nonce_is_refused(make_verifier: Callable[..., DpopVerifier]) -> None:
    verifier = make_verifier(dpop_nonce_required=True)
    stale = verifier.nonces._for(int(time.time()) // verifier.nonces.window - 2)  # type: ignore[union-attr]
    for nonce in ("made-up", stale, 12):
        with pytest.raises(UseDpopNonce):
            await verifier.verify(proof(nonce=nonce), method="GET", url=URL)


async def test_no_nonce_header_when_nonces_are_off(verifier: DpopVerifier) -> None:
    assert verifier.nonce_header() == {}
