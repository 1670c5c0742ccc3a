"""The token endpoint (RFC 6749 §3.2).

Pipeline: read the form -> verify the client's assertion (private_key_jwt, FAPI 2.0 §5.3.2.1) -> the
grant type is supported and registered for the client -> check the DPoP proof (always required: FAPI
2.0 §5.3.3.1 "shall only issue sender-constrained access tokens", RFC 9449 §5), server nonce included
-> use up the assertion's jti, then the proof's -> the grant -> 200 with Cache-Control: no-store (RFC
6749 §5.1). Every refusal is an RFC 6749 §5.2 error (kaimen.authz.http).

Why both jtis are used up only after both checks: RFC 9449 §8, when the server asks for a nonce
(use_dpop_nonce), "the client is expected to retry its token request using a DPoP proof including the
supplied nonce value"; a client may resend the same form, client assertion included (the FAPI 2.0
conformance suite does). A request refused for its nonce uses up neither jti, so the retry is judged on
its own; each jti is still accepted once.
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson
from starlette.requests import Request
from starlette.responses import Response

from kaimen.authz import endpoints
from kaimen.authz.dpop import single_proof
from kaimen.authz.errors import InvalidRequest, UnauthorizedClient, UnsupportedGrantType
from kaimen.authz.grants import Grant, registered_grant_types
from kaimen.authz.http import json_response, oauth_endpoint, read_form
from kaimen.authz.ports import ClientAuth, Dpop


class TokenEndpoint:
    def __init__(self, *, client_auth: ClientAuth, dpop: Dpop, grants: Mapping[str, Grant]) -> None:
        self.client_auth = client_auth
        self.dpop = dpop
        self.grants = dict(grants)
        self.handle = oauth_endpoint(self._handle)

    async def _handle(self, request: Request) -> Response:
        form = await read_form(request)
        verified = await self.client_auth.verify(form, headers=request.headers)
        grant = self.grant_for(form, registered_grant_types(verified.client))
        proof = self.dpop.check(required_proof(request), method="POST", url=endpoints.TOKEN)
        client = await self.client_auth.use(verified)
        jkt = await self.dpop.use(proof)
        body = await grant(form, client, jkt)
        return json_response(orjson.dumps(body), headers=self.dpop.nonce_header())

    def grant_for(self, form: Mapping[str, str], registered: tuple[str, ...]) -> Grant:
        """RFC 6749 §5.2: unsupported_grant_type for a grant the server does not support;
        unauthorized_client for one the client is not registered for."""
        grant_type = form.get("grant_type")
        if not grant_type:
            raise InvalidRequest("grant_type is required")
        grant = self.grants.get(grant_type)
        if grant is None:
            raise UnsupportedGrantType("the grant type is not supported")
        if grant_type not in registered:
            raise UnauthorizedClient("the client is not registered for this grant type")
        return grant


def required_proof(request: Request) -> str:
    """RFC 9449 §5: the client "MUST provide a valid DPoP proof JWT in a DPoP header" with a token
    request; "If the DPoP proof is invalid, the authorization server issues an error response per
    Section 5.2 of [RFC6749] with invalid_dpop_proof". A request with no DPoP header has no proof to
    be invalid: it "is missing a required parameter", RFC 6749 §5.2 invalid_request (the FAPI 2.0
    conformance condition CheckTokenEndpointReturnedInvalidClientGrantOrRequestError). A header that
    is present, empty or not, is a proof and is judged as one."""
    proof = single_proof(request.headers.getlist("dpop"))
    if proof is None:
        raise InvalidRequest("a DPoP proof is required")
    return proof
