"""Which URIs a client may register: redirect URIs (matched exactly later) and its other web URIs.

RFC 6749 §3.1.2: "The redirection endpoint URI MUST be an absolute URI ... The endpoint URI MUST NOT
include a fragment component." RFC 9700 §2.1 and FAPI 2.0 §5.3.2.2 ask for exact string matching,
which :meth:`kaimen.authz.clients.Client.has_redirect_uri` does; registration keeps each URI as sent.

FAPI 2.0 §5.2.1 requires TLS everywhere, so URIs are https. The one deviation is the sandbox contract
(DESIGN.md, "Plain HTTP on loopback is a sandbox-only deviation"): in embedded mode, plain http is
accepted for the loopback hosts 127.0.0.1, [::1] and localhost, so demo TPPs and test tools on the same
machine need no certificate. Production mode refuses it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from kaimen.authz.errors import InvalidClientMetadata, InvalidRedirectUri, OAuthError
from kaimen.settings import Mode, Settings

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
MAX_URI_LENGTH = 2000
MAX_REDIRECT_URIS = 10


def _problem(uri: Any, settings: Settings) -> str | None:
    """Why ``uri`` may not be registered, or None when it may."""
    if not isinstance(uri, str) or not uri or len(uri) > MAX_URI_LENGTH:
        return "must be a non-empty string of at most 2000 characters"
    if any(ch.isspace() or ord(ch) < 0x21 or ord(ch) > 0x7E for ch in uri):
        return "must be ASCII without spaces"
    try:
        parts = urlsplit(uri)
        host = parts.hostname
        parts.port  # noqa: B018 (raises ValueError on a malformed port)
    except ValueError:
        return "is not a valid URI"
    if "#" in uri:
        return "must not include a fragment (RFC 6749 section 3.1.2)"
    if not parts.scheme or not host:
        return "must be an absolute URI with a host"
    if parts.username is not None or parts.password is not None:
        return "must not carry user information"
    if parts.scheme == "https":
        return None
    if parts.scheme == "http" and host in LOOPBACK_HOSTS:
        if settings.mode is Mode.EMBEDDED:
            return None
        return "must use https: plain http on loopback is allowed in the sandbox (embedded mode) only"
    return "must use https"


def _check(uri: Any, what: str, settings: Settings, error: type[OAuthError]) -> str:
    problem = _problem(uri, settings)
    if problem is not None:
        raise error(f"{what} {problem}")
    assert isinstance(uri, str)
    return uri


def check_web_uri(uri: Any, what: str, settings: Settings) -> str:
    """A client URI other than a redirect URI (jwks_uri, logo_uri, ...): same rules, other error code."""
    return _check(uri, what, settings, InvalidClientMetadata)


def check_redirect_uris(uris: list[str], settings: Settings, *, required: bool) -> list[str]:
    """RFC 7591 §3.2.2 invalid_redirect_uri: "The value of one or more redirection URIs is invalid"."""
    if required and not uris:
        raise InvalidRedirectUri("redirect_uris are required for the authorization_code grant")
    if len(uris) > MAX_REDIRECT_URIS:
        raise InvalidRedirectUri(f"at most {MAX_REDIRECT_URIS} redirect_uris may be registered")
    return [_check(uri, "redirect_uri", settings, InvalidRedirectUri) for uri in uris]
