"""Hostile input at the authorization server's endpoints, through the whole app in-process (issue 6
item 4): form bodies, client assertions, PAR parameters, DPoP proofs, software statements and JWKS
bad tokens at introspect/revoke/userinfo, hostile queries at the authorization endpoint (registration:
tests/test_fuzz_register.py). Every answer is the endpoint's success or an
RFC 6749 §5.2 error object with a 4xx status: never a 5xx.

Each property builds one app (fresh SQLite database, one registered TPP) and sends all its examples
to it. Budget and case count: tests.fuzz_support.
"""

from __future__ import annotations

import time
import uuid
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from joserfc import jws

from tests.authz_flow_support import (
    ISSUER,
    PAR,
    TOKEN,
    Harness,
    Pkce,
    Tpp,
    claims_for,
    dpop_key,
    proof,
)
from tests.fuzz_app_support import fuzz_settings, h, tpp
from tests.fuzz_support import (
    BIG_NUMBER_CLAIMS,
    CONTENT_TYPES,
    FUZZ,
    HEADER_VALUES,
    HOSTILE_VALUES,
    JSON_VALUES,
    OUTCOMES,
    accepted,
    assert_oauth_refusal,
    b64,
    broken_jwk,
    compact,
    count,
    dumps,
    form_bytes,
    hostile_object,
    jose_header,
    jwt_garbage,
)

__all__ = ["fuzz_settings", "h", "tpp"]  # fixtures
pytest_plugins = ["tests.fuzz_plugin"]

FORM = "application/x-www-form-urlencoded"
AUTHORIZE = "/oauth2/authorize"
INTROSPECT = "/oauth2/introspect"
REVOKE = "/oauth2/revoke"
USERINFO = "/oauth2/userinfo"


@pytest.fixture
async def intent(h: Harness, tpp: Tpp) -> str:
    """The claims parameter of a consent of ``tpp`` awaiting authorisation, so a PAR request can pass."""
    return claims_for(await h.consent(tpp))


def answered(response: httpx.Response, *ok: int) -> None:
    """The endpoint's success (one of ``ok``) or its RFC 6749 refusal; never a 5xx."""
    if response.status_code in ok:
        accepted(response)
        return
    assert_oauth_refusal(response)


def _encoded(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


# -- the token endpoint: form bodies ---------------------------------------------------------------


@FUZZ
@given(data=st.data(), content_type=CONTENT_TYPES)
@example(data=None, content_type=FORM)  # a form without any parameter
async def test_token_endpoint_form_bodies(h: Harness, tpp: Tpp, data: Any, content_type: str) -> None:
    count("token: form bodies")
    good = {**tpp.assertion(), "grant_type": "client_credentials", "scope": "accounts"}
    body = b"" if data is None else data.draw(form_bytes(good))
    headers = {"content-type": content_type, "dpop": proof(dpop_key(), TOKEN)}
    response = await h.http.post(TOKEN, content=body, headers=headers)
    answered(response, 200)


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else dumps(value)


TOKEN_PARAMETERS = hostile_object(
    {
        "grant_type": st.sampled_from(
            ["authorization_code", "refresh_token", "client_credentials", "password"]
        ),
        "code": st.text(max_size=60),
        "redirect_uri": st.sampled_from(["https://tpp.example/cb", "https://tpp.example/cb?x", ""]),
        "code_verifier": st.text(max_size=130),
        "refresh_token": st.text(max_size=60),
        "scope": st.sampled_from(
            ["accounts", "openid accounts", "payments", "openid", "", "accounts accounts"]
        ),
        "resource": st.text(max_size=30),
        "authorization_details": HOSTILE_VALUES.map(dumps),
    }
).map(lambda params: {name: _as_text(value) for name, value in params.items()})


@FUZZ
@given(TOKEN_PARAMETERS)
async def test_token_endpoint_parameters(h: Harness, tpp: Tpp, params: dict[str, str]) -> None:
    """An authenticated client with a DPoP proof and every other parameter hostile."""
    count("token: parameters")
    response = await h.token(tpp, params)
    answered(response, 200)


@FUZZ
@given(TOKEN_PARAMETERS, st.booleans())
async def test_token_endpoint_with_a_real_code(
    h: Harness, tpp: Tpp, params: dict[str, str], same_key: bool
) -> None:
    """A real authorization code (PAR, then the customer approves) redeemed with hostile parameters."""
    count("token: real code, hostile parameters")
    pkce = Pkce()
    code = await h.code(tpp, pkce)
    params = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": tpp.redirect_uri,
        "code_verifier": pkce.verifier,
        **{k: v for k, v in params.items() if k != "grant_type"},
    }
    response = await h.token(tpp, params, key=None if same_key else dpop_key("other"))
    answered(response, 200)


