"""Helpers for the client, registration and client-authentication tests: TPP keys, client assertions
(good ones and the attacker's), and an approved application with its OAuth client."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
import warnings
from dataclasses import dataclass
from functools import cache
from typing import Any

from joserfc import jwt
from joserfc.errors import SecurityWarning
from joserfc.jwk import ECKey, RSAKey

from kaimen.authz.clients import Client, ClientRegistry
from kaimen.settings import Settings
from kaimen.store.db import Database
from kaimen.tiers import Tier
from kaimen.tpp.registry import Registry, ReviewStatus

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
REDIRECT_URI = "https://tpp.example/callback"


@cache
def rsa_key(kid: str = "rsa-1") -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid, "alg": "PS256", "use": "sig"}, private=True)


@cache
def ec_key(kid: str = "ec-1") -> ECKey:
    return ECKey.generate_key("P-256", parameters={"kid": kid, "alg": "ES256", "use": "sig"}, private=True)


def public_jwks(*keys: RSAKey | ECKey) -> dict[str, Any]:
    return {"keys": [key.as_dict(private=False) for key in keys]}


def client_metadata(**overrides: Any) -> dict[str, Any]:
    """Good metadata; an override of None removes that member."""
    metadata = {
        "redirect_uris": [REDIRECT_URI],
        "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
        "jwks": public_jwks(rsa_key(), ec_key()),
        **overrides,
    }
    return {k: v for k, v in metadata.items() if v is not None}


def claims_for(client_id: str, issuer: str, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": issuer,
        "iat": now,
        "exp": now + 60,
        "jti": uuid.uuid4().hex,
        **overrides,
    }
    return {k: v for k, v in claims.items() if v is not None}


def sign(claims: dict[str, Any], key: RSAKey | ECKey | None = None, alg: str = "PS256", **header: Any) -> str:
    key = key or (rsa_key() if alg.startswith(("PS", "RS")) else ec_key())
    if key.alg is not None and key.alg != alg:  # the same key material, used with another algorithm
        data = {k: v for k, v in key.as_dict(private=True).items() if k != "alg"}
        key = RSAKey.import_key(data) if isinstance(key, RSAKey) else ECKey.import_key(data)
    return jwt.encode({"alg": alg, "kid": key.kid, **header}, claims, key, algorithms=[alg])


def unsigned(claims: dict[str, Any]) -> str:
    """An ``alg: none`` JWT (the attacker's)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)
        return jwt.encode({"alg": "none"}, claims, None, algorithms=["none"])  # type: ignore[arg-type]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hmac_with_public_key(claims: dict[str, Any], key: RSAKey) -> str:
    """HS256 keyed with the client's public key (the classic algorithm-confusion attack), built by hand
    because joserfc rightly refuses to make an oct key out of a public key."""
    signing_input = _b64(json.dumps({"alg": "HS256", "kid": key.kid}).encode()) + "."
    signing_input += _b64(json.dumps(claims).encode())
    mac = hmac.new(key.as_pem(private=False), signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + _b64(mac)


def form_for(assertion: str, **extra: str) -> dict[str, str]:
    return {"client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion, **extra}


@dataclass
class Tpp:
    client: Client
    registry: Registry
    clients: ClientRegistry


async def approved_client(
    db: Database,
    settings: Settings,
    clients: ClientRegistry | None = None,
    *,
    status: ReviewStatus = ReviewStatus.APPROVED,
    **metadata: Any,
) -> Tpp:
    registry = Registry(db)
    clients = clients or ClientRegistry(db, settings)
    app = await registry.register(
        organisation="Acme Ltd", application="Acme Budget", tier=Tier.ACQUAINTANCE, status=status
    )
    client = await clients.create_for_application(app.id, client_metadata(**metadata))
    return Tpp(client=client, registry=registry, clients=clients)
