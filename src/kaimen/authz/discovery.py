"""Authorization server metadata (RFC 8414 §2, OIDC Discovery 1.0 §3) and the JWKS.

It advertises exactly what Kaimen does (FAPI 2.0 Security Profile §5.3.1/§5.3.2): the code flow only,
PAR required, PKCE S256 only, private_key_jwt only (PS256, ES256), DPoP (PS256, ES256, and EdDSA with
Ed25519 keys only, FAPI 2.0 §5.4.1), the iss authorization response parameter (RFC 9207), the claims
parameter, and the UK OB acr values. The UserInfo endpoint answers plain JSON only, so no
``userinfo_signing_alg_values_supported`` is published (OIDC Discovery §3 lists it as OPTIONAL; naming
algorithms would claim signed responses Kaimen never produces).
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from kaimen.authz import acr, endpoints
from kaimen.authz.requests import PROMPTS
from kaimen.authz.signing import JWKS_MAX_AGE_SECONDS, SigningKeys

SIGNING_ALGS = ["PS256", "ES256"]
DPOP_ALGS = ["PS256", "ES256", "EdDSA"]
ACR_VALUES = list(acr.SUPPORTED)


def metadata(issuer: str, consent_scopes: list[str]) -> dict[str, Any]:
    """``consent_scopes``: the kinds of consent this bank serves (a scope it would refuse at PAR is
    not advertised)."""
    return {
        "issuer": issuer,
        "authorization_endpoint": issuer + endpoints.AUTHORIZE,
        "pushed_authorization_request_endpoint": issuer + endpoints.PAR,
        "require_pushed_authorization_requests": True,
        "token_endpoint": issuer + endpoints.TOKEN,
        "jwks_uri": issuer + endpoints.JWKS,
        "registration_endpoint": issuer + endpoints.REGISTER,
        "introspection_endpoint": issuer + endpoints.INTROSPECT,
        "revocation_endpoint": issuer + endpoints.REVOKE,
        "userinfo_endpoint": issuer + endpoints.USERINFO,
        "scopes_supported": ["openid", *consent_scopes],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["pairwise"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": SIGNING_ALGS,
        "introspection_endpoint_auth_methods_supported": ["private_key_jwt"],
        "introspection_endpoint_auth_signing_alg_values_supported": SIGNING_ALGS,
        "revocation_endpoint_auth_methods_supported": ["private_key_jwt"],
        "revocation_endpoint_auth_signing_alg_values_supported": SIGNING_ALGS,
        "dpop_signing_alg_values_supported": DPOP_ALGS,
        "authorization_response_iss_parameter_supported": True,
        "claims_parameter_supported": True,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": True,
        "require_request_uri_registration": False,
        "claims_supported": [
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "acr",
            "amr",
            "openbanking_intent_id",
        ],
        "acr_values_supported": ACR_VALUES,
        # Initiating User Registration via OpenID Connect 1.0, Discovery Metadata: the prompt values served.
        "prompt_values_supported": list(PROMPTS),
        "id_token_signing_alg_values_supported": SIGNING_ALGS,
        "id_token_encryption_alg_values_supported": ["RSA-OAEP-256"],
        "id_token_encryption_enc_values_supported": ["A256GCM"],
        "tls_client_certificate_bound_access_tokens": False,
    }


def discovery_routes(issuer: str, keys: SigningKeys, consent_scopes: list[str]) -> list[Route]:
    body = orjson.dumps(metadata(issuer, consent_scopes))

    async def configuration(request: Request) -> Response:
        return Response(body, media_type="application/json", headers={"cache-control": "max-age=3600"})

    async def jwks(request: Request) -> Response:
        await keys.refresh()
        return Response(
            orjson.dumps(keys.jwks()),
            media_type="application/jwk-set+json",
            headers={"cache-control": f"max-age={JWKS_MAX_AGE_SECONDS}"},
        )

    return [
        Route(endpoints.OPENID_CONFIGURATION, configuration, methods=["GET"]),
        Route(endpoints.OAUTH_METADATA, configuration, methods=["GET"]),
        Route(endpoints.JWKS, jwks, methods=["GET"]),
    ]
