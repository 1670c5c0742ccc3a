"""Hostile input at dynamic client registration (RFC 7591) and its management protocol (RFC 7592),
through the whole app in-process (issue 6 item 4): software statements that are garbage or signed
with hostile claims, JWKS documents with broken keys (wrong kty, missing n/e, EC on other curves,
private members, x5c junk), hostile metadata and bodies, bad registration access tokens. Every answer
is the endpoint's success or an RFC 6749 §5.2 error object with a 4xx status: never a 5xx.
Budget and case count: tests.fuzz_support.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from joserfc import jws

from tests.authz_clients_support import public_jwks, rsa_key
from tests.authz_flow_support import Harness, dpop_key
from tests.fuzz_app_support import fuzz_settings, h
from tests.fuzz_support import (
    BIG_NUMBER_CLAIMS,
    FUZZ,
    HEADER_VALUES,
    HOSTILE_VALUES,
    JSON_VALUES,
    accepted,
    assert_oauth_refusal,
    b64,
    broken_jwk,
    compact,
    count,
    dumps,
    hostile_object,
    jwt_garbage,
)

__all__ = ["fuzz_settings", "h"]  # fixtures
pytest_plugins = ["tests.fuzz_plugin"]

REGISTER = "/oauth2/register"


def _encoded(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def answered(response: Any, *ok: int) -> None:
    if response.status_code in ok:
        accepted(response)
        return
    assert_oauth_refusal(response)


# -- dynamic client registration (RFC 7591): software statements and JWKS documents ---------------


def _statement_claims() -> Any:
    good_jwks = public_jwks(rsa_key())
    return hostile_object(
        {
            "software_id": st.text(min_size=1, max_size=20),
            "org_name": st.text(max_size=20) | JSON_VALUES,
            "redirect_uris": st.sampled_from([["http://127.0.0.1:9000/cb"], ["javascript:x"], []])
            | JSON_VALUES,
            "jwks": st.one_of(
                st.just(good_jwks),
                st.lists(broken_jwk(good_jwks["keys"][0]), min_size=1, max_size=3).map(
                    lambda keys: {"keys": keys}
                ),
                st.lists(broken_jwk(public_jwks(dpop_key())["keys"][0]), min_size=1, max_size=3).map(
                    lambda keys: {"keys": keys}
                ),
                JSON_VALUES,
            ),
            "jwks_uri": st.sampled_from(["https://tpp.example/jwks", "file:///etc/passwd", "http://[::1"]),
            "grant_types": JSON_VALUES,
            "tier": st.sampled_from(["PUBLIC", "PRIVATE", "partner", ""]) | JSON_VALUES,
            "iat": st.sampled_from([int(time.time()), int(time.time()) + 3600]) | BIG_NUMBER_CLAIMS,
            "exp": BIG_NUMBER_CLAIMS,
        }
    )


@FUZZ
@given(
    data=st.data(),
    kind=st.sampled_from(["garbage", "signed", "body"]),
    content_type=st.sampled_from(
        ["application/json", "application/json; charset=utf-8", "text/plain", "application/jose"]
    ),
)
@example(data=None, kind="jwks kty list", content_type="application/json")
async def test_registration(h: Harness, data: Any, kind: str, content_type: str) -> None:
    count("register: statements and JWKS")
    directory = h.server.directory
    if data is None:
        statement = directory.sign_software_statement(
            {
                "software_id": "s",
                "org_name": "o",
                "redirect_uris": ["http://127.0.0.1:9000/cb"],
                "jwks": {"keys": [{"kty": ["RSA"]}]},
            }
        )
        body = _encoded(dumps({"software_statement": statement}))
    elif kind == "garbage":
        statement = data.draw(jwt_garbage() | HOSTILE_VALUES)
        body = _encoded(dumps({"software_statement": statement}))
    elif kind == "signed":
        claims = data.draw(_statement_claims())
        head = compact(
            {"alg": "PS256", "kid": directory._private.kid, "typ": "JWT"},
            {"iss": directory.issuer, "iat": int(time.time()), **claims},
        ).rsplit(".", 1)[0]
        signature = jws.JWSRegistry.algorithms["PS256"].sign(head.encode(), directory._private)
        metadata = data.draw(hostile_object({"jwks": public_jwks(rsa_key()), "client_name": "x"}))
        body = _encoded(dumps({**metadata, "software_statement": head + "." + b64(signature)}))
    else:
        body = data.draw(HOSTILE_VALUES.map(dumps).map(_encoded) | st.binary(max_size=200))
    response = await h.http.post(REGISTER, content=body, headers={"content-type": content_type})
    answered(response, 201)


@pytest.fixture
async def registered(h: Harness) -> list[str]:
    """A client registered through the endpoint: its id and its current registration access token (a
    successful read or update rotates the token, RFC 7592 §3/§5; the test keeps the list current)."""
    statement = h.server.directory.sign_software_statement(
        {
            "software_id": "fuzz",
            "org_name": "Fuzz Ltd",
            "redirect_uris": ["http://127.0.0.1:9000/cb"],
            "jwks": public_jwks(rsa_key()),
        }
    )
    response = await h.http.post(REGISTER, json={"software_statement": statement})
    assert response.status_code == 201, response.text
    body = response.json()
    return [body["client_id"], body["registration_access_token"]]


@FUZZ
@given(
    data=st.data(),
    method=st.sampled_from(["GET", "PUT", "PUT", "DELETE"]),
    which=st.sampled_from(["own", "random"]),
    authorization=st.none()
    | st.none()
    | HEADER_VALUES
    | st.text(max_size=60).map(lambda t: _encoded("Bearer " + t)),
)
async def test_registration_management(
    h: Harness, registered: list[str], data: Any, method: str, which: str, authorization: bytes | None
) -> None:
    """RFC 7592 read/update/delete with hostile client ids, tokens and (PUT) bodies."""
    count("register: management")
    client_id, token = registered
    if which == "random" or method == "DELETE":  # the own client stays, for the cases after this one
        client_id = data.draw(st.text(max_size=40) | st.just("c" * 3000))
    headers = [(b"authorization", authorization if authorization is not None else f"Bearer {token}".encode())]
    content = b""
    if method == "PUT":
        metadata = data.draw(
            hostile_object(
                {
                    "client_id": client_id,
                    "redirect_uris": ["http://127.0.0.1:9000/cb"],
                    "jwks": public_jwks(rsa_key()),
                    "grant_types": ["authorization_code"],
                }
            )
        )
        content = _encoded(dumps(metadata))
        headers.append((b"content-type", b"application/json"))
    path = f"{REGISTER}/{quote(client_id, safe='')}"
    response = await h.http.request(method, path, content=content, headers=headers)
    answered(response, 200, 204, 307)  # 307: an empty client id, redirected without the slash
    if response.status_code == 200:  # the own client's token was rotated: the next example uses the new one
        registered[1] = response.json()["registration_access_token"]


async def test_regression_a_jwks_key_with_a_list_as_kty_is_invalid_client_metadata(h: Harness) -> None:
    """Found by test_registration (its explicit example): a 500 before the fix in clients_metadata."""
    statement = h.server.directory.sign_software_statement(
        {
            "software_id": "s",
            "org_name": "o",
            "redirect_uris": ["http://127.0.0.1:9000/cb"],
            "jwks": {"keys": [{"kty": ["RSA"]}]},
        }
    )
    response = await h.http.post(REGISTER, json={"software_statement": statement})
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_client_metadata"
