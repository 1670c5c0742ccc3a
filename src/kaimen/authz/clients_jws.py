"""The two JWS steps that come before a signature check, shared by client assertions and software
statements: read the unverified header and claims (with joserfc, never by hand) to learn who signed and
with which key, then pick that key from a key set."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import orjson
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import Key, KeySet
from joserfc.jws import CompactSignature

MAX_COMPACT_BYTES = 16 << 10
_KTY = {"PS256": "RSA", "ES256": "EC"}


class Unverified(NamedTuple):
    """A compact JWS parsed once: its signature is NOT yet checked. The header and claims may only
    be used to find the verification key until ``jws.validate_compact(compact, key)`` succeeds."""

    compact: CompactSignature
    header: dict[str, Any]
    claims: dict[str, Any]


def unverified(compact: str) -> Unverified:
    """Raises ValueError when ``compact`` is not a compact JWS with a JSON object payload."""
    if len(compact) > MAX_COMPACT_BYTES:
        raise ValueError("too large")
    try:
        parsed = jws.extract_compact(compact.encode())
        claims = orjson.loads(parsed.payload)
    except (JoseError, TypeError, ValueError, orjson.JSONDecodeError) as exc:
        raise ValueError("not a compact JWS") from exc
    if not isinstance(claims, dict):
        raise ValueError("claims are not a JSON object")
    return Unverified(parsed, dict(parsed.headers()), claims)


def unverified_parts(compact: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and claims of a compact JWS whose signature is NOT yet checked: use them only to find
    the verification key. Raises ValueError when it is not a compact JWS with a JSON object payload."""
    parsed = unverified(compact)
    return parsed.header, parsed.claims


def select_signing_key(key_set: KeySet, header: Mapping[str, Any]) -> Key | None:
    """The key of ``key_set`` that a JWS ``header`` (alg PS256 or ES256, already checked) asks for: the
    one its ``kid`` names, of the right type, meant for signing and for this ``alg``. Without a ``kid``
    the choice must be unambiguous: exactly one such key."""
    alg = header["alg"]
    kid = header.get("kid")
    candidates = [
        key
        for key in key_set
        if key.key_type == _KTY[alg]
        and key.get("use", "sig") == "sig"
        and key.get("alg", alg) == alg
        and (kid is None or key.kid == kid)
    ]
    return candidates[0] if len(candidates) == 1 else None
