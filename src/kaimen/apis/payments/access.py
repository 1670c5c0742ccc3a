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

from kaimen.apis.token_access import customer_token_of, tpp_client_of
from kaimen.authz.tokens import AccessToken
from kaimen.jws.errors import HEADER, SignatureMalformed, SignatureUnexpected


def tpp_client(request: Request) -> str:
    return tpp_client_of(request, "this endpoint")


def customer_token(request: Request) -> AccessToken:
    return customer_token_of(request, "this endpoint")


def signature(request: Request) -> str | None:
    """The request's x-jws-signature, sent at most once."""
    values = request.headers.getlist(HEADER)
    if len(values) > 1:
        raise SignatureMalformed("x-jws-signature must be sent once", path=HEADER)
    return values[0] if values else None


def unsigned(request: Request) -> None:
    if request.headers.getlist(HEADER):
        raise SignatureUnexpected("a GET request carries no x-jws-signature", path=HEADER)