# -- client assertions (RFC 7523) ------------------------------------------------------------------

ASSERTION_HEADERS = jose_header({"kid": st.sampled_from(["sig-1", "sig-2", "x" * 3000]) | JSON_VALUES})


def _assertion_claims(client_id: str) -> Any:
    now = int(time.time())
    return hostile_object(
        {
            "iss": client_id,
            "sub": st.sampled_from([client_id, "", "other"]) | JSON_VALUES,
            "aud": st.sampled_from([ISSUER, ISSUER + TOKEN, [ISSUER]]),
            "iat": now,
            "exp": st.sampled_from([now + 60, now - 1, now + 10**6]) | BIG_NUMBER_CLAIMS,
            "nbf": st.sampled_from([now, now + 3600]) | BIG_NUMBER_CLAIMS,
            "jti": st.text(min_size=1, max_size=300) | st.builds(lambda: uuid.uuid4().hex),
        }
    )


def _sign(header: dict[str, Any], claims: Any, tpp: Tpp) -> str:
    """A real PS256 signature by the TPP's key over any header and claims (written verbatim)."""
    head = compact(header, claims).rsplit(".", 1)[0]
    signature = jws.JWSRegistry.algorithms["PS256"].sign(head.encode(), tpp.key)
    return head + "." + b64(signature)


@FUZZ
@given(data=st.data(), kind=st.sampled_from(["garbage", "bad header", "bad claims"]))
async def test_client_assertions(h: Harness, tpp: Tpp, data: Any, kind: str) -> None:
    count("token: client assertions")
    if kind == "garbage":
        assertion = data.draw(jwt_garbage(header=ASSERTION_HEADERS))
    elif kind == "bad header":  # good claims under a hostile header, really signed by the TPP's key
        now = int(time.time())
        claims = {
            "iss": tpp.client_id,
            "sub": tpp.client_id,
            "aud": ISSUER,
            "iat": now,
            "exp": now + 60,
            "jti": uuid.uuid4().hex,
        }
        assertion = _sign(data.draw(ASSERTION_HEADERS), claims, tpp)
    else:
        claims = data.draw(_assertion_claims(tpp.client_id))
        assertion = _sign({"alg": "PS256", "kid": tpp.key.kid}, claims, tpp)
    form = {
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion,
        "grant_type": "client_credentials",
        "scope": "accounts",
    }
    try:
        body = _encoded(urlencode(form))
    except UnicodeEncodeError:
        return
    headers = {"content-type": FORM, "dpop": proof(dpop_key(), TOKEN)}
    answered(await h.http.post(TOKEN, content=body, headers=headers), 200)


# -- DPoP proofs at the token endpoint (RFC 9449 §4.3) ---------------------------------------------

DPOP_HEADERS = jose_header(
    {"typ": st.sampled_from(["dpop+jwt", "JWT"]), "jwk": broken_jwk(dpop_key().as_dict(private=False))}
)


def _dpop_claims() -> Any:
    return hostile_object(
        {
            "jti": st.text(min_size=1, max_size=300),
            "htm": st.sampled_from(["POST", "post", "GET"]),
            "htu": st.sampled_from(
                [ISSUER + TOKEN, ISSUER + TOKEN + "?x", "http://LOCALHOST:8000/oauth2/token", "x"]
            ),
            "iat": st.sampled_from([int(time.time())]) | BIG_NUMBER_CLAIMS | st.integers(-(2**63), 2**63),
        }
    )


def _signed_proof(header: dict[str, Any], claims: Any) -> str:
    """An ES256 proof really signed by the DPoP key, header and claims written verbatim."""
    head = compact(header, claims).rsplit(".", 1)[0]
    signature = jws.JWSRegistry.algorithms["ES256"].sign(head.encode(), dpop_key())
    return head + "." + b64(signature)


