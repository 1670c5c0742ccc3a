"""POST /oauth2/revoke (RFC 7009): client-authenticated; a client revokes its own tokens only, and a
revocation takes effect at once in every app instance on the database."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from kaimen.settings import Settings
from tests.dpop_support import BASE, Tpp, issue_for, proof, running, tokens_seen, tpp

REVOKE = "/oauth2/revoke"
USERINFO = "/oauth2/userinfo"


async def revoke(http: httpx.AsyncClient, who: Tpp, token: str, **extra: str) -> httpx.Response:
    return await http.post(REVOKE, data=who.form(token=token, **extra))


async def userinfo(http: httpx.AsyncClient, token: str) -> httpx.Response:
    headers = {"authorization": f"DPoP {token}", "dpop": proof(url=BASE + USERINFO, token=token)}
    return await http.get(USERINFO, headers=headers)


async def test_a_client_revokes_its_access_token(server: tuple[Any, httpx.AsyncClient]) -> None:
    app, http = server
    alice = await tpp(app, "alice")
    issued = await issue_for(app, alice.client)
    assert (await userinfo(http, issued.access_token)).status_code == 200
    response = await revoke(http, alice, issued.access_token)
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["cache-control"] == "no-store"
    assert (await userinfo(http, issued.access_token)).status_code == 401


async def test_a_revoked_refresh_token_takes_its_access_tokens_with_it(
    server: tuple[Any, httpx.AsyncClient],
) -> None:
    app, http = server
    alice = await tpp(app, "alice")
    issued = await issue_for(app, alice.client)
    # token_type_hint is a hint only: a wrong one does not stop the revocation (RFC 7009 §2.1).
    assert (
        await revoke(http, alice, issued.refresh_token, token_type_hint="access_token")
    ).status_code == 200
    assert await app.components.authz.tokens.refresh(issued.refresh_token) is None
    assert (await userinfo(http, issued.access_token)).status_code == 401


async def test_unknown_tokens_are_answered_200(server: tuple[Any, httpx.AsyncClient]) -> None:
    app, http = server
    alice = await tpp(app, "alice")
    response = await revoke(http, alice, "never-issued", token_type_hint="something_else")
    assert response.status_code == 200


async def test_another_clients_token_is_refused_and_stays_valid(
    server: tuple[Any, httpx.AsyncClient],
) -> None:
    app, http = server
    alice, mallory = await tpp(app, "alice"), await tpp(app, "mallory")
    issued = await issue_for(app, alice.client)
    for token in (issued.access_token, issued.refresh_token):
        response = await revoke(http, mallory, token)
        assert response.status_code == 400
        assert response.json() == {
            "error": "invalid_grant",
            "error_description": "the token was not issued to this client",
        }
    assert (await userinfo(http, issued.access_token)).status_code == 200
    assert await app.components.authz.tokens.refresh(issued.refresh_token) is not None


async def test_revocation_requires_client_authentication(server: tuple[Any, httpx.AsyncClient]) -> None:
    app, http = server
    alice = await tpp(app, "alice")
    issued = await issue_for(app, alice.client)
    response = await http.post(
        REVOKE, data={"token": issued.access_token, "client_id": alice.client.client_id}
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert (await userinfo(http, issued.access_token)).status_code == 200


async def test_a_revocation_takes_effect_at_once_in_another_instance(
    make_settings: Callable[..., Settings], database_url: str
) -> None:
    settings = make_settings(database_url=database_url)
    async with running(settings) as (first, first_http), running(settings) as (second, second_http):
        alice = await tpp(first, "alice")
        issued = await issue_for(first, alice.client)
        assert (await userinfo(second_http, issued.access_token)).status_code == 200  # now cached there
        assert (await revoke(first_http, alice, issued.access_token)).status_code == 200
        await tokens_seen(second.components.db, second.components.watcher)
        response = await userinfo(second_http, issued.access_token)
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_token"
