"""Hostile JOSE input straight into the parsers that are functions (issue 6 item 4): JWS read and key
choice (client assertions, software statements), DPoP proofs, software statements, JWKS documents
(inline, or fetched from a jwks_uri) and client metadata. Whatever the input, each parser answers or
raises its module's documented protocol error, never anything else: ValueError from clients_jws,
InvalidDpopProof/UseDpopNonce from dpop, invalid_software_statement / unapproved_software_statement from
register_statement, invalid_client_metadata from clients_metadata, JwksUnavailable from clients_jwks.
Budget and case count: tests.fuzz_support.
"""

from __future__ import annotations

import asyncio
import time
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from joserfc import jws
from joserfc.jwk import KeySet, RSAKey

from kaimen.authz.clients_jwks import JwksFetcher, JwksUnavailable
from kaimen.authz.clients_jws import select_signing_key, unverified
from kaimen.authz.clients_metadata import checked_jwks, validate_metadata
from kaimen.authz.directory import DirectoryKey
from kaimen.authz.dpop import DpopVerifier, normalise_url
from kaimen.authz.errors import InvalidDpopProof, OAuthError, UseDpopNonce
from kaimen.authz.once import MemoryOnce
from kaimen.authz.register_statement import verify_statement
from kaimen.settings import Settings, load_settings
from tests.dpop_support import ec_key, raw_sign, rsa_key
from tests.fuzz_support import (
    FUZZ,
    HOSTILE_VALUES,
    JSON_VALUES,
    Raw,
    b64,
    broken_jwk,
    compact,
    count,
    dumps,
    hostile_object,
    jose_header,
    jwt_garbage,
)

pytest_plugins = ["tests.fuzz_plugin"]

BASE = "http://localhost:8000"
RESOURCE = BASE + "/resource"


@cache
def _settings(nonces: bool = False) -> Settings:
    return load_settings(
        data_dir=Path("/nonexistent-fuzz"),
        database_url="sqlite+aiosqlite:///:memory:",
        oauth={"dpop_nonce_required": nonces},
    )


@cache
def _directory() -> DirectoryKey:
    private = RSAKey.generate_key(2048, parameters={"kid": "dir-1", "alg": "PS256", "use": "sig"})
    return DirectoryKey(
        "https://directory.example", KeySet([RSAKey.import_key(private.as_dict(private=False))]), private
    )


def _run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


# -- JWS: the unverified read and the key choice (client assertions, software statements) ---------


@FUZZ
@given(jwt_garbage())
@example("e30.W10.")  # claims are a JSON array
@example("e30.MQ.")  # claims are a number
def test_unverified_reads_a_jws_or_raises_value_error(compact_jws: str) -> None:
    count("clients_jws.unverified")
    try:
        parsed = unverified(compact_jws)
    except ValueError:
        return
    assert isinstance(parsed.header, dict) and isinstance(parsed.claims, dict)


@FUZZ
@given(
    st.sampled_from(["PS256", "ES256"]),
    HOSTILE_VALUES,
    st.lists(broken_jwk({"kty": "RSA", "kid": "a"}), max_size=3),
)
def test_select_signing_key_picks_one_key_or_none(alg: str, kid: Any, members: list[Any]) -> None:
    count("clients_jws.select_signing_key")
    key_set = KeySet([rsa_key(), ec_key()])
    header = {"alg": alg, "kid": kid, **{f"x{i}": m for i, m in enumerate(members)}}
    chosen = select_signing_key(key_set, header)
    assert chosen is None or chosen in list(key_set)


# -- DPoP proofs (RFC 9449 §4.3) -------------------------------------------------------------------


def _verify(proof: str, *, token: str | None = None, nonces: bool = False) -> None:
    """The proof checked for GET RESOURCE: it passes, or InvalidDpopProof / UseDpopNonce."""

    async def check() -> None:
        verifier = DpopVerifier(MemoryOnce(), _settings(nonces), nonce_key=b"k" * 32)
        try:
            await verifier.verify(proof, method="GET", url=RESOURCE, access_token=token)
        except (InvalidDpopProof, UseDpopNonce):
            return

    _run(check())


DPOP_HEADERS = jose_header(
    {"typ": st.sampled_from(["dpop+jwt", "JWT"]), "jwk": broken_jwk(ec_key().as_dict(private=False))}
)


@FUZZ
@given(jwt_garbage(header=DPOP_HEADERS))
@example("e30.e30.e30")
@example(compact({"typ": "dpop+jwt", "alg": "ES256", "jwk": []}, {}))  # an array where the key belongs
@example(compact({"typ": "dpop+jwt", "alg": "ES256", "jwk": {"kty": ["EC"]}}, {}))  # kty not a string
@example(compact({"typ": "dpop+jwt", "alg": ["ES256"], "jwk": {}}, {}))  # alg not a string
@example(compact({"typ": "dpop+jwt", "alg": "EdDSA", "jwk": {"kty": "OKP", "crv": "Ed1", "x": "AA"}}, {}))
def test_dpop_garbage_is_invalid_dpop_proof(proof: str) -> None:
    count("dpop.verify garbage")
    _verify(proof)