@FUZZ
@given(data=st.data(), kind=st.sampled_from(["garbage", "broken jwk", "bad claims", "raw header"]))
async def test_dpop_header_at_the_token_endpoint(h: Harness, tpp: Tpp, data: Any, kind: str) -> None:
    count("token: DPoP header")
    good_header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": dpop_key().as_dict(private=False)}
    good_claims = {"jti": uuid.uuid4().hex, "htm": "POST", "htu": ISSUER + TOKEN, "iat": int(time.time())}
    if kind == "garbage":
        value: bytes = _encoded(data.draw(jwt_garbage(header=DPOP_HEADERS)))
    elif kind == "broken jwk":
        value = _encoded(_signed_proof({**data.draw(DPOP_HEADERS), "alg": "ES256"}, good_claims))
    elif kind == "bad claims":
        value = _encoded(_signed_proof(good_header, data.draw(_dpop_claims())))
    else:
        value = data.draw(HEADER_VALUES)
    form = {**tpp.assertion(), "grant_type": "client_credentials", "scope": "accounts"}
    headers = [("content-type", FORM), ("dpop", value)]
    if data.draw(st.booleans()):
        headers.append(("dpop", proof(dpop_key(), TOKEN)))  # a second DPoP header
    response = await h.http.post(TOKEN, content=urlencode(form).encode(), headers=headers)
    answered(response, 200)


# -- PAR (RFC 9126) ---------------------------------------------------------------------------------

CLAIMS_GARBAGE = st.one_of(
    HOSTILE_VALUES.map(dumps),
    st.text(max_size=50),
    hostile_object(
        {
            "id_token": hostile_object(
                {
                    "openbanking_intent_id": hostile_object({"value": "aac-1", "essential": True}),
                    "acr": JSON_VALUES,
                }
            ),
            "userinfo": JSON_VALUES,
        }
    ).map(dumps),
    st.integers(33, 60).map(lambda n: "[" * n + "]" * n),
    st.integers(1000, 200_000).map(lambda n: '{"a":' * n + "1" + "}" * n),
)


@FUZZ
@given(
    params=st.dictionaries(
        st.sampled_from(
            [
                "response_type",
                "redirect_uri",
                "scope",
                "code_challenge",
                "code_challenge_method",
                "state",
                "nonce",
                "claims",
                "dpop_jkt",
                "request",
                "request_uri",
                "prompt",
                "max_age",
                "acr_values",
                "response_mode",
                "client_id",
            ]
        ),
        st.one_of(st.text(max_size=80), CLAIMS_GARBAGE, st.none()),
        max_size=5,
    ),
    duplicate=st.sampled_from([None, "scope", "claims", "client_assertion", "dpop_jkt"]),
    with_dpop=st.booleans(),
)
@example(
    params={"claims": '{"id_token":{"openbanking_intent_id":{"value":["x"],"essential":true}}}'},
    duplicate=None,
    with_dpop=False,
)
@example(params={"dpop_jkt": "\x00" * 50}, duplicate=None, with_dpop=True)
async def test_par_parameters(
    h: Harness, tpp: Tpp, intent: str, params: dict[str, str | None], duplicate: str | None, with_dpop: bool
) -> None:
    count("par: parameters")
    form = {**tpp.assertion(), **h.par_form(tpp, Pkce(), **{"claims": intent, **params})}
    pairs = list(form.items())
    if duplicate is not None and duplicate in form:
        pairs.append((duplicate, form[duplicate]))
    headers = {"content-type": FORM}
    if with_dpop:
        headers["dpop"] = proof(dpop_key(), PAR)
    try:
        body = _encoded(urlencode(pairs))
    except UnicodeEncodeError:
        return
    answered(await h.http.post(PAR, content=body, headers=headers), 201)


@FUZZ
@given(data=st.data(), content_type=CONTENT_TYPES)
async def test_par_form_bodies(h: Harness, tpp: Tpp, intent: str, data: Any, content_type: str) -> None:
    count("par: form bodies")
    good = {**tpp.assertion(), **h.par_form(tpp, Pkce(), claims=intent)}
    body = data.draw(form_bytes(good))
    answered(await h.http.post(PAR, content=body, headers={"content-type": content_type}), 201)


# -- introspection, revocation (RFC 7662, RFC 7009) and userinfo ----------------------------------

BAD_TOKENS = st.one_of(
    st.text(max_size=100),
    jwt_garbage(),
    st.just("A" * 9000),
    st.sampled_from(["", " ", "\x00", "null", "kmn_at_" + "x" * 40]),
)


