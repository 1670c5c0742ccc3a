"""ID tokens (OIDC Core §2, §3.1.3.6), signed with the client's registered algorithm and, when the
client registered it, encrypted to the client's key (OIDC Core §10.2).

Claims: iss, sub (pairwise, kaimen.authz.subject), aud = client_id, exp, iat, auth_time, acr, amr,
nonce when the request carried one (OIDC Core §3.1.2.1: "the value is passed through unmodified from
the Authentication Request to the ID Token"), openbanking_intent_id when the request asked for it in
claims.id_token, and UK OB's ``http://openbanking.org.uk/refresh_token_expires_at`` when a refresh
token is issued with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from joserfc import jwe
from joserfc.jwk import Key, RSAKey

from kaimen.authz.discovery import SIGNING_ALGS
from kaimen.authz.errors import ServerError
from kaimen.authz.ports import Clients, ClientView
from kaimen.authz.requests import INTENT_CLAIM
from kaimen.authz.signing import SigningKeys
from kaimen.authz.subject import PairwiseSubjects

ENCRYPTION_ALG = "RSA-OAEP-256"
ENCRYPTION_ENC = "A256GCM"
REFRESH_EXPIRES_AT = "http://openbanking.org.uk/refresh_token_expires_at"
_JWE = jwe.JWERegistry(algorithms=[ENCRYPTION_ALG, ENCRYPTION_ENC])


class IdTokens:
    def __init__(
        self,
        *,
        issuer: str,
        keys: SigningKeys,
        clients: Clients,
        subjects: PairwiseSubjects,
        ttl_seconds: int,
    ) -> None:
        self.issuer = issuer
        self.keys = keys
        self.clients = clients
        self.subjects = subjects
        self.ttl_seconds = ttl_seconds

    def claims(
        self,
        client: ClientView,
        *,
        customer_id: str,
        grant: Mapping[str, Any],
        now: int,
        refresh_expires_at: datetime | None = None,
    ) -> dict[str, Any]:
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": self.subjects.sub(client.application_id, customer_id),
            "aud": client.client_id,
            "exp": now + self.ttl_seconds,
            "iat": now,
            "auth_time": grant["auth_time"],
            "acr": grant["acr"],
            "amr": list(grant["amr"]),
        }
        if grant.get("nonce") is not None:
            claims["nonce"] = grant["nonce"]
        if grant.get("intent_id") and INTENT_CLAIM in grant.get("claims", {}).get("id_token", {}):
            claims[INTENT_CLAIM] = grant["intent_id"]
        if refresh_expires_at is not None:
            claims[REFRESH_EXPIRES_AT] = int(refresh_expires_at.timestamp())
        return claims

    async def issue(self, client: ClientView, claims: dict[str, Any]) -> str:
        """Sign with id_token_signed_response_alg (PS256 by default, FAPI 2.0 §5.4.1: PS256, ES256 or
        EdDSA); encrypt with RSA-OAEP-256 + A256GCM when id_token_encrypted_response_alg is registered."""
        alg = client.metadata.get("id_token_signed_response_alg") or "PS256"
        if alg not in SIGNING_ALGS:
            raise ServerError()  # registration validates this; a stored value outside it is a bug
        await self.keys.refresh()
        signed = self.keys.sign(claims, alg)
        if not client.metadata.get("id_token_encrypted_response_alg"):
            return signed
        return await self._encrypt(client, signed)

    async def _encrypt(self, client: ClientView, signed: str) -> str:
        """OIDC Core §10.2: "signed and then encrypted ... the result is a Nested JWT" (cty JWT)."""
        if client.metadata.get("id_token_encrypted_response_alg") != ENCRYPTION_ALG or client.metadata.get(
            "id_token_encrypted_response_enc", ENCRYPTION_ENC
        ) not in (None, ENCRYPTION_ENC):
            raise ServerError()
        key = _encryption_key(list((await self.clients.keys(client)).keys))
        header: dict[str, Any] = {"alg": ENCRYPTION_ALG, "enc": ENCRYPTION_ENC, "cty": "JWT"}
        if key.kid:
            header["kid"] = key.kid
        return jwe.encrypt_compact(header, signed.encode("ascii"), key, registry=_JWE)


def _encryption_key(keys: list[Key]) -> RSAKey:
    """The client's RSA key meant for encryption: use "enc", or alg RSA-OAEP-256, never a "sig" key."""
    for key in keys:
        if not isinstance(key, RSAKey) or key.get("use") == "sig":
            continue
        if key.get("use") == "enc" or key.get("alg") == ENCRYPTION_ALG:
            return key
    raise ServerError()
