"""A demo TPP, as an outside tool builds it from the sandbox credentials file: Authlib's OAuth2Client
(private_key_jwt with the TPP's PS256 key, PKCE S256, the PAR and token requests), DPoP proofs made
here with joserfc, and the checks a careful client makes of the authorization response. Nothing here
imports Kaimen: the flow is driven over real HTTP against a running ``kaimen demo``."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
import uuid
import warnings
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson
from authlib.oauth2.rfc7523 import PrivateKeyJWT  # type: ignore[import-untyped]
from authlib.oauth2.rfc7523.assertion import private_key_jwt_sign  # type: ignore[import-untyped]
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey

with warnings.catch_warnings():
    # Authlib 1.9 announces its move to the httpx2 package name on import; the client is the same.
    warnings.simplefilter("ignore")
    from authlib.integrations.httpx_client import OAuth2Client  # type: ignore[import-untyped]

ACR_SCA = "urn:openbanking:psd2:sca"


def claims_for(intent_id: str) -> str:
    """The consent travels as the essential openbanking_intent_id claim (DESIGN.md sandbox contract)."""
    return orjson.dumps(
        {
            "id_token": {
                "openbanking_intent_id": {"value": intent_id, "essential": True},
                "acr": {"essential": True, "values": [ACR_SCA]},
            },
            "userinfo": {"openbanking_intent_id": {"value": intent_id, "essential": True}},
        }
    ).decode()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def ath(access_token: str) -> str:
    """RFC 9449 §4.2: base64url of the SHA-256 of the access token's ASCII octets."""
    return b64url(hashlib.sha256(access_token.encode("ascii")).digest())


def jkt(key: ECKey) -> str:
    """RFC 7638 thumbprint of a P-256 key, computed by hand: the required members, sorted, no spaces."""
    public = key.as_dict(private=False)
    canonical = orjson.dumps({m: public[m] for m in ("crv", "kty", "x", "y")})
    return b64url(hashlib.sha256(canonical).digest())


def dpop_proof(key: ECKey, method: str, url: str, access_token: str | None = None) -> str:
    """An RFC 9449 §4.2 proof for ``method`` ``url`` (with ``ath`` when presenting a token)."""
    claims: dict[str, Any] = {"jti": uuid.uuid4().hex, "htm": method, "htu": url, "iat": int(time.time())}
    if access_token is not None:
        claims["ath"] = ath(access_token)
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": key.as_dict(private=False)}
    return jwt.encode(header, claims, key, algorithms=["ES256"])


class IssuerAudiencePrivateKeyJWT(PrivateKeyJWT):  # type: ignore[misc]
    """Authlib's private_key_jwt, held to FAPI 2.0 §5.3.2.1: PS256, ``aud`` the issuer identifier (not
    the endpoint URL Authlib uses by default), a one-minute ``exp`` and the key's ``kid``."""

    alg = "PS256"

    def __init__(self, issuer: str) -> None:
        super().__init__(token_endpoint=issuer, alg="PS256")
        self.issuer = issuer

    def sign(self, auth: Any, token_endpoint: str) -> str:
        key: RSAKey = auth.client_secret
        assertion: str = private_key_jwt_sign(
            key,
            client_id=auth.client_id,
            token_endpoint=self.issuer,
            alg=self.alg,
            header={"kid": key.kid},
            expires_in=60,
        )
        return assertion


