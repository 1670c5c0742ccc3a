"""The one place where an ApiError becomes an HTTP response, per API family (DESIGN.md, "Errors")."""

from __future__ import annotations

from enum import StrEnum

import orjson

from kaimen.errors import ApiError

# UK Open Data v2 Swagger files: these statuses have a fixed title and description (enum in the schema).
OPENDATA_FIXED: dict[int, tuple[str, str]] = {
    400: ("Bad request", "You have sent a request which could not be understood."),
    408: ("Client timeout", "Your client has failed to submit a request, and a timeout has occurred."),
    429: ("Too many requests", "You have requested this resource too often. Slow down."),
    500: ("Internal server error", "An error occurred on the server. No further information is available."),
    503: ("Service temporarily unavailable", "The service is temporarily unavailable."),
}

# The Open Data "default" error object carries these texts for the statuses the gateway adds.
OPENDATA_DEFAULT: dict[int, tuple[str, str]] = {
    401: ("Unauthorized", "A valid API key is required to access this resource."),
    403: ("Forbidden", "Your application is not admitted to the access tier of this resource."),
    404: ("Not found", "The requested resource does not exist."),
    405: ("Method not allowed", "This resource does not support the request method."),
    406: ("Not acceptable", "This resource cannot be represented in the requested media type."),
    412: ("Precondition failed", "A precondition in the request headers does not hold for this resource."),
    413: ("Payload too large", "The request body is larger than this resource accepts."),
    431: ("Request header fields too large", "The request headers are larger than this resource accepts."),
}


class Family(StrEnum):
    OPENDATA = "opendata"  # UK Open Data v2 error object
    OB = "ob"  # UK OB v3.1.11 OBErrorResponse1
    OAUTH = "oauth"  # RFC 6749 §5.2 error object (authorization server endpoints)
    PLAIN = "plain"  # operator endpoints and pages: a small JSON object


_OB_CODE = {
    400: "400 BadRequest",
    401: "401 Unauthorized",
    403: "403 Forbidden",
    404: "404 NotFound",
    405: "405 MethodNotAllowed",
    406: "406 NotAcceptable",
    408: "408 RequestTimeout",
    412: "412 PreconditionFailed",
    413: "413 PayloadTooLarge",
    415: "415 UnsupportedMediaType",
    429: "429 TooManyRequests",
    431: "431 HeadersTooLarge",
    500: "500 InternalError",
    503: "503 ServiceUnavailable",
}


# Every ErrorCode UK OB v3.1.11 defines: OBError1 ErrorCode's x-namespaced-enum, the same in the account,
# payment and funds OpenAPI files.
OB_ERROR_CODES = frozenset(
    {
        "UK.OBIE.Field.Expected",
        "UK.OBIE.Field.Invalid",
        "UK.OBIE.Field.InvalidDate",
        "UK.OBIE.Field.Missing",
        "UK.OBIE.Field.Unexpected",
        "UK.OBIE.Header.Invalid",
        "UK.OBIE.Header.Missing",
        "UK.OBIE.Reauthenticate",
        "UK.OBIE.Resource.ConsentMismatch",
        "UK.OBIE.Resource.InvalidConsentStatus",
        "UK.OBIE.Resource.InvalidFormat",
        "UK.OBIE.Resource.NotFound",
        "UK.OBIE.Rules.AfterCutOffDateTime",
        "UK.OBIE.Rules.DuplicateReference",
        "UK.OBIE.Signature.Invalid",
        "UK.OBIE.Signature.InvalidClaim",
        "UK.OBIE.Signature.Malformed",
        "UK.OBIE.Signature.Missing",
        "UK.OBIE.Signature.MissingClaim",
        "UK.OBIE.Signature.Unexpected",
        "UK.OBIE.UnexpectedError",
        "UK.OBIE.Unsupported.AccountIdentifier",
        "UK.OBIE.Unsupported.AccountSecondaryIdentifier",
        "UK.OBIE.Unsupported.Currency",
        "UK.OBIE.Unsupported.Frequency",
        "UK.OBIE.Unsupported.LocalInstrument",
        "UK.OBIE.Unsupported.Scheme",
    }
)


def error_code(family: Family, error: ApiError) -> str | None:
    """The standard code ``error`` is answered with in ``family``: the OBError1 ErrorCode, or the RFC 6749
    §5.2 ``error``; None for the families whose error object has no code (Open Data v2, plain)."""
    if family is Family.OB:
        return error.ob_code
    if family is Family.OAUTH:
        return _oauth_code(error.status)
    return None


def _oauth_code(status: int) -> str:
    """The gateway's own refusals (size limits, rate limits) in the RFC 6749 §5.2 shape."""
    if status == 500:
        return "server_error"
    return "temporarily_unavailable" if status in (429, 503) else "invalid_request"


def render(
    family: Family, error: ApiError, interaction_id: str, media_type: str | None = None
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Status, headers and body of ``error`` in ``family``'s format. Never includes internal detail."""
    status = error.status
    headers = [(k.lower().encode(), v.encode()) for k, v in error.headers.items()]
    if family is Family.OPENDATA:
        title, description = OPENDATA_FIXED.get(status) or OPENDATA_DEFAULT.get(
            status, (error.title, error.detail)
        )
        body = {"status": str(status), "title": title, "description": description}
        content_type = media_type or "application/json"
    elif family is Family.OB:
        item: dict[str, str] = {"ErrorCode": error.ob_code, "Message": error.detail[:500]}
        if error.path:
            item["Path"] = error.path
        body_ob: dict[str, object] = {
            "Code": _OB_CODE.get(status, f"{status} Error"),
            "Id": interaction_id[:40],
            "Message": error.title,
            "Errors": [item],
        }
        body = body_ob  # type: ignore[assignment]
        content_type = "application/json; charset=utf-8"
    elif family is Family.OAUTH:
        body = {"error": _oauth_code(status), "error_description": error.title}
        content_type = "application/json"
    else:
        body = {"status": str(status), "title": error.title, "description": error.detail}
        content_type = "application/json"
    headers.append((b"content-type", content_type.encode()))
    return status, headers, orjson.dumps(body)
