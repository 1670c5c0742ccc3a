"""POST /oauth2/introspect (RFC 7662): client-authenticated; a client learns about its own tokens only."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import update

from kaimen.authz.tokens import digest_of
from kaimen.store.authz_models import Token
from kaimen.store.types import utcnow
from tests.dpop_support import Tpp, ec_key, issue_for, tpp

INTROSPECT = "/oauth2/introspect"
INACTIVE = {"active": False}


async def introspect(http: httpx.AsyncClient, who: Tpp, token: str, **extra: str) -> httpx.Response:
    return await http.post(INTROSPECT, data=who.form(token=token, **extra))


async def test_an_active_access_token_is_described(server: tuple[Any, httpx.AsyncClient]) -> None:
    app, http = server
    alice = await tpp(app, "alice")
    issued = await issue_for(app, alice.client)
    response = await introspect(http, alice, issued.access_token, token_type_hint="access_token")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    found = await app.components.authz.tokens.access(issued.access_token)
    assert body == {
        "active": True,
        "scope": "accounts openid",
        "client_id": alice.client.client_id,
        "exp": int(found.expires_at.timestamp()),
        "iat": int(found.issued_at.timestamp()),
        "iss": "http://localhost:8000",
        "token_type": "DPoP",
        "sub": app.components.authz.subjects.sub(alice.client.application_id, "cust-1"),
        "cnf": {"jkt": ec_key().thumbprint()},
        "openbanking_intent_id": "aac-1",
    }


async def test_a_refresh_token_is_described_without_a_token_type(
    server: tuple[Any, httpx.AsyncClient],
) -> None:
    app, http = server
    alice = await tpp(app, "alice")
    issued = await issue_for(app, alice.client)
    body = (await introspect(http, alice, issued.refresh_token, token_type_hint="access_token")).json()
    assert body["active"] is True
    assert "token_type" not in body


async def test_another_clients_token_is_inactive(server: tuple[Any, httpx.AsyncClient]) -> None:
    app, http = server
    alice, mallory = await tpp(app, "alice"), await tpp(app, "mallory")
    issued = await issue_for(app, alice.client)
    for token in (issued.access_token, issued.refresh_token):
        response = await introspect(http, mallory, token)
        assert response.status_code == 200
        assert response.json() == INACTIVE


async def test_unknown_revoked_and_expired_tokens_are_inactive(server: tuple[Any, httpx.AsyncClient]) -> None:
    app, http = server
    alice = await tpp(app, "alice")
    tokens = app.components.authz.tokens
    assert (await introspect(http, alice, "never-issued")).json() == INACTIVE
    revoked = await issue_for(app, alice.client)
    await tokens.revoke(revoked.access_token, alice.client.client_id)
    assert (await introspect(http, alice, revoked.access_token)).json() == INACTIVE
    expired = await issue_for(app, alice.client)
    async with app.components.db.write() as session:
        await session.execute(
            update(Token)
            .where(Token.digest == digest_of(expired.access_token))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert (await introspect(http, alice, expired.access_token)).json() == INACTIVE


async def test_introspection_requires_client_authentication(server: tuple[Any, httpx.AsyncClient]) -> None:
    app, http = server
    alice = await tpp(app, "alice")
    issued = await issue_for(app, alice.client)
    response = await http.post(
        INTROSPECT, data={"token": issued.access_token, "client_id": alice.client.client_id}
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


async def test_the_token_parameter_is_required(server: tuple[Any, httpx.AsyncClient]) -> None:
    app, http = server
    alice = await tpp(app, "alice")
    response = await http.post(INTROSPECT, data=alice.form())
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_request",
        "error_description": "the token parameter is required",
    }


async def test_get_is_not_allowed_and_the_405_names_post(server: tuple[Any, httpx.AsyncClient]) -> None:
    # RFC 9110 §15.5.6: "The origin server MUST generate an Allow header field in a 405 response".
    _app, http = server
    response = await http.get(INTROSPECT)
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.json() == {"error": "invalid_request", "error_description": "Method not allowed"}
