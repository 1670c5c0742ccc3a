"""A TPP's request signature (Read/Write Data API Profile v3.1.11, "Message Signing", "Process for
Verifying a Signature"), step by step:

    present     ``x-jws-signature`` is there (Signature.Missing)
    detached    ``header..signature``: RFC 7515 Appendix F, the payload segment empty, the payload
                being the exact request body bytes (Signature.Malformed)
    strict      the JOSE header is JSON by RFC 8259 (RFC 7515 §4: "a JSON object"), read by orjson:
                NaN, Infinity and -Infinity are "not permitted" (RFC 8259 §6), though Python's json
                module, which joserfc uses, accepts them (Signature.Malformed)
    header      the JOSE header rules of kaimen.jws.header, against the calling TPP's ``jws_iss``
                and the bank's ``tan`` (Signature.MissingClaim / Signature.InvalidClaim)
    key         ``kid`` names a signing key the TPP registered (its OAuth client's ``jwks``, or its
                ``jwks_uri``, fetched again once when the kid is unknown: the TPP may have rotated);
                "a kid that does not resolve" is Signature.InvalidClaim
    signature   joserfc verifies PS256 over the header and the body (Signature.Invalid)

The TPP is the client of the access token the gateway already checked: a TPP can only sign as
itself.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any, Protocol

import orjson
from joserfc import jws
from joserfc.errors import JoseError, MissingAlgorithmError
from joserfc.jwk import KeySet, RSAKey
from joserfc.util import urlsafe_b64decode

from kaimen.authz.clients import Client
from kaimen.authz.clients_jwks import JwksUnavailable
from kaimen.errors import ServiceUnavailable
from kaimen.jws.errors import (
    HEADER,
    SignatureInvalid,
    SignatureInvalidClaim,
    SignatureMalformed,
    SignatureMissing,
    SignatureMissingClaim,
)
from kaimen.jws.header import ALGORITHM, REGISTRY, check_header

# RFC 7515 Appendix F: a compact JWS whose payload segment is empty; base64url without padding.
_DETACHED = re.compile(r"[A-Za-z0-9_-]+\.\.[A-Za-z0-9_-]+", re.ASCII)


class ClientKeys(Protocol):
    """What verification needs of the OAuth client registry (kaimen.authz.clients.ClientRegistry)."""

    async def get(self, client_id: str) -> Client | None: ...

    async def keys(self, client: Client, *, refetch: bool = False) -> KeySet: ...


def tpp_jws_iss(client: Client) -> str:
    """The ``http://openbanking.org.uk/iss`` a TPP signs as: the ``jws_iss`` its software statement
    gave it (``{org_id}/{software_id}``, as the UK OB directory names TPPs), else its client_id."""
    return client.jws_iss or client.client_id


class RequestSignatures:
    def __init__(self, clients: ClientKeys, tan: str, clock: Callable[[], float] = time.time) -> None:
        self.clients = clients
        self.tan = tan
        self.clock = clock

    async def verify(self, value: str | None, body: bytes, client_id: str) -> None:
        """Returns when ``value`` is the TPP ``client_id``'s valid signature of ``body``."""
        if not value:
            raise SignatureMissing("x-jws-signature is required", path=HEADER)
        compact = _detached(value, body)
        header = compact.headers()
        client = await self.clients.get(client_id)
        if client is None:  # the token's client was deleted since the gateway looked
            raise SignatureInvalid("the signer is unknown", path=HEADER)
        kid = check_header(header, iss=tpp_jws_iss(client), tan=self.tan, now=self.clock())
        key = await self._key(client, kid)
        try:
            valid = jws.validate_compact(compact, key, registry=REGISTRY)
        except (JoseError, ValueError):
            valid = False
        if not valid:
            raise SignatureInvalid("the signature does not verify over the body", path=HEADER)

    async def _key(self, client: Client, kid: str) -> RSAKey:
        try:
            key = _signing_key(await self.clients.keys(client), kid)
            if key is None and "jwks_uri" in client.metadata:
                key = _signing_key(await self.clients.keys(client, refetch=True), kid)
        except JwksUnavailable:
            raise ServiceUnavailable(
                "the TPP's jwks_uri could not be fetched", headers={"Retry-After": "5"}
            ) from None
        if key is None:
            raise SignatureInvalidClaim("kid names no PS256 signing key of this TPP", path="kid")
        return key


def _detached(value: str, body: bytes) -> Any:
    """The parsed JWS, its payload the body (joserfc's compact reader, given the detached content)."""
    if not _DETACHED.fullmatch(value):
        raise SignatureMalformed(
            "x-jws-signature must be a detached compact JWS: header..signature", path=HEADER
        )
    try:
        compact = jws.extract_compact(value.encode(), payload=body, registry=REGISTRY)
    except MissingAlgorithmError:
        raise SignatureMissingClaim("alg is required", path="alg") from None
    except (JoseError, ValueError, TypeError):
        raise SignatureMalformed("x-jws-signature could not be parsed as a JWS", path=HEADER) from None
    if not isinstance(compact.protected, dict):
        raise SignatureMalformed("the JOSE header must be a JSON object", path=HEADER)
    _strict_json(compact.segments["header"])
    return compact


def _strict_json(header_segment: bytes) -> None:
    """RFC 8259 §6: "Numeric values that cannot be represented in the grammar below (such as Infinity
    and NaN) are not permitted". joserfc read the header with Python's json module, which takes them
    (an ``iat`` of NaN compares false with every bound, so no age check could refuse it): read it
    again with orjson, which refuses anything that is not JSON."""
    try:
        orjson.loads(urlsafe_b64decode(header_segment))
    except orjson.JSONDecodeError:
        raise SignatureMalformed("the JOSE header is not JSON (RFC 8259)", path=HEADER) from None


def _signing_key(keys: KeySet, kid: str) -> RSAKey | None:
    """The TPP's RSA key named ``kid`` that may sign with PS256 (RFC 7517 §4.2, §4.4)."""
    for key in keys:
        if (
            isinstance(key, RSAKey)
            and key.kid == kid
            and key.get("use") in (None, "sig")
            and key.get("alg") in (None, ALGORITHM)
        ):
            return key
    return None
