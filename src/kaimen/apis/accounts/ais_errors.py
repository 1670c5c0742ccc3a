"""The refusals of the AIS resources (UK OB v3.1.11 Account and Transaction API), rendered as
OBErrorResponse1 in one place (kaimen.errors.render, family OB).

    Forbidden (403)
     ├── CustomerTokenRequired   UK.OBIE.Resource.ConsentMismatch   a token without customer or consent
     │                           (kaimen.apis.token_access, shared by the UK OB APIs)
     ├── ConsentNotActive        UK.OBIE.Resource.InvalidConsentStatus   not Authorised, expired, gone
     ├── ConsentOfAnotherParty        UK.OBIE.Resource.ConsentMismatch   the consent is another client's or
     │                                                              another customer's
     └── AccountNotInConsent     UK.OBIE.Resource.ConsentMismatch   an AccountId the consent does not name
    NotFound (404)
     └── NoConsentAccount        UK.OBIE.Resource.NotFound          none of the consent's accounts is left

The 400s (``UK.OBIE.Field.InvalidDate``, ``UK.OBIE.Field.Invalid``) are the consent resource's own
classes (kaimen.apis.accounts.errors); the missing permission is ``ais_permissions.PermissionNotGranted``.
"""

from __future__ import annotations

from kaimen.apis.token_access import CONSENT_MISMATCH
from kaimen.errors import Forbidden, NotFound


class ConsentNotActive(Forbidden):
    """UK.OBIE.Resource.InvalidConsentStatus (403): "Returned when the resource's consent status is
    invalid". The consent is not Authorised, has passed its ExpirationDateTime, or is gone (checked on
    every call: a revocation or expiry stops access at once)."""

    ob_code = "UK.OBIE.Resource.InvalidConsentStatus"


class ConsentOfAnotherParty(Forbidden):
    """UK.OBIE.Resource.ConsentMismatch (403): the consent the token names was authorised for another
    client or another customer than the token's; or a TPP named another TPP's ConsentId (Read/Write
    Data API Profile, "403 (Forbidden)": "The TPP attempted to access a resource with an Id that it
    does not have access to")."""

    ob_code = CONSENT_MISMATCH


class AccountNotInConsent(Forbidden):
    """403: the AccountId is not among the accounts the PSU chose for this consent. One answer, word for
    word, whether the account is another customer's, the same customer's but not chosen, malformed or
    unknown: no TPP learns that an AccountId exists (broken object-level authorisation, issue 4)."""

    ob_code = CONSENT_MISMATCH


class NoConsentAccount(NotFound):
    """404 (listed for GET /balances in the spec file): none of the accounts the consent names is still
    the customer's, and OBReadBalance1 cannot be empty (``minItems`` 1)."""

    ob_code = "UK.OBIE.Resource.NotFound"
