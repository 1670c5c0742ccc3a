"""GET/POST /oauth2/userinfo (OIDC Core §5.3) behind a DPoP-bound access token with scope openid."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from kaimen.tpp.registry import Registry, ReviewStatus
from tests.dpop_support import BASE, ec_key, issue_for, proof, tpp

USERINFO = "/oauth2/userinfo"
ALGS = 'algs="ES256 PS256 EdDSA"'


def headers(token: str, *, scheme: str = "DPoP", **proof_kw: Any) -> dict[str, str]:
    proof_kw.setdefault("url", BASE + USERINFO)
    return {"authorization": f"{scheme} {token}", "dpop": proof(token=token, **proof_kw)}


def assert_refused(response: httpx.Response, status: int, error: str, description: str) -> None:
    assert response.status_code == status
    assert response.json() == {"error": error, "error_description": description}
    assert (
        response.headers["www-authenticate"]
        == f'DPoP error="{error}", error_description="{description}", {ALGS}'
    )


async def test_userinfo_returns_the_pairwise_sub(server: tuple[Any, httpx.AsyncClient]) -> None:
    app, http = server
    alice = await tpp(app, "alice")
    issued = await issue_for(app, alice.client)
    response = await http.get(USERINFO, headers=headers(issued.access_token))
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    sub = app.components.authz.subjects.sub(alice.client.application_id, "cust-1")
    assert response.json() == {"sub": sub}
    assert sub != "cust-1"


async def test_userinfo_by_post_and_a_sub_from_the_token(server: tuple[Any, httpx.AsyncClient]) -> None:
    app, http = server
    alice = await tpp(app, "alice")
    issued = await issue_for(app, alice.client, details={"sub": "the-id-token-sub"})
    response = await http.post(USERINFO, headers=headers(issued.access_token, method="POST"))
    assert response.status_code == 200
    assert response.json() == {"sub": "the-id-token-sub"}


async def test_bearer_is_refused(server: tuple[Any, httpx.AsyncClient]) -> None:
    app, http = server
    issued = await issue_for(app, (await tpp(app, "alice")).client)
    response = await http.get(USERINFO, headers=headers(issued.access_token, scheme="Bearer"))
    assert_refused(response, 401, "invalid_token", "DPoP-bound access tokens must use the DPoP scheme")


async def test_no_token(server: tuple[Any, httpx.AsyncClient]) -> None:
    _app, http = server
    response = await http.get(USERINFO)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == f"DPoP {ALGS}"


async def test_scope_openid_is_required(server: tuple[Any, httpx.AsyncClient]) -> None:
    app, http = server
    issued = await issue_for(app, (await tpp(app, "alice")).client, scope="accounts")
    response = await http.get(USERINFO, headers=headers(issued.access_token))
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"
    assert response.headers["www-authenticate"].endswith(', scope="openid"')


async def test_a_token_without_a_customer_is_refused(server: tuple[Any, httpx.AsyncClient]) -> None:
    app, http = server
    issued = await issue_for(app, (await tpp(app, "alice")).client, customer=None)
    response = await http.get(USERINFO, headers=headers(issued.access_token))
    assert_refused(response, 403, "insufficient_scope", "the access token has no customer")


async def test_proof_by_another_key(server: tuple[Any, httpx.AsyncClient]) -> None:
    app, http = server
    issued = await issue_for(app, (await tpp(app, "alice")).client)
    response = await http.get(USERINFO, headers=headers(issued.access_token, key=ec_key("attacker")))
    assert_refused(response, 401, "invalid_token", "invalid DPoP key binding")


async def test_host_header_trick(server: tuple[Any, httpx.AsyncClient]) -> None:
    app, http = server
    issued = await issue_for(app, (await tpp(app, "alice")).client)
    sent = headers(issued.access_token, url="http://evil.example" + USERINFO)
    response = await http.get(USERINFO, headers={**sent, "host": "evil.example"})
    assert_refused(response, 401, "invalid_dpop_proof", "htu does not match the request URL")


async def test_htu_is_compared_ignoring_query_and_fragment(server: tuple[Any, httpx.AsyncClient]) -> None:
    # RFC 9449 §4.3 item 9: htu matches the request URI "ignoring any query and fragment parts", on
    # either side: a proof whose htu carries the query (or another one, or a fragment) is accepted.
    app, http = server
    alice = await tpp(app, "alice")
    sub = app.components.authz.subjects.sub(alice.client.application_id, "cust-1")
    issued = await issue_for(app, alice.client)
    for htu in (BASE + USERINFO, BASE + USERINFO + "?schema=openid", BASE + USERINFO + "?other=1#frag"):
        response = await http.get(USERINFO + "?schema=openid", headers=headers(issued.access_token, url=htu))
        assert response.status_code == 200, response.text
        assert response.json() == {"sub": sub}


async def test_revoked_token(server: tuple[Any, httpx.AsyncClient]) -> None:
    app, http = server
    alice = await tpp(app, "alice")
    issued = await issue_for(app, alice.client)
    await app.components.authz.tokens.revoke(issued.access_token, alice.client.client_id)
    response = await http.get(USERINFO, headers=headers(issued.access_token))
    assert_refused(response, 401, "invalid_token", "the access token is invalid, expired or revoked")


@pytest.mark.parametrize("status", [ReviewStatus.SUSPENDED, ReviewStatus.REVOKED])
async def test_a_token_of_a_suspended_or_revoked_tpp_is_refused(
    server: tuple[Any, httpx.AsyncClient], status: ReviewStatus
) -> None:
    """As at every protected API (kaimen.gateway.dpop_auth): a TPP whose application is no longer
    approved reads nothing more with the tokens it holds, from the next call on."""
    app, http = server
    alice = await tpp(app, "alice")
    issued = await issue_for(app, alice.client)
    assert (await http.get(USERINFO, headers=headers(issued.access_token))).status_code == 200
    await Registry(app.components.db).set_status(alice.client.application_id, status)
    response = await http.get(USERINFO, headers=headers(issued.access_token))
    assert_refused(response, 401, "invalid_token", "the client is not approved")
