"""Which kind of access token may call a UK OB endpoint, checked before any handler reads a body. The
spec files name two securities for every operation: TPPOAuth2Security (the clientCredentials flow: the
TPP's own token, no customer in it) for the consent resources, and PSUOAuth2Security (the
authorizationCode flow: the token the customer authorised, carrying a customer and a consent) for what
the customer's consent opens. The gateway has already checked the DPoP-bound token, its proof and its
scope (kaimen.gateway.dpop_auth); a token of the wrong kind gets the same 403
UK.OBIE.Resource.ConsentMismatch as a token whose scope does not admit the call.
"""

from __future__ import annotations

from starlette.requests import Request

from kaimen.authz.tokens import AccessToken
from kaimen.errors import Forbidden, Unauthorized
from kaimen.gateway.context import Call

CONSENT_MISMATCH = "UK.OBIE.Resource.ConsentMismatch"


class ClientCredentialsRequired(Forbidden):
    """403: a token the customer authorised where TPPOAuth2Security (clientCredentials) is asked for."""

    ob_code = CONSENT_MISMATCH


class CustomerTokenRequired(Forbidden):
    """403: the TPP's own token where PSUOAuth2Security (authorizationCode) is asked for."""

    ob_code = CONSENT_MISMATCH


def call_token(request: Request) -> AccessToken:
    call: Call = request.scope["kaimen"]
    token: AccessToken | None = call.token
    if token is None:  # only when an operator configured the API without DPoP (routes refuse that)
        raise Unauthorized(
            "an access token is required", ob_code="UK.OBIE.Header.Missing", path="Authorization"
        )
    return token


def tpp_client_of(request: Request, endpoint: str) -> str:
    """The client id of the TPP calling ``endpoint`` with its own (client credentials) token."""
    token = call_token(request)
    if token.customer_id is not None:
        raise ClientCredentialsRequired(
            f"{endpoint} needs the TPP's client credentials access token", path="Authorization"
        )
    return token.client_id


def customer_token_of(request: Request, endpoint: str) -> AccessToken:
    """The token the customer authorised: one without a customer or a consent opens nothing."""
    token = call_token(request)
    if token.customer_id is None or token.consent_id is None:
        raise CustomerTokenRequired(
            f"{endpoint} needs the access token the customer authorised", path="Authorization"
        )
    return token
