"""Whose token may call which Payment Initiation endpoint, and with what signature: the steps that run
before any handler reads a body. Before these the gateway has checked the DPoP-bound token, its proof
and its scope ``payments`` (kaimen.gateway.dpop_auth; the spec file's security, TPPOAuth2Security and
PSUOAuth2Security, both ["payments"]).

    tpp_client       domestic-payment-consents and GET domestic-payments: the TPP's own token
                     (TPPOAuth2Security, clientCredentials), no customer in it
    customer_token   the consent's funds-confirmation and POST /domestic-payments: the token the PSU
                     authorised (PSUOAuth2Security, authorizationCode), carrying a customer and a
                     consent
    unsigned         a GET carries no x-jws-signature: there is no body to sign (the spec file lists
                     the x-jws-signature parameter on the POSTs only; UK.OBIE.Signature.Unexpected)
"""

from __future__ import annotations

from starlette.requests import Request

from kaimen.apis.payments.errors import ClientCredentialsRequired, CustomerTokenRequired
from kaimen.authz.tokens import AccessToken
from kaimen.errors import Unauthorized
from kaimen.gateway.context import Call
from kaimen.jws.errors import HEADER, SignatureMalformed, SignatureUnexpected


def _token(request: Request) -> AccessToken:
    call: Call = request.scope["kaimen"]
    token: AccessToken | None = call.token
    if token is None:  # only when an operator configured the API without DPoP (routes refuses that)
        raise Unauthorized(
            "an access token is required", ob_code="UK.OBIE.Header.Missing", path="Authorization"
        )
    return token


def tpp_client(request: Request) -> str:
    """The client id of the TPP calling with its own (client credentials) token."""
    token = _token(request)
    if token.customer_id is not None:
        raise ClientCredentialsRequired(
            "this endpoint needs the TPP's client credentials access token", path="Authorization"
        )
    return token.client_id


def customer_token(request: Request) -> AccessToken:
    """The PSU's token: one without a customer or a consent checks no funds."""
    token = _token(request)
    if token.customer_id is None or token.consent_id is None:
        raise CustomerTokenRequired(
            "this endpoint needs the access token the customer authorised", path="Authorization"
        )
    return token


def signature(request: Request) -> str | None:
    """The request's x-jws-signature, sent at most once."""
    values = request.headers.getlist(HEADER)
    if len(values) > 1:
        raise SignatureMalformed("x-jws-signature must be sent once", path=HEADER)
    return values[0] if values else None


def unsigned(request: Request) -> None:
    if request.headers.getlist(HEADER):
        raise SignatureUnexpected("a GET request carries no x-jws-signature", path=HEADER)
