"""Who may read what, on every AIS call: the steps that run before the core is asked anything.

    customer_token    the token is the PSU's: it carries a customer and a consent id
    active_consent    the consent is Authorised and unexpired (read afresh on every call, never cached,
                      so a revocation, deletion or expiry stops access at once), and it is this
                      client's and this customer's
    Grant.require     its permissions open the endpoint (kaimen.apis.accounts.ais_permissions)
    Access.account    object-level: the AccountId is one the PSU chose for this consent

Before these the gateway has checked the DPoP-bound token, its proof and its scope ``accounts``
(kaimen.gateway.dpop_auth). Account and Transaction API Profile, "Consent Authorisation": the ASPSP
serves only "the accounts ... the PSU has selected" within the consent's permissions.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Protocol, TypeVar

from starlette.requests import Request

from kaimen.apis.accounts.ais_errors import (
    AccountNotInConsent,
    ConsentNotActive,
    ConsentOfAnotherParty,
)
from kaimen.apis.accounts.ais_permissions import Endpoint, Grant
from kaimen.apis.accounts.consents import AccountAccessConsents, Consent
from kaimen.apis.token_access import customer_token_of
from kaimen.authz.tokens import AccessToken

ACCOUNT_ID = "AccountId"


@dataclass(frozen=True, slots=True)
class Access:
    """What this call may read: the customer's data, through this consent, as its grant shapes it."""

    customer_id: str
    consent: Consent
    grant: Grant

    def account(self, account_id: str) -> str:
        """``account_id`` when the PSU chose it for this consent. Anything else, existing or not, the
        customer's or not, well-formed or not, gets the one refusal, without the core being asked."""
        if account_id not in self.consent.account_ids:
            raise account_refused()
        return account_id


def account_refused() -> AccountNotInConsent:
    """The one refusal of an AccountId; also for a chosen account the core no longer finds among the
    customer's (``AccountNotFound``), so that case reads the same."""
    return AccountNotInConsent("the consent does not grant access to this account", path=ACCOUNT_ID)


def customer_token(request: Request) -> AccessToken:
    """The PSU's token: a client_credentials token (no customer, no consent) reads no account data."""
    return customer_token_of(request, "account information")


class HeldConsent(Protocol):
    @property
    def client_id(self) -> str: ...
    @property
    def customer_id(self) -> str | None: ...


HeldT = TypeVar("HeldT", bound=HeldConsent, covariant=True)


class ActiveConsents(Protocol[HeldT]):
    async def active(self, consent_id: str) -> HeldT | None: ...  # Authorised and unexpired, or None


async def active_consent(consents: ActiveConsents[HeldT], token: AccessToken) -> HeldT:
    """The token's consent, Authorised and unexpired now, granted to this client by this customer. The
    Confirmation of Funds API runs the same step on its consents (kaimen.apis.funds.access)."""
    assert token.consent_id is not None  # customer_token ran first
    consent = await consents.active(token.consent_id)
    if consent is None:
        raise ConsentNotActive("the consent is not authorised, has expired or has been revoked")
    if consent.client_id != token.client_id or consent.customer_id != token.customer_id:
        raise ConsentOfAnotherParty("the consent was not granted to this client by this customer")
    return consent


@functools.lru_cache(maxsize=256)
def grant_of(permissions: tuple[str, ...]) -> Grant:
    """The Grant of a consent's permissions. A Grant is immutable and a function of the codes alone,
    and consents share a handful of permission sets, so each is built (and checked) once; the consent
    itself is still read on every call."""
    return Grant.of(permissions)


async def authorised(request: Request, consents: AccountAccessConsents, endpoint: Endpoint) -> Access:
    """The pipeline every AIS endpoint runs first, in this order."""
    token = customer_token(request)
    consent = await active_consent(consents, token)
    grant = grant_of(consent.permissions)
    grant.require(endpoint)
    assert token.customer_id is not None
    return Access(token.customer_id, consent, grant)
