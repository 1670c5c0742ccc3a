"""The UserInfo endpoint (OIDC Core §5.3) behind a DPoP-bound access token.

Pipeline: the resource-side check shared with every protected API (kaimen.gateway.dpop_auth:
Authorization: DPoP, proof, ath, htm, htu, binding, expiry, revocation) with scope ``openid`` -> the
client's application still approved (a suspended or revoked TPP's tokens stop working here too, as
at every protected API) -> the customer's pairwise ``sub`` (the same one the ID token carried).

OIDC Core §5.3.1: "The Client sends the UserInfo Request using either HTTP GET or HTTP POST"; §5.3.3
errors are RFC 6750 §3 errors with their WWW-Authenticate challenge (here the DPoP scheme, RFC 9449
§7.1). §5.3.2: "The sub Claim MUST always be returned in the UserInfo Response." A token without a
customer (client_credentials) is refused with insufficient_scope.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from kaimen.authz.http import json_response, oauth_endpoint
from kaimen.authz.introspect import Subjects
from kaimen.authz.ports import Dpop
from kaimen.gateway.dpop_auth import (
    ResourceGuard,
    ResourceRefusal,
    TokenLookup,
    approved_client,
    request_path,
)

SCOPE = "openid"


class UserinfoEndpoint:
    def __init__(self, *, tokens: TokenLookup, dpop: Dpop, clients: Any, subjects: Subjects) -> None:
        self.guard = ResourceGuard(tokens, dpop)
        self.dpop = dpop
        self.clients = clients
        self.subjects = subjects
        self.handle = oauth_endpoint(self._handle)

    async def _handle(self, request: Request) -> Response:
        token = await self.guard.check(
            authorization=request.headers.getlist("authorization"),
            proofs=request.headers.getlist("dpop"),
            method=request.method,
            path=request_path(request.scope),
            required_scopes=(SCOPE,),
        )
        if token.customer_id is None:
            raise ResourceRefusal("insufficient_scope", 403, "the access token has no customer")
        client, _ = await approved_client(self.clients, token)
        sub = token.details.get("sub")
        if sub is None:
            sub = self.subjects.sub(client.application_id, token.customer_id)
        return json_response(orjson.dumps({"sub": sub}), headers=self.dpop.nonce_header())
