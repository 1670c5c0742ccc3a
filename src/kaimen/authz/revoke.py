"""Token revocation (RFC 7009), for the authenticated client the token was issued to.

Pipeline: read the form -> authenticate the client (private_key_jwt) -> the token parameter -> revoke.

RFC 7009 §2.1: "The authorization server first validates the client credentials ... and then verifies
whether the token was issued to the client making the revocation request. If this validation fails,
the request is refused and the client is informed of the error": a token of another client is left
alone and answered with invalid_grant (RFC 6749 §5.2: the grant "was issued to another client").
§2.2: "The authorization server responds with HTTP status code 200 if the token has been revoked
successfully or if the client submitted an invalid token." A revoked refresh token takes every token
of its grant with it; the revocation takes effect at once in every worker (kaimen.authz.tokens).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from kaimen.authz.errors import InvalidGrant
from kaimen.authz.http import NO_STORE, oauth_endpoint
from kaimen.authz.introspect import token_request
from kaimen.authz.ports import ClientAuth
from kaimen.authz.tokens import Revocation, TokenService


class RevocationEndpoint:
    def __init__(self, *, client_auth: ClientAuth, tokens: TokenService) -> None:
        self.client_auth = client_auth
        self.tokens = tokens
        self.handle = oauth_endpoint(self._handle)

    async def _handle(self, request: Request) -> Response:
        client, token, _hint = await token_request(request, self.client_auth)
        outcome = await self.tokens.revoke(token, client.client_id)
        if outcome is Revocation.OTHER_CLIENT:
            raise InvalidGrant("the token was not issued to this client")
        return Response(status_code=200, headers=NO_STORE)
