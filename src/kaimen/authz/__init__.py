"""The FAPI 2.0 authorization server (issue 3).

errors.py       OAuthError hierarchy (RFC 6749 §5.2 and friends), rendered in one place
sealing.py      encryption at rest of private keys and TOTP seeds (AES-256-GCM)
once.py         one-time values across workers (jti): Redis SET NX, or the database
signing.py      the server's signing keys (PS256, ES256), rotation, JWKS
discovery.py    RFC 8414 / OIDC Discovery metadata and the JWKS endpoint
clients.py      OAuth clients (the TPP applications), their JWKS (inline or jwks_uri)
register.py     dynamic client registration (RFC 7591 / 7592) with software statements
client_auth.py  private_key_jwt (RFC 7523, OIDC Core §9)
dpop.py         DPoP proofs (RFC 9449)
tokens.py       access and refresh tokens: issue, look up, revoke
par.py, authorize.py, requests.py   PAR (RFC 9126) and the authorization endpoint
token.py        the token endpoint and its grants
id_token.py     ID tokens (OIDC Core §2, signed; encrypted when registered)
introspect.py, revoke.py, userinfo.py
"""
