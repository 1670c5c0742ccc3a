"""Where each endpoint of the authorization server lives, relative to the public base URL."""

from __future__ import annotations

AUTHORIZE = "/oauth2/authorize"
PAR = "/oauth2/par"
TOKEN = "/oauth2/token"  # noqa: S105 (a path, not a secret)
JWKS = "/oauth2/jwks"
REGISTER = "/oauth2/register"
INTROSPECT = "/oauth2/introspect"
REVOKE = "/oauth2/revoke"
USERINFO = "/oauth2/userinfo"
LOGIN = "/login"  # the login, SCA and consent pages live under here
OPENID_CONFIGURATION = "/.well-known/openid-configuration"
OAUTH_METADATA = "/.well-known/oauth-authorization-server"
