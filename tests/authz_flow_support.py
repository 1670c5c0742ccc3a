"""Helpers for the PAR, authorize, token endpoint and ID token tests: the real app on a fresh database, a
TPP (approved application + OAuth client with its private keys), client assertions, DPoP proofs and
PKCE pairs made here with joserfc and hashlib (never with Kaimen's own code), and the steps of the flow.
The customer's pages are stood in for by calling ``flow.finish`` directly, as they do at the end."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from kaimen.apis.accounts.consent_request import read_consent_request
from kaimen.ledger.history import seed_history
from kaimen.settings import Settings
from kaimen.store.types import utcnow
from kaimen.tiers import Tier
from kaimen.tpp.registry import Registry, ReviewStatus
from tests.support import client_for, lifespan

ISSUER = "http://localhost:8000"
PAR = "/oauth2/par"
AUTHORIZE = "/oauth2/authorize"
TOKEN = "/oauth2/token"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
REDIRECT_URI = "https://tpp.example/cb"
CUSTOMER = "cust-1"
# An id of the shape Kaimen issues that names no consent.
UNKNOWN_INTENT_ID = "aac-7a1e5c6b-1f55-4c1e-9e69-3c1b2c1d0f00"


def claims_for(intent_id: str) -> str:
    """The claims parameter carrying the consent (DESIGN.md sandbox contract)."""
    return orjson.dumps(
        {
            "id_token": {
                "openbanking_intent_id": {"value": intent_id, "essential": True},
                "acr": {"essential": True},
            },
            "userinfo": {"openbanking_intent_id": {"value": intent_id, "essential": True}},
        }
    ).decode()


CLAIMS = claims_for(UNKNOWN_INTENT_ID)  # for requests refused before the consent is looked at
# RFC 6749 §5.2: error_description characters %x20-21 / %x23-5B / %x5D-7E.
ERROR_DESCRIPTION_CHARS = frozenset(chr(c) for c in range(0x20, 0x7F)) - {'"', "\\"}


@cache
def dpop_key(name: str = "dpop-1") -> ECKey:
    return ECKey.generate_key("P-256", parameters={"kid": name}, private=True)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def thumbprint(key: ECKey | RSAKey) -> str:
    """RFC 7638 by hand: the SHA-256 of the required members in lexicographic order."""
    public = key.as_dict(private=False)
    members = ("crv", "kty", "x", "y") if public["kty"] == "EC" else ("e", "kty", "n")
    canonical = "{" + ",".join(f'"{m}":"{public[m]}"' for m in members) + "}"
    return b64(hashlib.sha256(canonical.encode()).digest())


def proof(key: ECKey, path: str, method: str = "POST", **claims: Any) -> str:
    """A DPoP proof (RFC 9449 §4.2) for ``method`` ``ISSUER + path``."""
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": key.as_dict(private=False)}
    body = {"jti": uuid.uuid4().hex, "htm": method, "htu": ISSUER + path, "iat": int(time.time()), **claims}
    return jwt.encode(header, body, key, algorithms=["ES256"])


@dataclass
class Pkce:
    verifier: str = field(default_factory=lambda: secrets.token_urlsafe(48))

    @property
    def challenge(self) -> str:
        return b64(hashlib.sha256(self.verifier.encode()).digest())


@dataclass
class Tpp:
    client_id: str
    application_id: str
    key: RSAKey
    redirect_uri: str
    enc_key: RSAKey | None = None

    def assertion(self, **overrides: Any) -> dict[str, str]:
        now = int(time.time())
        claims = {"iss": self.client_id, "sub": self.client_id, "aud": ISSUER, "iat": now, "exp": now + 60}
        claims |= {"jti": uuid.uuid4().hex, **overrides}
        token = jwt.encode({"alg": "PS256", "kid": self.key.kid}, claims, self.key, algorithms=["PS256"])
        return {"client_assertion_type": ASSERTION_TYPE, "client_assertion": token}


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}


def assert_oauth_error(response: httpx.Response, status: int, error: str) -> dict[str, Any]:
    """The exact RFC 6749 §5.2 refusal: status, error code, description charset, no-store."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["error"] == error, body
    assert set(body["error_description"]) <= ERROR_DESCRIPTION_CHARS
    assert response.headers["cache-control"] == "no-store"
    return body


