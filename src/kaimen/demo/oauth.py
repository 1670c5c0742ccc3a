"""The demo TPPs as OAuth clients: a fresh PS256 signing key for each on every run (like their API
keys), and fixed loopback redirect URIs, matched exactly (DESIGN.md, "Sandbox contract")."""

from __future__ import annotations

import secrets
from typing import Any

from joserfc.jwk import RSAKey

from kaimen.authz.clients import ClientRegistry
from kaimen.jws.verify import tpp_jws_iss

# One fixed loopback redirect URI per demo TPP, by application name.
REDIRECT_URIS = {
    "Northwind Cash Manager": ["http://localhost:8701/callback"],
    "Pennywise Budgeting": ["http://localhost:8702/callback"],
}


def _client_metadata(public_jwk: dict[str, Any], redirect_uris: list[str]) -> dict[str, Any]:
    return {
        "redirect_uris": redirect_uris,
        "jwks": {"keys": [public_jwk]},
        "token_endpoint_auth_method": "private_key_jwt",
        "token_endpoint_auth_signing_alg": "PS256",
        "id_token_signed_response_alg": "PS256",
        "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
        "response_types": ["code"],
    }


async def seed_client(clients: ClientRegistry, application_id: str, name: str) -> dict[str, Any]:
    """Create or re-key the OAuth client of a demo application; its credentials-file fields."""
    key = RSAKey.generate_key(
        2048, parameters={"kid": secrets.token_urlsafe(8), "alg": "PS256", "use": "sig"}, private=True
    )
    redirect_uris = REDIRECT_URIS[name]
    metadata = _client_metadata(key.as_dict(private=False), redirect_uris)
    existing = await clients.for_application(application_id)
    if existing is None:
        client = await clients.create_for_application(application_id, metadata)
    else:
        client = await clients.replace_metadata(existing.client_id, metadata)
    return {
        "client_id": client.client_id,
        "private_jwk": key.as_dict(private=True),
        "redirect_uris": redirect_uris,
        # The http://openbanking.org.uk/iss its message signatures carry (kaimen.jws).
        "jws_iss": tpp_jws_iss(client),
    }