@dataclass(frozen=True)
class DemoTpp:
    """One TPP of the credentials file, and the server metadata from discovery."""

    name: str
    client_id: str
    key: RSAKey
    redirect_uri: str
    meta: dict[str, Any]
    aisp: str

    @classmethod
    def from_credentials(cls, creds: dict[str, Any], tier: str = "PARTNER") -> DemoTpp:
        entry = next(t for t in creds["tpps"] if t["tier"] == tier)
        meta = httpx.get(creds["discovery"], timeout=10).raise_for_status().json()
        return cls(
            name=entry["name"],
            client_id=entry["client_id"],
            key=RSAKey.import_key(entry["private_jwk"]),
            redirect_uri=entry["redirect_uris"][0],
            meta=meta,
            aisp=creds["apis"]["aisp"],
        )

    @property
    def issuer(self) -> str:
        return str(self.meta["issuer"])

    def oauth_client(self, scope: str = "openid accounts") -> OAuth2Client:
        client = OAuth2Client(
            client_id=self.client_id,
            client_secret=self.key,
            token_endpoint_auth_method="private_key_jwt",
            scope=scope,
            redirect_uri=self.redirect_uri,
            code_challenge_method="S256",
            timeout=10,
        )
        client.register_client_auth_method(IssuerAudiencePrivateKeyJWT(self.issuer))
        return client

    def call(self, key: ECKey, method: str, url: str, token: str, body: Any = None) -> httpx.Response:
        """An Account API request with the DPoP-bound ``token`` and a fresh proof of ``key``."""
        headers = {"Authorization": f"DPoP {token}", "DPoP": dpop_proof(key, method, url, token)}
        if body is not None:
            headers["Content-Type"] = "application/json"
        content = orjson.dumps(body) if body is not None else None
        return httpx.request(method, url, content=content, headers=headers, timeout=10)

    def create_consent(self, key: ECKey, permissions: list[str]) -> str:
        """UK OB: the TPP's own token (client_credentials, DPoP-bound), then POST
        /account-access-consents; answers the ConsentId, AwaitingAuthorisation."""
        token_endpoint = self.meta["token_endpoint"]
        with self.oauth_client(scope="accounts") as client:
            token = client.fetch_token(
                token_endpoint,
                grant_type="client_credentials",
                headers={"DPoP": dpop_proof(key, "POST", token_endpoint)},
            )
        url = self.aisp + "/account-access-consents"
        body = {"Data": {"Permissions": permissions}, "Risk": {}}
        response = self.call(key, "POST", url, token["access_token"], body)
        assert response.status_code == 201, response.text
        assert response.json()["Data"]["Status"] == "AwaitingAuthorisation"
        consent_id: str = response.json()["Data"]["ConsentId"]
        return consent_id

    def signing_keys(self) -> KeySet:
        return KeySet.import_key_set(httpx.get(self.meta["jwks_uri"], timeout=10).raise_for_status().json())


@dataclass(frozen=True)
class Pushed:
    """A pushed authorization request and what the client keeps to check the response and redeem."""

    authorize_url: str
    intent_id: str
    request_uri: str
    state: str
    nonce: str
    verifier: str


ACCOUNT_PERMISSIONS = [
    "ReadAccountsDetail",
    "ReadBalances",
    "ReadTransactionsDetail",
    "ReadTransactionsCredits",
    "ReadTransactionsDebits",
]


def push(tpp: DemoTpp, dpop_key: ECKey, *, bind: str = "header") -> Pushed:
    """A new account-access consent, then PAR (RFC 9126) with Authlib naming it: PKCE S256, state,
    nonce, the claims; the code is bound to ``dpop_key`` by a DPoP proof at PAR (``bind="header"``) or
    by ``dpop_jkt`` (RFC 9449 §10)."""
    intent_id = tpp.create_consent(dpop_key, ACCOUNT_PERMISSIONS)
    verifier, nonce = secrets.token_urlsafe(48), secrets.token_urlsafe(16)
    par_url = tpp.meta["pushed_authorization_request_endpoint"]
    with tpp.oauth_client() as client:
        url, state = client.create_authorization_url(
            tpp.meta["authorization_endpoint"],
            code_verifier=verifier,
            nonce=nonce,
            claims=claims_for(intent_id),
        )
        params = query_of(url)
        assert (params["code_challenge_method"], params["response_type"]) == ("S256", "code")
        headers = {}
        if bind == "header":
            headers["DPoP"] = dpop_proof(dpop_key, "POST", par_url)
        else:
            params["dpop_jkt"] = jkt(dpop_key)
        response = client.request(
            "POST",
            par_url,
            data=params,
            headers=headers,
            auth=client.client_auth("private_key_jwt"),
            withhold_token=True,
        )
    assert response.status_code == 201, response.text
    request_uri = response.json()["request_uri"]
    assert response.json()["expires_in"] > 0
    query = httpx.QueryParams({"client_id": tpp.client_id, "request_uri": request_uri})
    authorize_url = f"{tpp.meta['authorization_endpoint']}?{query}"
    return Pushed(authorize_url, intent_id, request_uri, state, nonce, verifier)


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}


def check_authorization_response(tpp: DemoTpp, pushed: Pushed, callback: str) -> str:
    """What the client checks before redeeming: its own redirect URI, ``iss`` (RFC 9207 §2.4) and
    ``state`` unchanged; returns the code."""
    assert callback.split("?", 1)[0] == tpp.redirect_uri, callback
    response = query_of(callback)
    assert response["iss"] == tpp.issuer
    assert response["state"] == pushed.state
    assert "error" not in response, response
    return response["code"]