@dataclass
class Harness:
    app: Any
    http: httpx.AsyncClient
    settings: Settings
    events: list[tuple[str, Any]] = field(default_factory=list)
    intent_id: str = ""  # the consent of the latest PAR request the harness made
    _tpps: int = 0
    _accounts: dict[str, list[str]] = field(default_factory=dict)

    async def accounts(self, customer_id: str = CUSTOMER) -> list[str]:
        """The customer's account ids in the sandbox ledger, seeded (one day of history) on first use."""
        if customer_id not in self._accounts:
            db = self.app.components.db
            await seed_history(db, [customer_id], seed=7, days=1)
            found = await self.app.components.core_banking.accounts(customer_id)
            self._accounts[customer_id] = [account.account_id for account in found]
        return self._accounts[customer_id]

    async def consent(self, tpp: Tpp, permissions: list[str] | None = None, **data: Any) -> str:
        """A new account-access consent of ``tpp``, AwaitingAuthorisation, as POST
        /account-access-consents makes it."""
        body = {"Data": {"Permissions": permissions or ["ReadAccountsBasic", "ReadBalances"], **data}}
        request = read_consent_request(orjson.dumps({**body, "Risk": {}}), utcnow())
        consent = await self.app.components.consents.create(tpp.client_id, request)
        return str(consent.consent_id)

    @property
    def server(self) -> Any:
        return self.app.components.authz

    async def tpp(self, *, status: ReviewStatus = ReviewStatus.APPROVED, **metadata: Any) -> Tpp:
        self._tpps += 1
        key = RSAKey.generate_key(2048, parameters={"kid": f"sig-{self._tpps}", "alg": "PS256", "use": "sig"})
        enc_key = None
        keys = [key.as_dict(private=False)]
        if metadata.get("id_token_encrypted_response_alg"):
            enc_key = RSAKey.generate_key(
                2048, parameters={"kid": f"enc-{self._tpps}", "alg": "RSA-OAEP-256", "use": "enc"}
            )
            keys.append(enc_key.as_dict(private=False))
        application = await Registry(self.server.db).register(
            organisation=f"TPP {self._tpps} Ltd",
            application=f"App {self._tpps}",
            tier=Tier.PARTNER,
            status=status,
        )
        registered = {
            "redirect_uris": [REDIRECT_URI, "https://tpp.example/other?x=1"],
            "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
            "jwks": {"keys": keys},
            "client_name": f"App {self._tpps}",
            **metadata,
        }
        client = await self.server.clients.create_for_application(application.id, registered)
        return Tpp(client.client_id, application.id, key, REDIRECT_URI, enc_key)

    def par_form(self, tpp: Tpp, pkce: Pkce, **params: str | None) -> dict[str, str]:
        form: dict[str, str | None] = {
            "response_type": "code",
            "client_id": tpp.client_id,
            "redirect_uri": tpp.redirect_uri,
            "scope": "openid accounts",
            "code_challenge": pkce.challenge,
            "code_challenge_method": "S256",
            "state": "st-" + secrets.token_hex(4),
            "nonce": "n-" + secrets.token_hex(4),
            "claims": CLAIMS,
            **params,
        }
        return {k: v for k, v in form.items() if v is not None}

    async def par(
        self,
        tpp: Tpp,
        pkce: Pkce | None = None,
        *,
        headers: dict[str, str] | None = None,
        **params: str | None,
    ) -> httpx.Response:
        if "claims" not in params:
            self.intent_id = await self.consent(tpp)
            params["claims"] = claims_for(self.intent_id)
        form = {**tpp.assertion(), **self.par_form(tpp, pkce or Pkce(), **params)}
        return await self.http.post(PAR, data=form, headers=headers or {})

    async def pushed(self, tpp: Tpp, pkce: Pkce, **params: str | None) -> str:
        response = await self.par(tpp, pkce, headers=None, **params)
        assert response.status_code == 201, response.text
        request_uri: str = response.json()["request_uri"]
        return request_uri

    async def finish(
        self,
        request_uri: str,
        *,
        approved: bool = True,
        customer_id: str = CUSTOMER,
        account_ids: list[str] | None = None,
        debtor_account_id: str | None = None,
    ) -> str:
        """What the consent page does at the end: the customer's decision (by default, their first
        account), handed to the flow."""
        from kaimen.authz.pushed import request_id_of

        request_id = request_id_of(request_uri)
        assert request_id is not None
        url: str = await self.server.flow.finish(
            request_id=request_id,
            customer_id=customer_id,
            amr=["pwd", "otp"],
            acr="urn:openbanking:psd2:sca",
            auth_time=datetime.now(UTC),
            approved=approved,
            consent={
                "account_ids": (await self.accounts(customer_id))[:1] if account_ids is None else account_ids,
                "debtor_account_id": debtor_account_id,
            },
        )
        return url

    async def code(self, tpp: Tpp, pkce: Pkce, **params: str | None) -> str:
        """A fresh authorization code: PAR, then the customer approves."""
        return query_of(await self.finish(await self.pushed(tpp, pkce, **params)))["code"]

    async def token(
        self, tpp: Tpp, form: dict[str, str], *, key: ECKey | None = None, dpop: str | None = "make"
    ) -> httpx.Response:
        headers = {}
        if dpop == "make":
            headers["DPoP"] = proof(key or dpop_key(), TOKEN)
        elif dpop is not None:
            headers["DPoP"] = dpop
        return await self.http.post(TOKEN, data={**tpp.assertion(), **form}, headers=headers)

    async def redeem(self, tpp: Tpp, code: str, pkce: Pkce, **kwargs: Any) -> httpx.Response:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": tpp.redirect_uri,
            "code_verifier": pkce.verifier,
        }
        return await self.token(tpp, form, **kwargs)


@asynccontextmanager
async def harness(settings: Settings) -> AsyncIterator[Harness]:
    from kaimen.app import create_app

    app = create_app(settings)
    async with lifespan(app), client_for(app) as http:
        h = Harness(app=app, http=http, settings=settings)
        for name in ("authorization.approved", "authorization.denied", "token.issued", "token.refreshed"):
            app.components.events.subscribe(name, lambda n, p: h.events.append((n, p)))
        yield h
