"""The refusals of a request's ``x-jws-signature``: 400 with OBErrorResponse1, rendered in one place
(kaimen.errors.render, family OB). ``Path`` names the header, or the JOSE header claim at fault, as the
code table asks ("The name of the missing claim must be specified in the path field").

    BadRequest (400)
     ├── SignatureMissing        UK.OBIE.Signature.Missing
     ├── SignatureMalformed      UK.OBIE.Signature.Malformed
     ├── SignatureMissingClaim   UK.OBIE.Signature.MissingClaim
     ├── SignatureInvalidClaim   UK.OBIE.Signature.InvalidClaim
     ├── SignatureInvalid        UK.OBIE.Signature.Invalid
     └── SignatureUnexpected     UK.OBIE.Signature.Unexpected

Codes: payment-initiation-openapi.json, components/schemas/OBError1 ErrorCode x-namespaced-enum;
meanings from UK OB v3.1.11 References, "Namespaced Enumerations", OBErrorResponseError1Code (quoted
on each class).
"""

from __future__ import annotations

from kaimen.errors import BadRequest

HEADER = "x-jws-signature"


class SignatureMissing(BadRequest):
    """UK.OBIE.Signature.Missing: "The API request expected an x-jws-signature in the header, but it
    was missing"."""

    ob_code = "UK.OBIE.Signature.Missing"


class SignatureMalformed(BadRequest):
    """UK.OBIE.Signature.Malformed: "The x-jws-signature in the request header was malformed and
    could not be parsed as a valid JWS"."""

    ob_code = "UK.OBIE.Signature.Malformed"


class SignatureMissingClaim(BadRequest):
    """UK.OBIE.Signature.MissingClaim: "The JOSE header in the x-jws-signature has one or more
    mandatory claim(s) that are not specified"."""

    ob_code = "UK.OBIE.Signature.MissingClaim"


class SignatureInvalidClaim(BadRequest):
    """UK.OBIE.Signature.InvalidClaim: "The JOSE header in the x-jws-signature has one or more claims
    with an invalid value (e.g. a kid that does not resolve to a valid certificate)"."""

    ob_code = "UK.OBIE.Signature.InvalidClaim"


class SignatureInvalid(BadRequest):
    """UK.OBIE.Signature.Invalid: "The signature header x-jws-signature was parsed and has a valid
    JOSE header that complies with the specification. However, the signature itself could not be
    verified"."""

    ob_code = "UK.OBIE.Signature.Invalid"


class SignatureUnexpected(BadRequest):
    """UK.OBIE.Signature.Unexpected: "The API did not expect an x-jws-signature in the header, but it
    was present" (a GET has no body to sign)."""

    ob_code = "UK.OBIE.Signature.Unexpected"
