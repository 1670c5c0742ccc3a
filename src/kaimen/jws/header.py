"""The JOSE header of a UK OB message signature, checked before any key is looked at (Read/Write Data
API Profile v3.1.11, "Message Signing", "Process for Verifying a Signature", Step 2: validate the
JOSE header), one rule after another:

    b64       absent: "This header must not be specified for version 3.1.4 onwards" (the payload is
              always base64url-encoded, never RFC 7797's unencoded form)
    alg       "PS256" (profile: "The algorithm must be PS256")
    kid       a non-empty string naming the signing key
    typ       optional; when present "JOSE"
    cty       optional; when present "application/json" (RFC 7515 §4.1.10: "json" means the same)
    crit      exactly the three claims below, each once ("must contain the following values")
    http://openbanking.org.uk/iat  a finite JSON number, not in the future (10 s of clock skew), at most
              ``MAX_AGE_SECONDS`` old
    http://openbanking.org.uk/iss  the signer's identity: the TPP's ``jws_iss`` (kaimen.jws)
    http://openbanking.org.uk/tan  the trust anchor's DNS name, ``KAIMEN_JWS_TAN``

A member that is absent is Signature.MissingClaim, one with another value Signature.InvalidClaim
(``b64`` is refused by its presence: InvalidClaim); ``Path`` names the member.

``REGISTRY`` is the joserfc registry both sides use: PS256 only, the three claims registered (so RFC
7515 §4.1.11's "crit" check knows them), other header members ignored (RFC 7515 §4: "... MUST be
ignored when not understood"), and room for a header carrying long ``iss`` values.
"""

from __future__ import annotations

import math
from typing import Any

from joserfc.jws import JWSRegistry
from joserfc.registry import HeaderParameter

from kaimen.jws.errors import SignatureInvalidClaim, SignatureMissingClaim

IAT = "http://openbanking.org.uk/iat"
ISS = "http://openbanking.org.uk/iss"
TAN = "http://openbanking.org.uk/tan"
CRITICAL = (IAT, ISS, TAN)
ALGORITHM = "PS256"
TYP = "JOSE"
CONTENT_TYPES = frozenset({"application/json", "json"})
FUTURE_SKEW_SECONDS = 10
# Kaimen's bound on a signature's age: the profile says only "must not be in the future"; a request
# signed more than five minutes before it arrives is refused, as client assertions are (README).
MAX_AGE_SECONDS = 300


def _is_number(value: Any) -> None:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ValueError("must be a JSON number")


def _is_text(value: Any) -> None:
    if not isinstance(value, str):
        raise ValueError("must be a string")


class _Registry(JWSRegistry):
    max_header_length = 4096  # the three claim names alone take about 300 bytes once encoded


REGISTRY = _Registry(
    header_registry={
        IAT: HeaderParameter("UK OB signature time", _is_number),
        ISS: HeaderParameter("UK OB signer", _is_text),
        TAN: HeaderParameter("UK OB trust anchor", _is_text),
    },
    algorithms=[ALGORITHM],
    strict_check_header=False,
)


def check_header(header: dict[str, Any], *, iss: str, tan: str, now: float) -> str:
    """The ``kid`` of a header that follows every rule; else the refusal naming the claim."""
    if "b64" in header:
        raise SignatureInvalidClaim("b64 must not be used since UK OB v3.1.4", path="b64")
    _required(header, "alg")
    if header["alg"] != ALGORITHM:
        raise SignatureInvalidClaim("alg must be PS256", path="alg")
    _required(header, "kid")
    kid = header["kid"]
    if not isinstance(kid, str) or not kid:
        raise SignatureInvalidClaim("kid must name the signing key", path="kid")
    if "typ" in header and header["typ"] != TYP:
        raise SignatureInvalidClaim("typ must be JOSE", path="typ")
    # Types first: a list or an object cannot be looked up in a set (a TypeError, a 500).
    # RFC 7515 §4.1.10: cty is "a case-insensitive string"; §4.1.11: crit is "an array listing the
    # Header Parameter names".
    if "cty" in header and not (isinstance(header["cty"], str) and header["cty"] in CONTENT_TYPES):
        raise SignatureInvalidClaim("cty must be application/json", path="cty")
    _required(header, "crit")
    crit = header["crit"]
    if (
        not isinstance(crit, list)
        or not all(isinstance(name, str) for name in crit)
        or len(crit) != len(CRITICAL)
        or set(crit) != set(CRITICAL)
    ):
        raise SignatureInvalidClaim(f"crit must list exactly {', '.join(CRITICAL)}", path="crit")
    for claim in CRITICAL:
        _required(header, claim)
    _check_iat(header[IAT], now)
    if header[ISS] != iss:
        raise SignatureInvalidClaim("the signer is not the caller", path=ISS)
    if header[TAN] != tan:
        raise SignatureInvalidClaim("the trust anchor is not the one this bank trusts", path=TAN)
    return kid


def _required(header: dict[str, Any], claim: str) -> None:
    if claim not in header:
        raise SignatureMissingClaim(f"{claim} is required", path=claim)


def _check_iat(iat: Any, now: float) -> None:
    # RFC 8259 §6: NaN and Infinity "are not permitted" as JSON numbers; kaimen.jws.verify refuses a
    # header that holds one, and here a NaN, which no bound below can catch, is refused all the same.
    if not isinstance(iat, int | float) or isinstance(iat, bool) or _not_finite(iat):
        raise SignatureInvalidClaim("iat must be a JSON number", path=IAT)
    if iat > now + FUTURE_SKEW_SECONDS:
        raise SignatureInvalidClaim("iat must not be in the future", path=IAT)
    if iat < now - MAX_AGE_SECONDS:
        raise SignatureInvalidClaim(f"iat must be within the last {MAX_AGE_SECONDS} seconds", path=IAT)


def _not_finite(value: int | float) -> bool:
    return isinstance(value, float) and not math.isfinite(value)  # an int is always finite


def bank_header(kid: str, *, iss: str, tan: str, now: float) -> dict[str, Any]:
    """The header of the bank's own signatures (profile, "Step 2: Form the JOSE Header")."""
    return {
        "alg": ALGORITHM,
        "kid": kid,
        "typ": TYP,
        "cty": "application/json",
        IAT: int(now),
        ISS: iss,
        TAN: tan,
        "crit": list(CRITICAL),
    }
