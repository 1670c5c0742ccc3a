"""Whose token may call which Confirmation of Funds endpoint: the steps that run before any handler
reads a body. Before these the gateway has checked the DPoP-bound token, its proof and its scope
``fundsconfirmations`` (kaimen.gateway.dpop_auth; the spec file's security, TPPOAuth2Security and
PSUOAuth2Security, both ["fundsconfirmations"]).

    tpp_client        funds-confirmation-consents: the TPP's own token (TPPOAuth2Security,
                      clientCredentials), no customer in it
    customer_token    funds-confirmations: the token the PSU authorised (PSUOAuth2Security,
                      authorizationCode), carrying a customer and a consent
    active_consent    that consent Authorised and unexpired (read on every call, so a revocation,
                      deletion or expiry stops it at once), this client's and this customer's
"""

from __future__ import annotations

from starlette.requests import Request

from kaimen.apis.funds.consents import FundsConfirmationConsents, FundsConsent
from kaimen.apis.funds.errors import (
    ConsentNotActive,
    ConsentOfAnotherParty,
)
from kaimen.apis.token_access import customer_token_of, tpp_client_of
from kaimen.authz.tokens import AccessToken


def tpp_client(request: Request) -> str:
    return tpp_client_of(request, "funds-confirmation-consents")


def customer_token(request: Request) -> AccessToken:
    return customer_token_of(request, "funds-confirmations")


async def active_consent(consents: FundsConfirmationConsents, token: AccessToken) -> FundsConsent:
    """The token's consent, Authorised and unexpired now, granted to this client by this customer."""
    assert token.consent_id is not None  # customer_token ran first
    consent = await consents.active(token.consent_id)
    if consent is None:
        raise ConsentNotActive("the consent is not authorised, has expired or has been revoked")
    if consent.client_id != token.client_id or consent.customer_id != token.customer_id:
        raise ConsentOfAnotherParty("the consent was not granted to this client by this customer")
    return consent
