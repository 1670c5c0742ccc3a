"""The refusals of the Confirmation of Funds API, rendered as OBErrorResponse1 in one place
(kaimen.errors.render, family OB). The codes shared with the Account API are its classes, re-used as
they are (kaimen.apis.accounts.errors, .ais_errors); the ones only this API needs are here.

    BadRequest (400)
     ├── InvalidFormat, FieldMissing, FieldInvalid, FieldInvalidDate, FieldUnexpected, ConsentNotFound
     │                                (kaimen.apis.accounts.errors)
     ├── UnsupportedScheme           UK.OBIE.Unsupported.Scheme
     ├── UnsupportedIdentifier       UK.OBIE.Unsupported.AccountIdentifier
     ├── UnsupportedCurrency         UK.OBIE.Unsupported.Currency
     └── ConsentIdMismatch           UK.OBIE.Resource.ConsentMismatch
    Forbidden (403)
     ├── ClientCredentialsRequired   UK.OBIE.Resource.ConsentMismatch  a PSU's token on the consents
     ├── CustomerTokenRequired       UK.OBIE.Resource.ConsentMismatch  a TPP's own token on confirmations
     ├── ConsentNotActive            UK.OBIE.Resource.InvalidConsentStatus  (kaimen.apis.accounts.ais_errors)
     └── ConsentOfAnotherParty       UK.OBIE.Resource.ConsentMismatch       (kaimen.apis.accounts.ais_errors)
    UnsupportedMediaType (415)       (kaimen.apis.accounts.errors)

Codes: the spec file's OBError1 ErrorCode x-namespaced-enum, meanings from UK OB v3.1.11 References,
"Namespaced Enumerations", OBErrorResponseError1Code (quoted on each class).
"""

from __future__ import annotations

from kaimen.apis.accounts.ais_errors import ConsentNotActive, ConsentOfAnotherParty
from kaimen.apis.accounts.errors import (
    ConsentNotFound,
    FieldInvalid,
    FieldInvalidDate,
    FieldMissing,
    FieldUnexpected,
    InvalidFormat,
    UnsupportedMediaType,
)
from kaimen.apis.token_access import ClientCredentialsRequired, CustomerTokenRequired
from kaimen.errors import BadRequest

CONSENT_MISMATCH = "UK.OBIE.Resource.ConsentMismatch"

__all__ = [
    "ClientCredentialsRequired",
    "ConsentIdMismatch",
    "ConsentNotActive",
    "ConsentNotFound",
    "ConsentOfAnotherParty",
    "CustomerTokenRequired",
    "FieldInvalid",
    "FieldInvalidDate",
    "FieldMissing",
    "FieldUnexpected",
    "InvalidFormat",
    "UnsupportedCurrency",
    "UnsupportedIdentifier",
    "UnsupportedMediaType",
    "UnsupportedScheme",
]


class UnsupportedScheme(BadRequest):
    """UK.OBIE.Unsupported.Scheme (400): "Identification scheme type is not supported". A
    DebtorAccount.SchemeName outside the spec file's x-namespaced-enum (UK.OBIE.BBAN, IBAN, PAN, Paym,
    SortCodeAccountNumber)."""

    ob_code = "UK.OBIE.Unsupported.Scheme"


class UnsupportedIdentifier(BadRequest):
    """UK.OBIE.Unsupported.AccountIdentifier (400): "Account Identifier is unsupported for the given
    scheme". A UK.OBIE.SortCodeAccountNumber Identification that is not the "6 digit UK sort code and
    8 digit account number" (Namespaced Enumerations, OBExternalAccountIdentification4Code)."""

    ob_code = "UK.OBIE.Unsupported.AccountIdentifier"


class UnsupportedCurrency(BadRequest):
    """UK.OBIE.Unsupported.Currency (400): "Currency is not supported". InstructedAmount.Currency is
    well-formed but not the currency of the consent's DebtorAccount (or one the bank keeps at all): a
    funds check across currencies has no answer."""

    ob_code = "UK.OBIE.Unsupported.Currency"


class ConsentIdMismatch(BadRequest):
    """UK.OBIE.Resource.ConsentMismatch (400): "Returned when the resource's consent does not match".
    Data.ConsentId is not the consent the access token was issued for."""

    ob_code = CONSENT_MISMATCH