@FUZZ
@given(DPOP_HEADERS, st.sampled_from(["ec", "rsa"]))
def test_dpop_signed_with_a_broken_jwk_is_invalid_dpop_proof(header: dict[str, Any], signer: str) -> None:
    """A proof really signed (ES256/PS256) whose header carries a broken or mismatched jwk."""
    count("dpop.verify broken jwk")
    key = ec_key() if signer == "ec" else rsa_key()
    alg = "ES256" if signer == "ec" else "PS256"
    body = {"jti": "j", "htm": "GET", "htu": RESOURCE, "iat": int(time.time())}
    try:
        proof = raw_sign({**header, "alg": alg}, body, key, alg)
    except (TypeError, ValueError):  # json cannot write it: not an input anyone can send
        return
    _verify(proof)


DPOP_CLAIMS = hostile_object(
    {
        "jti": st.text(min_size=1, max_size=300),
        "htm": st.sampled_from(["GET", "get", "POST"]),
        "htu": st.sampled_from([RESOURCE, RESOURCE + "?q", BASE + ":99999/resource", "http://[::1/x", "%%%"]),
        "iat": st.integers(-(2**63), 2**64 - 1) | st.just(int(time.time())),
        "ath": st.text(max_size=50),
        "nonce": st.text(max_size=80),
    }
)


def _signed_proof(claims: dict[str, Any], header: dict[str, Any] | None = None) -> str:
    """A well-signed ES256 proof whose claims are written verbatim (gigantic numbers included)."""
    key = ec_key()
    protected = {"typ": "dpop+jwt", "alg": "ES256", "jwk": key.as_dict(private=False), **(header or {})}
    head = compact(protected, claims).rsplit(".", 1)[0]
    signature = jws.JWSRegistry.algorithms["ES256"].sign(head.encode(), key)
    return head + "." + b64(signature)


@FUZZ
@given(DPOP_CLAIMS, st.none() | st.text(max_size=40), st.booleans())
@example({"jti": "j", "htm": "GET", "htu": RESOURCE, "iat": Raw("1e400")}, None, False)
@example({"jti": "j", "htm": "GET", "htu": RESOURCE, "iat": int(time.time()), "ath": "é"}, "tok", False)
@example({"jti": "j", "htm": "GET", "htu": RESOURCE, "iat": int(time.time()), "nonce": ["n"]}, None, True)
def test_dpop_signed_with_hostile_claims_is_invalid_dpop_proof(
    claims: dict[str, Any], token: str | None, nonces: bool
) -> None:
    count("dpop.verify hostile claims")
    try:
        proof = _signed_proof(claims)
    except UnicodeEncodeError:
        return
    if token is not None and not token.isascii():
        token = "t"  # access tokens reach the verifier only after the token68 check
    _verify(proof, token=token, nonces=nonces)


@FUZZ
@given(st.text(max_size=200))
@example("http://[::1")
@example("http://h:99999999999999999999/")
def test_normalise_url_answers_or_raises_value_error(url: str) -> None:
    count("dpop.normalise_url")
    try:
        assert isinstance(normalise_url(url), str)
    except ValueError:
        pass


# -- software statements (RFC 7591 §2.3) and JWKS documents ---------------------------------------


@FUZZ
@given(jwt_garbage() | HOSTILE_VALUES)
def test_garbage_software_statement_is_invalid_software_statement(raw: Any) -> None:
    count("register_statement garbage")
    try:
        verify_statement(raw, _directory())
    except OAuthError as error:
        assert error.error in ("invalid_software_statement", "unapproved_software_statement")


STATEMENT_CLAIMS = hostile_object(
    {
        "iss": "https://directory.example",
        "iat": st.integers(0, int(time.time())),
        "exp": st.integers(0, 2**40),
        "nbf": st.integers(-(2**40), 2**40),
        "software_id": st.text(max_size=30),
        "org_name": st.text(max_size=30),
        "org_id": JSON_VALUES,
        "tier": st.sampled_from(["PUBLIC", "private", "partner", "ACQUAINTANCE", "nope"]),
        "jwks": st.builds(
            lambda keys: {"keys": keys}, st.lists(broken_jwk(rsa_key().as_dict(private=False)), max_size=3)
        ),
        "redirect_uris": JSON_VALUES,
    }
)


@FUZZ
@given(STATEMENT_CLAIMS)
def test_signed_statement_with_hostile_claims_verifies_or_is_refused(claims: dict[str, Any]) -> None:
    count("register_statement signed")
    try:
        raw = _directory().sign_software_statement(claims)
    except (TypeError, ValueError, OverflowError):
        return
    try:
        statement = verify_statement(raw, _directory())
    except OAuthError as error:
        assert error.error in ("invalid_software_statement", "unapproved_software_statement")
        return
    statement.merged_with({})