@FUZZ
@given(
    token=BAD_TOKENS, hint=st.none() | st.text(max_size=20), endpoint=st.sampled_from([INTROSPECT, REVOKE])
)
async def test_introspect_and_revoke_bad_tokens(
    h: Harness, tpp: Tpp, token: str, hint: str | None, endpoint: str
) -> None:
    count("introspect/revoke: bad tokens")
    form = {**tpp.assertion(), "token": token}
    if hint is not None:
        form["token_type_hint"] = hint
    try:
        body = _encoded(urlencode(form))
    except UnicodeEncodeError:
        return
    response = await h.http.post(endpoint, content=body, headers={"content-type": FORM})
    answered(response, 200)
    if response.status_code == 200 and endpoint == INTROSPECT:
        assert response.json() == {"active": False}


@FUZZ
@given(
    authorization=st.lists(HEADER_VALUES | BAD_TOKENS.map(lambda t: _encoded("DPoP " + t)), max_size=2),
    dpop=st.lists(HEADER_VALUES | jwt_garbage(header=DPOP_HEADERS).map(_encoded), max_size=2),
    method=st.sampled_from(["GET", "POST"]),
)
async def test_userinfo_bad_tokens_and_proofs(
    h: Harness, authorization: list[bytes], dpop: list[bytes], method: str
) -> None:
    count("userinfo: bad tokens and proofs")
    headers = [("authorization", a) for a in authorization] + [("dpop", d) for d in dpop]
    response = await h.http.request(method, USERINFO, headers=headers)
    assert_oauth_refusal(response)


# -- the authorization endpoint (RFC 9126 §4): error pages, never a 5xx ---------------------------


@FUZZ
@given(
    data=st.data(),
    client=st.sampled_from(["own", "random", "absent"]),
    request_uri=st.sampled_from(["pushed", "absent"])
    | st.text(max_size=80)
    | st.text(max_size=60).map(lambda t: "urn:ietf:params:oauth:request_uri:" + t),
    extra=st.lists(st.tuples(st.text(max_size=12), st.text(max_size=30)), max_size=4),
    language=st.sampled_from([b"en", b"zh-Hant", b"*;q=0", b"\xff\xfe", b"x" * 200]) | HEADER_VALUES,
)
async def test_authorize_queries(
    h: Harness,
    tpp: Tpp,
    intent: str,
    data: Any,
    client: str,
    request_uri: str,
    extra: list[tuple[str, str]],
    language: bytes,
) -> None:
    count("authorize: queries")
    query: list[tuple[str, str]] = []
    if client != "absent":
        query.append(("client_id", tpp.client_id if client == "own" else data.draw(st.text(max_size=40))))
    if request_uri == "pushed":
        query.append(("request_uri", await h.pushed(tpp, Pkce(), claims=intent)))
    elif request_uri != "absent":
        query.append(("request_uri", request_uri))
    query += extra
    if data.draw(st.booleans()) and query:
        query.append(query[0])  # a parameter sent twice
    try:
        url = AUTHORIZE + "?" + urlencode(query)
    except UnicodeEncodeError:
        return
    response = await h.http.get(url, headers=[(b"accept-language", language)])
    assert response.status_code < 500, response.text[:300]
    if response.status_code in (413, 431):  # the gateway's size limits, before the endpoint
        assert_oauth_refusal(response)
        return
    if response.status_code >= 400:  # the endpoint's own refusals are error pages
        assert response.headers["content-type"].startswith("text/html"), response.headers
    OUTCOMES[("authorize: queries", response.status_code, response.headers.get("content-type", ""))] += 1


@pytest.mark.parametrize("broken", [{"kty": ["EC"]}, {"crv": "P-1"}])
async def test_regression_a_dpop_jwk_with_a_bad_kty_or_curve_is_invalid_dpop_proof(
    h: Harness, tpp: Tpp, broken: dict[str, Any]
) -> None:
    """Found by the DPoP properties: a 500 at the token endpoint before the fixes in authz/dpop.py."""
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": {**dpop_key().as_dict(private=False), **broken}}
    claims = {"jti": uuid.uuid4().hex, "htm": "POST", "htu": ISSUER + TOKEN, "iat": int(time.time())}
    response = await h.token(
        tpp, {"grant_type": "client_credentials", "scope": "accounts"}, dpop=_signed_proof(header, claims)
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_dpop_proof"
