"""OAuth 2.0 errors, one class per error code, rendered in one place.

RFC 6749 §5.2: ``error_description`` is "Human-readable ASCII text ... Values for the
"error_description" parameter MUST NOT include characters outside the set %x20-21 / %x23-5B / %x5D-7E"
(no double quote, no backslash). It is never translated. Anything unexpected is a bare server_error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import orjson

_ALLOWED = re.compile(r"[^\x20-\x21\x23-\x5b\x5d-\x7e]")


def ascii_description(text: str) -> str:
    """Squeeze ``text`` into the RFC 6749 §5.2 character set."""
    return _ALLOWED.sub("?", text.replace('"', "'").replace("\\", "/"))[:500]


class OAuthError(Exception):
    error: str = "server_error"
    status: int = 400
    default_description: str = "The request could not be processed"

    def __init__(self, description: str | None = None, *, headers: Mapping[str, str] | None = None) -> None:
        self.description = ascii_description(description or self.default_description)
        self.headers = dict(headers or {})
        super().__init__(f"{self.error}: {self.description}")

    def body(self) -> bytes:
        return orjson.dumps({"error": self.error, "error_description": self.description})


class InvalidRequest(OAuthError):
    """RFC 6749 §5.2 / §4.1.2.1 invalid_request."""

    error = "invalid_request"


class InvalidClient(OAuthError):
    """RFC 6749 §5.2 invalid_client: client authentication failed (401)."""

    error = "invalid_client"
    status = 401


class InvalidGrant(OAuthError):
    """RFC 6749 §5.2 invalid_grant."""

    error = "invalid_grant"


class UnauthorizedClient(OAuthError):
    """RFC 6749 §5.2 unauthorized_client."""

    error = "unauthorized_client"


class UntrustedClient(UnauthorizedClient):
    """The client of an authorization request is unknown, or its application is no longer approved
    (suspended, revoked, deleted). RFC 6749 §4.1.2.1: "if the client identifier is missing or invalid,
    the authorization server SHOULD inform the resource owner of the error and MUST NOT automatically
    redirect the user-agent". Never sent to the client: the customer is shown an error page."""


class UnsupportedGrantType(OAuthError):
    """RFC 6749 §5.2 unsupported_grant_type."""

    error = "unsupported_grant_type"


class UnsupportedResponseType(OAuthError):
    """RFC 6749 §4.1.2.1 unsupported_response_type."""

    error = "unsupported_response_type"


class InvalidScope(OAuthError):
    """RFC 6749 §5.2 invalid_scope."""

    error = "invalid_scope"


class AccessDenied(OAuthError):
    """RFC 6749 §4.1.2.1 access_denied: the customer (or the bank) refused."""

    error = "access_denied"
    status = 403


class LoginRequired(OAuthError):
    """OIDC Core §3.1.2.6 login_required: "The Authorization Server requires End-User authentication.
    This error MAY be returned when the prompt parameter value in the Authentication Request is none,
    but the Authentication Request cannot be completed without displaying a user interface for End-User
    authentication." """

    error = "login_required"


class InvalidRequestUri(OAuthError):
    """RFC 9101 §7 / RFC 9126 §4 invalid_request_uri."""

    error = "invalid_request_uri"


class InvalidRequestObject(OAuthError):
    """RFC 9101 §7 invalid_request_object."""

    error = "invalid_request_object"


class RequestNotSupported(OAuthError):
    """OIDC Core §3.1.2.6 request_not_supported: request objects (the ``request`` parameter) are not
    supported (discovery says request_parameter_supported: false)."""

    error = "request_not_supported"


class InvalidDpopProof(OAuthError):
    """RFC 9449 §5/§7.1 invalid_dpop_proof."""

    error = "invalid_dpop_proof"


class UseDpopNonce(OAuthError):
    """RFC 9449 §8 use_dpop_nonce (carries a DPoP-Nonce header)."""

    error = "use_dpop_nonce"


class InvalidToken(OAuthError):
    """RFC 6750 §3.1 invalid_token (401, with a WWW-Authenticate challenge)."""

    error = "invalid_token"
    status = 401


class InsufficientScope(OAuthError):
    """RFC 6750 §3.1 insufficient_scope."""

    error = "insufficient_scope"
    status = 403


class InvalidClientMetadata(OAuthError):
    """RFC 7591 §3.2.2 invalid_client_metadata."""

    error = "invalid_client_metadata"


class InvalidRedirectUri(OAuthError):
    """RFC 7591 §3.2.2 invalid_redirect_uri."""

    error = "invalid_redirect_uri"


class InvalidSoftwareStatement(OAuthError):
    """RFC 7591 §3.2.2 invalid_software_statement."""

    error = "invalid_software_statement"


class UnapprovedSoftwareStatement(OAuthError):
    """RFC 7591 §3.2.2 unapproved_software_statement."""

    error = "unapproved_software_statement"


class ServerError(OAuthError):
    """RFC 6749 §4.1.2.1 server_error: nothing about internals."""

    error = "server_error"
    status = 500
    default_description = "The server could not process the request"


class TemporarilyUnavailable(OAuthError):
    error = "temporarily_unavailable"
    status = 503


# Every code an OAuthError can carry: the label values the metrics accept (kaimen.gateway.metrics).
_CLASSES: list[type[OAuthError]] = [OAuthError, *OAuthError.__subclasses__()]
ERROR_CODES = frozenset(cls.error for cls in _CLASSES)
