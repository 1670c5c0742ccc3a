"""The refusals of the Account API's consent resource: one class per UK OB error code, each with its
HTTP status; rendered as OBErrorResponse1 in one place (kaimen.errors.render, family OB).

    ApiError
     ├── BadRequest (400)
     │    ├── InvalidFormat        UK.OBIE.Resource.InvalidFormat
     │    ├── FieldMissing         UK.OBIE.Field.Missing
     │    ├── FieldInvalid         UK.OBIE.Field.Invalid
     │    ├── FieldInvalidDate     UK.OBIE.Field.InvalidDate
     │    ├── FieldExpected        UK.OBIE.Field.Expected
     │    ├── FieldUnexpected      UK.OBIE.Field.Unexpected
     │    └── ConsentNotFound      UK.OBIE.Resource.NotFound
     ├── Forbidden (403)
     │    └── ClientCredentialsRequired   (kaimen.apis.token_access, shared by the UK OB APIs)
     └── UnsupportedMediaType (415)

Codes and their meaning: UK OB v3.1.11, References, "Namespaced Enumerations", OBErrorResponseError1Code
(quoted on each class). Every refusal names the JSON path of the field at fault in ``Path``, as that
table asks ("Reference of the invalid field should be provided in the path field").
"""

from __future__ import annotations

from kaimen.errors import ApiError, BadRequest


class InvalidFormat(BadRequest):
    """UK.OBIE.Resource.InvalidFormat (400): "When the Payload schema does not match to the endpoint,
    e.g. ... called with a JSON Payload, which cannot be parsed into a class such as OBWriteDomestic1"."""

    ob_code = "UK.OBIE.Resource.InvalidFormat"


class FieldMissing(BadRequest):
    """UK.OBIE.Field.Missing (400): "A mandatory field, required for the API, is missing from the
    payload"."""

    ob_code = "UK.OBIE.Field.Missing"


class FieldInvalid(BadRequest):
    """UK.OBIE.Field.Invalid (400): "An invalid value is supplied in one of the fields"."""

    ob_code = "UK.OBIE.Field.Invalid"


class FieldInvalidDate(BadRequest):
    """UK.OBIE.Field.InvalidDate (400): "An invalid date is supplied e.g. when a future date is
    expected, a date in past or current date is supplied"."""

    ob_code = "UK.OBIE.Field.InvalidDate"


class FieldExpected(BadRequest):
    """UK.OBIE.Field.Expected (400): "when a field-value is not provided in the payload, that is
    expected in combination with preceding field-value pairs"."""

    ob_code = "UK.OBIE.Field.Expected"


class FieldUnexpected(BadRequest):
    """UK.OBIE.Field.Unexpected (400): "when a field-value is provided in the payload, that is not
    expected"."""

    ob_code = "UK.OBIE.Field.Unexpected"


class ConsentNotFound(BadRequest):
    """UK.OBIE.Resource.NotFound (400): "Returned when a resource with the specified Id does not exist
    (and hence could not be operated upon)": an unknown or deleted ConsentId. Another TPP's consent is
    403 (kaimen.apis.accounts.resource.consent_refusal)."""

    ob_code = "UK.OBIE.Resource.NotFound"


class UnsupportedMediaType(ApiError):
    """415 (listed for POST /account-access-consents in the spec file): the body must be JSON; the
    spec's other request media type, application/jose+jwe, is not accepted by Kaimen."""

    status = 415
    title = "Unsupported media type"
    ob_code = "UK.OBIE.Header.Invalid"
