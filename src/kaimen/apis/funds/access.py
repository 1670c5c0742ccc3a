"""Whose token may call which Confirmation of Funds endpoint: the steps that run before any handler
reads a body. Before these the gateway has checked the DPoP-bound token, its proof and its scope
``fundsconfirmations`` (kaimen.gateway.dpop_auth; the spec file's security, TPPOAuth2Security and
PSUOAuth2Security, both ["fundsconfirmations"]).

    tpp_client        funds-confirmation-consents: the TPP's own token (TPPOAuth2Security,
                      clientCredentials), no customer in it
    customer_token    funds-confirmations: the token the PSU authorised (PSUOAuth2Security,
                      authorizationCode), carrying a customer and a consent
    active_consent    that consent Authorised and unexpired (read on every call, so a revocation,
                      deletion or expiry stops it at once), this client's and this customer's: the
                      Account API's step (kaimen.apis.accounts.ais_access)
"""

from __future__ import annotations

from starlette.requests import Request

from kaimen.apis.token_access import customer_token_of, tpp_client_of
from kaimen.authz.tokens import AccessToken


def tpp_client(request: Request) -> str:
    return tpp_client_of(request, "funds-confirmation-consents")


def customer_token(request: Request) -> AccessToken:
    return customer_token_of(request, "funds-confirmations")
