"""Software statements (RFC 7591 §2.3): a JWS from the directory vouching for a TPP's software.

Checks, each an ``invalid_software_statement`` (RFC 7591 §3.2.2) when it fails:

- a compact JWS signed with PS256 or ES256 by a key of the directory (kaimen.authz.directory),
  verified by joserfc; RFC 7591 §2.3: "the software statement MUST be digitally signed";
- ``iss`` is the directory's issuer (RFC 7591 §2.3: the statement "MUST contain an iss (issuer)
  claim denoting the party attesting to the claims");
- ``iat`` present and not in the future (small skew); ``exp``, when present, in the future; ``nbf``,
  when present, reached;
- ``software_id`` and an organisation (``org_name`` or ``org_id``) are named;
- ``tier`` (Kaimen's claim: the access tier the directory admits the software to) is one of the tiers;
  absent, it is ACQUAINTANCE: DESIGN.md defines that tier as "anyone who meets published requirements,
  after review", which is what a directory-vetted registration is. PRIVATE ("the bank's own apps") is
  never granted by a statement: ``unapproved_software_statement``.

RFC 7591 §2.3: "If the authorization server ... the software statement ... claims MUST take precedence"
over the same metadata sent in the request; :meth:`SoftwareStatement.overrides` gives those claims,
including the UK OB directory's ``software_*`` names for them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError

from kaimen.authz.clients_jws import select_signing_key, unverified_parts
from kaimen.authz.directory import ALGORITHMS, DirectoryKey
from kaimen.authz.errors import InvalidSoftwareStatement, UnapprovedSoftwareStatement
from kaimen.tiers import Tier

SKEW_SECONDS = 10
DEFAULT_TIER = Tier.ACQUAINTANCE
METADATA_CLAIMS = (
    "redirect_uris",
    "jwks",
    "jwks_uri",
    "grant_types",
    "response_types",
    "token_endpoint_auth_method",
    "token_endpoint_auth_signing_alg",
    "id_token_signed_response_alg",
    "id_token_encrypted_response_alg",
    "id_token_encrypted_response_enc",
    "client_name",
    "client_uri",
    "logo_uri",
    "tos_uri",
    "policy_uri",
    "contacts",
    "scope",
    "software_id",
    "software_version",
)
# The UK OB directory's names for the same metadata.
ALIASES = {
    "software_redirect_uris": "redirect_uris",
    "software_jwks_endpoint": "jwks_uri",
    "software_client_name": "client_name",
    "software_client_uri": "client_uri",
    "software_logo_uri": "logo_uri",
    "software_tos_uri": "tos_uri",
    "software_policy_uri": "policy_uri",
}


@dataclass(frozen=True)
class SoftwareStatement:
    raw: str
    claims: dict[str, Any]
    software_id: str
    organisation: str
    application: str
    tier: Tier
    # What the TPP's UK OB message signatures will carry as http://openbanking.org.uk/iss.
    jws_iss: str

    def overrides(self) -> dict[str, Any]:
        named = {name: self.claims[name] for name in METADATA_CLAIMS if name in self.claims}
        aliased = {name: self.claims[alias] for alias, name in ALIASES.items() if alias in self.claims}
        return {**aliased, **named}

    def merged_with(self, request: dict[str, Any]) -> dict[str, Any]:
        """The request's metadata with the statement's claims taking precedence. When the statement
        says where the keys are, the request's own key location (jwks or jwks_uri) is dropped."""
        overrides = self.overrides()
        base = {k: v for k, v in request.items() if k != "software_statement"}
        if "jwks" in overrides or "jwks_uri" in overrides:
            base.pop("jwks", None)
            base.pop("jwks_uri", None)
        return {**base, **overrides}


def _verified_claims(raw: str, directory: DirectoryKey) -> dict[str, Any]:
    try:
        header, _ = unverified_parts(raw)
    except ValueError as exc:
        raise InvalidSoftwareStatement("software_statement is not a compact JWS") from exc
    if header.get("alg") not in ALGORITHMS:
        raise InvalidSoftwareStatement("software_statement must be signed with PS256 or ES256")
    key = select_signing_key(directory.key_set(), header)
    if key is None:
        raise InvalidSoftwareStatement("software_statement is not signed by a directory key")
    try:
        return jwt.decode(raw, key, algorithms=[header["alg"]]).claims
    except (JoseError, ValueError) as exc:
        raise InvalidSoftwareStatement("software_statement signature is invalid") from exc


def _numeric(claims: dict[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise InvalidSoftwareStatement(f"software_statement {name} must be a NumericDate")
    return float(value)


def _check_times(claims: dict[str, Any], now: float) -> None:
    iat = _numeric(claims, "iat")
    if iat is None:
        raise InvalidSoftwareStatement("software_statement iat is required")
    if iat > now + SKEW_SECONDS:
        raise InvalidSoftwareStatement("software_statement iat is in the future")
    nbf = _numeric(claims, "nbf")
    if nbf is not None and nbf > now + SKEW_SECONDS:
        raise InvalidSoftwareStatement("software_statement is not yet valid")
    exp = _numeric(claims, "exp")
    if exp is not None and exp <= now:
        raise InvalidSoftwareStatement("software_statement has expired")


def _text(claims: dict[str, Any], *names: str) -> str | None:
    for name in names:
        value = claims.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()[:200]
    return None


def _tier(claims: dict[str, Any]) -> Tier:
    value = claims.get("tier", DEFAULT_TIER.value)
    if not isinstance(value, str) or value.upper() not in Tier.__members__:
        raise InvalidSoftwareStatement("software_statement tier is not a known access tier")
    tier = Tier(value.upper())
    if tier is Tier.PRIVATE:
        raise UnapprovedSoftwareStatement("the PRIVATE tier is not granted by dynamic registration")
    return tier


def verify_statement(raw: Any, directory: DirectoryKey, now: float | None = None) -> SoftwareStatement:
    if not isinstance(raw, str) or not raw:
        raise InvalidSoftwareStatement("a software_statement signed by the directory is required")
    claims = _verified_claims(raw, directory)
    if claims.get("iss") != directory.issuer:
        raise InvalidSoftwareStatement("software_statement iss is not the directory")
    _check_times(claims, time.time() if now is None else now)
    software_id = _text(claims, "software_id")
    organisation = _text(claims, "org_name", "org_id")
    if software_id is None or organisation is None:
        raise InvalidSoftwareStatement("software_statement must name software_id and org_name or org_id")
    org_id = _text(claims, "org_id")
    return SoftwareStatement(
        raw=raw,
        claims=claims,
        software_id=software_id,
        organisation=organisation,
        application=_text(claims, "software_client_name", "client_name") or software_id,
        tier=_tier(claims),
        jws_iss=f"{org_id}/{software_id}" if org_id else software_id,
    )
