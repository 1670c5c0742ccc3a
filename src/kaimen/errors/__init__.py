"""Errors of the API gateway and the APIs behind it, and their rendering per API family.

    ApiError                    an HTTP refusal the caller may learn about (status + public text)
     ├── BadRequest             400  (malformed input; an API key in the query string)
     ├── Unauthorized           401  (no, unknown or revoked credential)
     ├── Forbidden              403  (tier or scope does not admit the caller)
     ├── NotFound               404
     ├── MethodNotAllowed       405
     ├── NotAcceptable          406
     ├── RequestTimeout         408  (the body did not arrive in time)
     ├── PreconditionFailed     412  (If-Match / If-Unmodified-Since false, RFC 9110 §13.2.2)
     ├── PayloadTooLarge        413
     ├── HeadersTooLarge        431
     ├── TooManyRequests        429
     ├── ServiceUnavailable     503
     └── InternalError          500  (never carries internal detail)

Each family (Open Data v2, UK OB v3.1.11 OBErrorResponse1) renders these in its own shape, in one
place: ``kaimen.errors.render``. The OAuth endpoints have their own hierarchy (RFC 6749 §5.2).
"""

from __future__ import annotations

from collections.abc import Mapping


class ApiError(Exception):
    status: int = 500
    title: str = "Internal server error"
    # Low-level UK OB error code used when the family is OBErrorResponse1.
    ob_code: str = "UK.OBIE.UnexpectedError"

    def __init__(
        self,
        detail: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        ob_code: str | None = None,
        path: str | None = None,
    ) -> None:
        self.detail = detail or self.title
        self.headers = dict(headers or {})
        if ob_code:
            self.ob_code = ob_code
        self.path = path
        super().__init__(self.detail)


class BadRequest(ApiError):
    status = 400
    title = "Bad request"
    ob_code = "UK.OBIE.Field.Invalid"


class Unauthorized(ApiError):
    status = 401
    title = "Unauthorized"
    ob_code = "UK.OBIE.Header.Missing"


class Forbidden(ApiError):
    status = 403
    title = "Forbidden"
    ob_code = "UK.OBIE.Resource.InvalidConsentStatus"


class NotFound(ApiError):
    status = 404
    title = "Not found"
    ob_code = "UK.OBIE.Resource.NotFound"


class MethodNotAllowed(ApiError):
    status = 405
    title = "Method not allowed"
    ob_code = "UK.OBIE.UnexpectedError"


class NotAcceptable(ApiError):
    status = 406
    title = "Not acceptable"
    ob_code = "UK.OBIE.Header.Invalid"


class RequestTimeout(ApiError):
    """RFC 9110 §15.5.9: the server "did not receive a complete request message within the time that
    it was prepared to wait"; the connection is closed after it (the rest of the body may still come)."""

    status = 408
    title = "Request timeout"
    ob_code = "UK.OBIE.UnexpectedError"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail, headers={"Connection": "close"})


class PreconditionFailed(ApiError):
    """RFC 9110 §15.5.13: "one or more conditions given in the request header fields evaluated to false
    when tested on the server" (If-Match §13.1.1, If-Unmodified-Since §13.1.4)."""

    status = 412
    title = "Precondition failed"
    ob_code = "UK.OBIE.UnexpectedError"


class PayloadTooLarge(ApiError):
    status = 413
    title = "Payload too large"
    ob_code = "UK.OBIE.Field.Invalid"


class HeadersTooLarge(ApiError):
    status = 431
    title = "Request header fields too large"
    ob_code = "UK.OBIE.Header.Invalid"


class TooManyRequests(ApiError):
    status = 429
    title = "Too many requests"
    ob_code = "UK.OBIE.UnexpectedError"


class ServiceUnavailable(ApiError):
    status = 503
    title = "Service temporarily unavailable"
    ob_code = "UK.OBIE.UnexpectedError"


class InternalError(ApiError):
    status = 500
    title = "Internal server error"
    ob_code = "UK.OBIE.UnexpectedError"