@FUZZ
@given(
    st.one_of(
        st.builds(
            lambda keys: {"keys": keys}, st.lists(broken_jwk(rsa_key().as_dict(private=False)), max_size=3)
        ),
        st.builds(
            lambda keys: {"keys": keys}, st.lists(broken_jwk(ec_key().as_dict(private=False)), max_size=3)
        ),
        hostile_object({"keys": []}),
        JSON_VALUES,
    )
)
@example({"keys": [{"kty": ["RSA"]}]})  # kty not a string
@example({"keys": [{"kty": "RSA", "alg": ["PS256"]}]})  # alg not a string
@example({"keys": [{"kty": "EC", "crv": "P-384"}]})
def test_checked_jwks_is_a_key_set_or_invalid_client_metadata(jwks: Any) -> None:
    count("clients_metadata.checked_jwks")
    try:
        checked_jwks(jwks)
    except OAuthError as error:
        assert error.error == "invalid_client_metadata"


@FUZZ
@given(
    hostile_object(
        {
            "redirect_uris": ["https://tpp.example/cb"],
            "grant_types": ["authorization_code"],
            "jwks": {"keys": [rsa_key().as_dict(private=False)]},
            "token_endpoint_auth_method": "private_key_jwt",
            "id_token_encrypted_response_alg": "RSA-OAEP-256",
            "id_token_encrypted_response_enc": "A256GCM",
            "client_uri": "https://tpp.example",
            "contacts": ["a@tpp.example"],
            "jwks_uri": "https://tpp.example/jwks",
        }
    )
)
def test_validate_metadata_answers_or_raises_an_oauth_error(metadata: dict[str, Any]) -> None:
    count("clients_metadata.validate_metadata")
    try:
        validate_metadata(metadata, _settings())
    except OAuthError as error:
        assert error.error in ("invalid_client_metadata", "invalid_redirect_uri")


@FUZZ
@given(
    status=st.sampled_from([200, 200, 200, 301, 404, 500]),
    body=st.one_of(
        st.lists(broken_jwk(rsa_key().as_dict(private=False)), max_size=3).map(
            lambda keys: dumps({"keys": keys})
        ),
        HOSTILE_VALUES.map(dumps),
        st.text(max_size=50),
    ).map(lambda text: text.encode("utf-8", "surrogatepass"))
    | st.binary(max_size=100)
    | st.just(b"[" * 70_000),
)
def test_a_fetched_jwks_is_a_key_set_or_jwks_unavailable(status: int, body: bytes) -> None:
    """A client's jwks_uri answering anything (clients_jwks): a key set, or JwksUnavailable."""
    count("clients_jwks.JwksFetcher")
    transport = httpx.MockTransport(lambda request: httpx.Response(status, content=body))

    async def fetch() -> None:
        async with httpx.AsyncClient(transport=transport) as http:
            try:
                await JwksFetcher(_settings(), http).get("https://tpp.example/jwks")
            except JwksUnavailable:
                return

    _run(fetch())


# -- regressions: the minimal cases these properties found ----------------------------------------


# A jwk member that broke the key checks: a key type that is not a string (TypeError, unhashable) and
# a curve joserfc does not know (KeyError), each a 500 at the token endpoint and every protected API.
BROKEN_PROOF_KEYS = [
    {"kty": ["EC"]},
    {"kty": {"EC": 1}},
    {**ec_key().as_dict(private=False), "crv": "P-1"},
    {**ec_key().as_dict(private=False), "crv": "secp999r1"},
    {"kty": "OKP", "crv": "Ed1", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
]


@pytest.mark.parametrize("jwk", BROKEN_PROOF_KEYS)
def test_a_dpop_jwk_with_a_bad_kty_or_curve_is_invalid_dpop_proof(jwk: dict[str, Any]) -> None:
    """Found by test_dpop_garbage_is_invalid_dpop_proof and test_dpop_signed_with_a_broken_jwk_...
    (``make fuzz``): the proof is refused as a proof, before any signature check."""
    proof = compact({"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk}, {})

    async def check() -> None:
        verifier = DpopVerifier(MemoryOnce(), _settings(), nonce_key=b"k" * 32)
        with pytest.raises(InvalidDpopProof, match=r"asymmetric public key|not a valid key|Ed25519 curve"):
            await verifier.verify(proof, method="GET", url=RESOURCE)

    _run(check())


@pytest.mark.parametrize(
    "key", [{"kty": ["RSA"]}, {"kty": {"RSA": 1}}, {"kty": "RSA", "alg": ["PS256"]}, {"kty": "EC", "alg": {}}]
)
def test_a_jwks_key_whose_kty_or_alg_is_not_a_string_is_invalid_client_metadata(key: dict[str, Any]) -> None:
    """Found by test_checked_jwks_is_a_key_set_or_invalid_client_metadata: a list or object as ``kty``
    or ``alg`` raised TypeError, a 500 at /oauth2/register (inline jwks, or a software statement's)."""
    with pytest.raises(OAuthError) as refused:
        checked_jwks({"keys": [key]})
    assert refused.value.error == "invalid_client_metadata"
