"""The refusals of the Payment Initiation API, rendered as OBErrorResponse1 in one place
(kaimen.errors.render, family OB). Codes shared with the Account and Funds APIs are their classes,
re-used as they are; the signature refusals are kaimen.jws.errors; the ones only this API needs are
here.

    BadRequest (400)
     ├── InvalidFormat, FieldMissing, FieldInvalid, FieldInvalidDate, FieldUnexpected, ConsentNotFound
     │                                 (kaimen.apis.accounts.errors)
     ├── UnsupportedScheme, UnsupportedIdentifier, UnsupportedCurrency   (kaimen.apis.funds.errors)
     ├── UnsupportedLocalInstrument    UK.OBIE.Unsupported.LocalInstrument
     ├── IdempotencyKeyMissing         UK.OBIE.Header.Missing
     ├── IdempotencyKeyInvalid         UK.OBIE.Header.Invalid
     ├── IdempotencyKeyReused          UK.OBIE.Header.Invalid
     ├── PaymentConsentMismatch        UK.OBIE.Resource.ConsentMismatch
     └── PaymentNotFound               UK.OBIE.Resource.NotFound
    Forbidden (403)
     ├── ClientCredentialsRequired     UK.OBIE.Resource.ConsentMismatch
     ├── CustomerTokenRequired         UK.OBIE.Resource.ConsentMismatch
     ├── ConsentNotActive              UK.OBIE.Resource.InvalidConsentStatus
     ├── ConsentOfAnotherParty         UK.OBIE.Resource.ConsentMismatch
     └── PaymentOfAnotherParty         UK.OBIE.Resource.ConsentMismatch
    UnsupportedMediaType (415)         (kaimen.apis.accounts.errors)

Codes: payment-initiation-openapi.json, OBError1 ErrorCode x-namespaced-enum; meanings from UK OB
v3.1.11 References, "Namespaced Enumerations", OBErrorResponseError1Code.
"""

from __future__ import annotations

from kaimen.apis.accounts.errors import (
    ConsentNotFound,
    FieldInvalid,
    FieldInvalidDate,
    FieldMissing,
    FieldUnexpected,
    InvalidFormat,
    UnsupportedMediaType,
)
from kaimen.apis.funds.errors import (
    ConsentNotActive,
    ConsentOfAnotherParty,
    UnsupportedCurrency,
    UnsupportedIdentifier,
    UnsupportedScheme,
)
from kaimen.apis.token_access import ClientCredentialsRequired, CustomerTokenRequired
from kaimen.errors import BadRequest, Forbidden

CONSENT_MISMATCH = "UK.OBIE.Resource.ConsentMismatch"
IDEMPOTENCY_HEADER = "x-idempotency-key"

__all__ = [
    "ClientCredentialsRequired",
    "ConsentNotActive",
    "ConsentNotFound",
    "ConsentOfAnotherParty",
    "CustomerTokenRequired",
    "FieldInvalid",
    "FieldInvalidDate",
    "FieldMissing",
    "FieldUnexpected",
    "IdempotencyKeyInvalid",
    "IdempotencyKeyMissing",
    "IdempotencyKeyReused",
    "InvalidFormat",
    "PaymentConsentMismatch",
    "PaymentNotFound",
    "PaymentOfAnotherParty",
    "UnsupportedCurrency",
    "UnsupportedIdentifier",
    "UnsupportedLocalInstrument",
    "UnsupportedMediaType",
    "UnsupportedScheme",
]


class UnsupportedLocalInstrument(BadRequest):
    """UK.OBIE.Unsupported.LocalInstrument: "Local Instrument is not supported by the ASPSP". An
    Initiation.LocalInstrument outside the spec file's OBExternalLocalInstrument1Code
    x-namespaced-enum."""

    ob_code = "UK.OBIE.Unsupported.LocalInstrument"


class IdempotencyKeyMissing(BadRequest):
    """UK.OBIE.Header.Missing: "Missing required HTTP header". The spec file's x-idempotency-key
    parameter is ``required: true``."""

    ob_code = "UK.OBIE.Header.Missing"


class IdempotencyKeyInvalid(BadRequest):
    """UK.OBIE.Header.Invalid: "An invalid value is supplied in the HTTP request header". The spec
    file's x-idempotency-key schema: ``maxLength: 40``, ``pattern: ^(?!\\s)(.*)(\\S)$``."""

    ob_code = "UK.OBIE.Header.Invalid"


class IdempotencyKeyReused(BadRequest):
    """UK.OBIE.Header.Invalid: the key was used by this TPP on this endpoint within 24 hours for
    another request body. Read/Write Data API Profile v3.1.11, "Idempotency": "The TPP must not
    change the request body while using the same x-idempotency-key. If the TPP changes the request
    body, the ASPSP must not modify the end resource"; the value of the header is what is at fault."""

    ob_code = "UK.OBIE.Header.Invalid"


class PaymentConsentMismatch(BadRequest):
    """UK.OBIE.Resource.ConsentMismatch (400): the payment is not the one the consent holds. UK OB
    v3.1.11 Domestic Payments, POST /domestic-payments: "The PISP must ensure that the Initiation and
    Risk sections of the domestic-payment match the corresponding Initiation and Risk sections of the
    domestic-payment-consent resource. If the two do not match, the ASPSP must not process the request
    and must respond with a 400 (Bad Request)". Also when what the customer approved with SCA (the
    consent's approved digest, kaimen.apis.payments.intents) is not what would be paid."""

    ob_code = CONSENT_MISMATCH


class PaymentNotFound(BadRequest):
    """UK.OBIE.Resource.NotFound (400): "Returned when a resource with the specified Id does not exist
    (and hence could not be operated upon)"."""

    ob_code = "UK.OBIE.Resource.NotFound"


class PaymentOfAnotherParty(Forbidden):
    """403: a DomesticPaymentId that another TPP created. Read/Write Data API Profile, "403 (Forbidden)":
    "When a TPP tries to access a resource that it does not have permission to access, the ASPSP must
    return a 403 (Forbidden)", e.g. "The TPP attempted to access a resource with an Id that it does not
    have access to". It says that much and nothing of the payment."""

    ob_code = CONSENT_MISMATCH
