"""Token introspection (RFC 7662), for the authenticated client that holds the token.

Pipeline: read the form -> authenticate the client (private_key_jwt) -> the token parameter -> look it
up (exactly, from the database) -> answer.

RFC 7662 §2.1: "the endpoint MUST also require some form of authorization to access this endpoint"
(here private_key_jwt). §2.2: when "the token is not active ... the authorization server MUST return
an introspection response with the "active" field set to "false"" and nothing else; an unknown,
expired or revoked token, and a token issued to another client (whose existence the caller must not
learn), all answer {"active": false}. An active token's response carries ``cnf.jkt`` (RFC 9449 §6.2)
and ``token_type`` DPoP; ``sub`` is the pairwise subject the client knows the customer by.
"""

from __future__ import annotations

from typing import Any, Protocol

import orjson
from starlette.requests import Request
from starlette.responses import Response

from kaimen.authz.errors import InvalidRequest
from kaimen.authz.http import json_response, oauth_endpoint, read_form
from kaimen.authz.ports import ClientAuth
from kaimen.authz.tokens import AccessToken, RefreshToken, TokenService

INACTIVE = orjson.dumps({"active": False})
TOKEN_TYPE_HINTS = frozenset({"access_token", "refresh_token"})


class Subjects(Protocol):
    def sub(self, application_id: str, customer_id: str) -> str: ...


async def token_request(request: Request, client_auth: ClientAuth) -> tuple[Any, str, str | None]:
    """The shared first steps of introspection (RFC 7662 §2.1) and revocation (RFC 7009 §2.1): the
    authenticated client, the ``token`` parameter (REQUIRED) and the ``token_type_hint`` (OPTIONAL; a
    hint only, never trusted: both kinds are always searched)."""
    form = await read_form(request)
    client = await client_auth.authenticate(form, headers=request.headers)
    token = form.get("token")
    if not token:
        raise InvalidRequest("the token parameter is required")
    hint = form.get("token_type_hint")
    return client, token, hint if hint in TOKEN_TYPE_HINTS else None


def describe(
    found: AccessToken | RefreshToken, client: Any, issuer: str, subjects: Subjects | None
) -> dict[str, Any]:
    """RFC 7662 §2.2 members of an active token."""
    body: dict[str, Any] = {
        "active": True,
        "scope": " ".join(sorted(found.scope)),
        "client_id": found.client_id,
        "exp": int(found.expires_at.timestamp()),
        "iss": issuer,
    }
    if found.issued_at is not None:
        body["iat"] = int(found.issued_at.timestamp())
    if isinstance(found, AccessToken):
        body["token_type"] = "DPoP"  # noqa: S105 (RFC 9449 §6.2, §12.1)
    sub = found.details.get("sub")
    if sub is None and found.customer_id is not None and subjects is not None:
        sub = subjects.sub(client.application_id, found.customer_id)
    if sub is not None:
        body["sub"] = sub
    if found.jkt:
        body["cnf"] = {"jkt": found.jkt}  # RFC 9449 §6.2
    if found.consent_id is not None:
        body["openbanking_intent_id"] = found.consent_id
    return body


class IntrospectionEndpoint:
    def __init__(
        self,
        *,
        client_auth: ClientAuth,
        tokens: TokenService,
        issuer: str,
        subjects: Subjects | None = None,
    ) -> None:
        self.client_auth = client_auth
        self.tokens = tokens
        self.issuer = issuer
        self.subjects = subjects
        self.handle = oauth_endpoint(self._handle)

    async def _handle(self, request: Request) -> Response:
        client, token, _hint = await token_request(request, self.client_auth)
        found = await self.tokens.find(token)
        if found is None or found.client_id != client.client_id:
            return json_response(INACTIVE)
        return json_response(orjson.dumps(describe(found, client, self.issuer, self.subjects)))
