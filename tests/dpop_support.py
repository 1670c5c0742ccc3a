"""Helpers for the DPoP, token and protected-resource tests: proof keys, proofs (good ones and the
attacker's, the bad ones built by hand where joserfc rightly refuses to make them)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import uuid
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import cache
from typing import Any

import httpx
from joserfc import jws
from joserfc.errors import SecurityWarning
from joserfc.jwk import ECKey, OKPKey, RSAKey
from sqlalchemy import select

from kaimen.authz.dpop import access_token_hash
from kaimen.settings import Settings
from kaimen.store.db import Database
from kaimen.store.models import Generation
from kaimen.tiers import Tier
from kaimen.tpp.registry import Registry, ReviewStatus
from tests.authz_clients_support import claims_for, client_metadata, form_for, public_jwks, sign
from tests.authz_clients_support import rsa_key as client_rsa_key
from tests.support import client_for, lifespan

BASE = "http://localhost:8000"
ES256 = "ES256"


@cache
def ec_key(name: str = "holder") -> ECKey:
    return ECKey.generate_key("P-256", private=True)


@cache
def rsa_key(name: str = "holder", bits: int = 2048) -> RSAKey:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)  # the 1024-bit key of the short-key test
        return RSAKey.generate_key(bits, private=True)


@cache
def ed_key(name: str = "holder") -> OKPKey:
    return OKPKey.generate_key("Ed25519", private=True)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def proof(
    key: ECKey | RSAKey | OKPKey | None = None,
    *,
    method: str = "GET",
    url: str = BASE + "/resource",
    token: str | None = None,
    alg: str = ES256,
    header: dict[str, Any] | None = None,
    drop: tuple[str, ...] = (),
    **claims: Any,
) -> str:
    """A DPoP proof signed by ``key`` (default: the holder's P-256 key). ``claims`` override or add
    claims; ``drop`` removes claims; ``header`` overrides header members."""
    key = key or ec_key()
    body: dict[str, Any] = {"jti": uuid.uuid4().hex, "htm": method, "htu": url, "iat": int(time.time())}
    if token is not None:
        body["ath"] = access_token_hash(token)
    body.update(claims)
    for name in drop:
        body.pop(name, None)
    protected = {"typ": "dpop+jwt", "alg": alg, "jwk": key.as_dict(private=False), **(header or {})}
    return raw_sign(protected, body, key, alg)


def raw_sign(header: dict[str, Any], body: dict[str, Any], key: Any, alg: str) -> str:
    """Sign with joserfc's algorithm directly, without its header and key checks, so a test can make
    the proofs a careful library would refuse to make (a header without jwk, a 1024-bit key, ...)."""
    signing_input = _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(body).encode())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)  # EdDSA and short keys
        signature = jws.JWSRegistry.algorithms[alg].sign(signing_input.encode(), key)
    return signing_input + "." + _b64(signature)


def unsigned_proof(**claims: Any) -> str:
    """An ``alg: none`` proof (the attacker's), built by hand."""
    header = {"typ": "dpop+jwt", "alg": "none", "jwk": ec_key().as_dict(private=False)}
    body = {"jti": uuid.uuid4().hex, "htm": "GET", "htu": BASE + "/resource", "iat": int(time.time())}
    body.update(claims)
    return _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(body).encode()) + "."


def hs256_proof(secret: bytes = b"0" * 32, **claims: Any) -> str:
    """An HS256 proof with a symmetric ``jwk`` (the attacker's), built by hand."""
    jwk = {"kty": "oct", "k": _b64(secret)}
    header = {"typ": "dpop+jwt", "alg": "HS256", "jwk": jwk}
    body = {"jti": uuid.uuid4().hex, "htm": "GET", "htu": BASE + "/resource", "iat": int(time.time())}
    body.update(claims)
    signing_input = _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(body).encode())
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + _b64(mac)


async def tokens_seen(db: Database, watcher: Any, within: float = 2.0) -> None:
    """Return once ``watcher``'s worker has seen the latest ``tokens`` generation (PostgreSQL delivers it
    by NOTIFY a few milliseconds after the commit; SQLite sees it on the next poll)."""
    if db.is_sqlite:
        return
    async with db.read() as session:
        target = (
            await session.execute(select(Generation.value).where(Generation.name == "tokens"))
        ).scalar_one_or_none() or 0
    deadline = time.monotonic() + within
    while watcher._seen.get("tokens", 0) < target:
        assert time.monotonic() < deadline, "tokens generation not delivered in time"
        await asyncio.sleep(0.001)


@dataclass
class Tpp:
    client: Any
    key: Any  # the private key its client assertions are signed with

    def form(self, **extra: str) -> dict[str, str]:
        """A private_key_jwt-authenticated form (RFC 7523) for this client."""
        assertion = sign(claims_for(self.client.client_id, BASE), self.key)
        return form_for(assertion, **extra)


async def tpp(app: Any, name: str) -> Tpp:
    """An approved application of ``name`` with an OAuth client whose assertions ``key`` signs."""
    authz = app.components.authz
    key = client_rsa_key(f"rsa-{name}")
    application = await Registry(app.components.db).register(
        organisation=f"{name} Ltd",
        application=f"{name} app",
        tier=Tier.ACQUAINTANCE,
        status=ReviewStatus.APPROVED,
    )
    client = await authz.clients.create_for_application(
        application.id, client_metadata(jwks=public_jwks(key))
    )
    return Tpp(client=client, key=key)


async def issue_for(
    app: Any,
    client: Any,
    *,
    scope: str = "openid accounts",
    customer: str | None = "cust-1",
    key: Any = None,
    details: dict[str, Any] | None = None,
) -> Any:
    return await app.components.authz.tokens.issue(
        client_id=client.client_id,
        customer_id=customer,
        scope=scope,
        jkt=(key or ec_key()).thumbprint(),
        grant_id=uuid.uuid4().hex,
        consent_id="aac-1",
        details=details or {},
        refresh=True,
    )


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    """The whole app with its lifespan, and a client for it."""
    from kaimen.app import create_app

    app = create_app(settings)
    async with lifespan(app), client_for(app) as http:
        yield app, http
