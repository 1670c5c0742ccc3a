"""The FAPI 2.0 authorization server (issue 3).

server.py        builds every part once per process and lists the routes
endpoints.py     where each endpoint lives under the issuer
errors.py        OAuthError hierarchy (RFC 6749 §5.2 and friends); http.py renders it in one place
sealing.py       encryption at rest of private keys and TOTP seeds (AES-256-GCM), derived keys
once.py          one-time values across workers (jti): Redis SET NX, or a primary key
signing.py       the server's signing keys (PS256, ES256), rotation, JWKS
discovery.py     RFC 8414 / OIDC Discovery metadata and the JWKS endpoint
clients*.py      OAuth clients (the TPP applications): metadata, redirect URIs, JWKS (inline or
                 jwks_uri), compact JWS reading
directory.py     the software-statement directory key
register*.py     dynamic client registration (RFC 7591 / 7592) with software statements
client_auth.py   private_key_jwt (RFC 7523, OIDC Core §9, FAPI 2.0 §5.3.2.1)
dpop.py          DPoP proofs (RFC 9449) and server nonces
tokens.py        access and refresh tokens: issue, look up (cached), revoke
requests.py      the authorization request checks PAR and authorize share
pkce.py          RFC 7636, S256 only
pushed.py        stored pushed requests; par.py the PAR endpoint (RFC 9126)
authorize.py     the authorization endpoint; flow.py hands over to the login pages and back
codes.py         authorization codes: one-time, 60 s, bound to client, redirect URI, PKCE, DPoP key
grants.py        authorization_code, refresh_token, client_credentials; token.py the endpoint
id_token.py      ID tokens (OIDC Core §2, signed; encrypted when registered)
subject.py       pairwise subjects: stable per TPP, never the bank's internal id
introspect.py, revoke.py, userinfo.py   RFC 7662, RFC 7009, OIDC Core §5.3
ports.py         the small interfaces the flow needs from the other parts
"""
