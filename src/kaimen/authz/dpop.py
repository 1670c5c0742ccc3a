"""DPoP proofs (RFC 9449), checked as §4.3 lists them, for the token endpoint and every resource.

RFC 9449 §4.3: "To validate a DPoP proof, the receiving server MUST ensure the following:
 1. there is not more than one DPoP HTTP request header field,
 2. the DPoP HTTP request header field value is a single and well-formed JWT,
 3. all required claims per Section 4.2 are contained in the JWT,
 4. the typ JOSE Header Parameter has the value dpop+jwt,
 5. the alg JOSE Header Parameter indicates a registered asymmetric digital signature algorithm, is
    not none, is supported by the application, and is acceptable per local policy,
 6. the JWT signature verifies with the public key contained in the jwk JOSE Header Parameter,
 7. the jwk JOSE Header Parameter does not contain a private key,
 8. the htm claim matches the HTTP method of the current request,
 9. the htu claim matches the HTTP URI value for the HTTP request in which the JWT was received,
    ignoring any query and fragment parts,
10. if the server provided a nonce value to the client, the nonce claim matches the server-provided
    nonce value,
11. the creation time of the JWT, as determined by either the iat claim or a server managed timestamp
    via the nonce claim, is within an acceptable window (see Section 11.1),
12. if presented to a protected resource in conjunction with an access token, ensure that the value
    of the ath claim equals the hash of that access token, and confirm that the public key to which
    the access token is bound matches the public key from the DPoP proof."

Local policy (FAPI 2.0 §5.4): PS256, ES256 or EdDSA only; RSA keys of 2048 bits or more; an OKP key
only on Ed25519 (FAPI 2.0 Security Profile §5.4.1 allows "EdDSA using the Ed25519 variant", so an
Ed448 key is refused even though RFC 8037 lets EdDSA name either curve).
The htu is compared with the request URL "ignoring any query and fragment parts" (§4.3 item 9): both
lose them before the comparison, so a client that sends them anyway (§4.2 asks it not to) is not
refused for it. The request URL is built from the configured public base URL, never from the Host
header.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import hmac
import re
import time
import warnings
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import orjson
from joserfc import jws
from joserfc.errors import JoseError, SecurityWarning
from joserfc.jwk import JWKRegistry, Key, RSAKey

from kaimen.authz.discovery import DPOP_ALGS
from kaimen.authz.errors import InvalidDpopProof, UseDpopNonce
from kaimen.authz.once import DatabaseOnce, OnceStore
from kaimen.settings import Settings
from kaimen.store.bounded import BoundedDict

TYP = "dpop+jwt"


class _Registry(jws.JWSRegistry):
    # The proof's header carries its public key: an RSA jwk alone is over joserfc's default 512 bytes.
    max_header_length = 2048


_REGISTRY = _Registry(algorithms=DPOP_ALGS)
_KEY_TYPES = frozenset({"RSA", "EC", "OKP"})  # asymmetric only: an "oct" key is refused
_OKP_CURVE = "Ed25519"  # FAPI 2.0 §5.4.1: EdDSA "using the Ed25519 variant" only
# RFC 7517 §6.2.2, §6.3.2, §6.4: members that only a private (or symmetric) key has.
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_MIN_RSA_BITS = 2048  # FAPI 2.0 §5.4 (cryptography): RSA keys of 2048 bits or more
MAX_PROOF_BYTES = 8192
MAX_JTI_LENGTH = 256
PROOF_USED = "the DPoP proof was already used"  # §11.1
_DEFAULT_PORTS = {"http": 80, "https": 443}
_PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def single_proof(values: Sequence[str]) -> str | None:
    """The DPoP header's value; §4.3 item 1: "not more than one DPoP HTTP request header field"."""
    if len(values) > 1:
        raise InvalidDpopProof("more than one DPoP header")
    return values[0] if values else None


def access_token_hash(token: str) -> str:
    """RFC 9449 §4.2 ath: "the base64url encoding of the SHA-256 hash of the ASCII encoding of the
    associated access token's value"."""
    digest = hashlib.sha256(token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _percent(match: re.Match[str]) -> str:
    char = chr(int(match.group(0)[1:], 16))
    return char if char in _UNRESERVED else match.group(0).upper()


# Every proof names one of a few URLs, and every call normalises its own: remembered, bounded (a made-up
# htu can push out others but not grow memory). A malformed URL raises, and raising is not remembered.
@functools.lru_cache(maxsize=4096)
def normalise_url(url: str) -> str:
    """RFC 3986 §6.2.2 and §6.2.3 (RFC 9449 §4.3 points there): scheme and host in lower case, the
    default port dropped, percent-encodings in upper case and unreserved ones decoded, an empty path
    made "/"; query and fragment dropped (RFC 9449 §4.3 item 9: compared "ignoring any query and
    fragment parts")."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    port = parts.port  # raises ValueError on a malformed port
    netloc = host if port is None or port == _DEFAULT_PORTS.get(scheme) else f"{host}:{port}"
    if parts.username is not None or parts.password is not None:
        netloc = "@" + netloc  # never equal to a configured URL, which has no user info
    path = _PERCENT.sub(_percent, parts.path) or "/"
    return f"{scheme}://{netloc}{path}"


class DpopNonces:
    """Server nonces (RFC 9449 §8, §9) that every worker agrees on without shared state: the nonce of
    time window ``n`` is HMAC-SHA256(key, n), the key derived from the sealing key. A nonce is
    accepted during its own window and the next one."""

    def __init__(self, key: bytes, window_seconds: int) -> None:
        self._key = key
        self.window = window_seconds

    def _for(self, index: int) -> str:
        mac = hmac.new(self._key, f"dpop-nonce:{index}".encode(), hashlib.sha256).digest()[:24]
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    def current(self) -> str:
        return self._for(int(time.time()) // self.window)

    def valid(self, nonce: object) -> bool:
        if not isinstance(nonce, str) or len(nonce) > 64:
            return False
        index = int(time.time()) // self.window
        return any(hmac.compare_digest(nonce, self._for(i)) for i in (index, index - 1))


class CheckedProof(NamedTuple):
    """A proof that passed every §4.3 check except the one-time use of its jti (DpopVerifier.use)."""

    jkt: str  # the RFC 7638 SHA-256 thumbprint of its key
    jti: str


class ProofKey(NamedTuple):
    key: Key
    jkt: str  # its RFC 7638 SHA-256 thumbprint


# A TPP signs every proof with the same key: importing it (and hashing its thumbprint) once per worker
# rather than once per proof. Only keys that imported and passed the checks below are kept, under
# their exact JSON, and the cache is bounded, so made-up keys cannot grow it.
_IMPORTED = BoundedDict[ProofKey](4096)


def _public_key(header: dict[str, Any]) -> ProofKey:
    """§4.3 items 5-7: the jwk header is a public asymmetric key that fits the alg."""
    jwk = header.get("jwk")
    if not isinstance(jwk, dict):
        raise InvalidDpopProof("the jwk header is missing")
    if _PRIVATE_MEMBERS & jwk.keys():
        raise InvalidDpopProof("the jwk header must not contain a private key")
    kty = jwk.get("kty")
    if not isinstance(kty, str) or kty not in _KEY_TYPES:  # a list or an object is no key type either
        raise InvalidDpopProof("the jwk header must be an asymmetric public key")
    if kty == "OKP" and jwk.get("crv") != _OKP_CURVE:
        raise InvalidDpopProof("an OKP key must be on the Ed25519 curve")
    try:
        exact = orjson.dumps(jwk, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError as exc:
        raise InvalidDpopProof("the jwk header is not a valid key") from exc
    return _IMPORTED.built(exact, lambda _: _proof_key(jwk))


def _proof_key(jwk: dict[str, Any]) -> ProofKey:
    key = _imported(jwk)
    return ProofKey(key, key.thumbprint())


def _imported(jwk: dict[str, Any]) -> Key:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SecurityWarning)  # a short RSA key: refused just below
            key = JWKRegistry.import_key(jwk)
    except (JoseError, ValueError, TypeError, KeyError) as exc:  # KeyError: a curve joserfc does not know
        raise InvalidDpopProof("the jwk header is not a valid key") from exc
    if isinstance(key, RSAKey) and key.public_key.key_size < _MIN_RSA_BITS:
        raise InvalidDpopProof("RSA keys must be 2048 bits or longer")
    return key


def _signed_claims(proof: str) -> tuple[dict[str, Any], ProofKey]:
    """§4.3 items 2 and 4-7: a compact JWS with typ dpop+jwt, an allowed alg, and a valid signature
    by its own public jwk. Returns the claims and the key."""
    if len(proof) > MAX_PROOF_BYTES or proof.count(".") != 2:
        raise InvalidDpopProof("the DPoP proof is not a compact JWS")
    try:
        obj = jws.extract_compact(proof.encode("ascii"), registry=_REGISTRY)
    except (JoseError, ValueError, UnicodeError) as exc:
        raise InvalidDpopProof("the DPoP proof is not a compact JWS") from exc
    header: dict[str, Any] = dict(obj.headers())
    if header.get("typ") != TYP:
        raise InvalidDpopProof("the typ header must be dpop+jwt")
    if header.get("alg") not in DPOP_ALGS:
        raise InvalidDpopProof("the alg header must be one of " + " ".join(DPOP_ALGS))
    if "crit" in header or "b64" in header:
        raise InvalidDpopProof("critical header extensions are not supported")
    key = _public_key(header)
    try:
        if header["alg"] == "EdDSA":
            with warnings.catch_warnings():
                # joserfc flags "EdDSA" as superseded by RFC 9864's "Ed25519"; RFC 9449 clients send
                # EdDSA. Only then: the context manager costs more than the rest of these checks.
                warnings.simplefilter("ignore", SecurityWarning)
                valid = jws.validate_compact(obj, key.key, registry=_REGISTRY)
        else:
            valid = jws.validate_compact(obj, key.key, registry=_REGISTRY)
        claims = orjson.loads(obj.payload)
    except (JoseError, ValueError) as exc:
        raise InvalidDpopProof("the DPoP proof could not be verified") from exc
    if not valid:
        raise InvalidDpopProof("the DPoP proof signature is invalid")
    if not isinstance(claims, dict):
        raise InvalidDpopProof("the DPoP proof claims are not a JSON object")
    return claims, key


def _check_request(claims: dict[str, Any], method: str, url: str) -> None:
    """§4.3 items 8 and 9: htm is the method; htu is the request URL, "ignoring any query and fragment
    parts" (normalise_url drops them from both)."""
    if claims.get("htm") != method:
        raise InvalidDpopProof("htm does not match the request method")
    htu = claims.get("htu")
    if not isinstance(htu, str) or len(htu) > 2048:
        raise InvalidDpopProof("htu is missing")
    try:
        matches = normalise_url(htu) == normalise_url(url)
    except ValueError:
        matches = False
    if not matches:
        raise InvalidDpopProof("htu does not match the request URL")


def _check_iat(claims: dict[str, Any], window: int) -> None:
    """§4.3 item 11 and §11.1: iat within the acceptable window, in the past or the future."""
    iat = claims.get("iat")
    if not isinstance(iat, int | float) or isinstance(iat, bool):
        raise InvalidDpopProof("iat is missing")
    if abs(time.time() - iat) > window:
        raise InvalidDpopProof("iat is outside the acceptable window")


def _check_ath(claims: dict[str, Any], access_token: str | None) -> None:
    """§4.3 item 12 / §7: with an access token, ath is required and equals its hash."""
    if access_token is None:
        return
    ath = claims.get("ath")
    if not isinstance(ath, str):
        raise InvalidDpopProof("ath is required with an access token")
    if not hmac.compare_digest(ath.encode(), access_token_hash(access_token).encode()):
        raise InvalidDpopProof("ath does not match the access token")


class DpopVerifier:
    def __init__(self, once: OnceStore, settings: Settings, *, nonce_key: bytes | None = None) -> None:
        self.once = once
        self.base_url = settings.public_base_url
        self.window = settings.oauth.dpop_iat_window_seconds
        self.nonces: DpopNonces | None = None
        if settings.oauth.dpop_nonce_required:
            if nonce_key is None:
                from kaimen.authz.sealing import sealer_for

                nonce_key = sealer_for(settings).derive_key("dpop-nonce")
            self.nonces = DpopNonces(nonce_key, self.window)

    def url_for(self, path: str) -> str:
        """The URL a request for ``path`` was sent to: the public base URL, never the Host header."""
        return self.base_url + path

    def nonce_header(self) -> dict[str, str]:
        return {"DPoP-Nonce": self.nonces.current()} if self.nonces is not None else {}

    async def verify(
        self,
        proof: str | None,
        *,
        method: str,
        url: str,
        access_token: str | None = None,
        expected_jkt: str | None = None,
    ) -> str:
        """Check ``proof`` for a ``method`` request to ``url`` (a path, or a URL built by url_for), use
        it up, and return the RFC 7638 SHA-256 thumbprint of its key. Raises InvalidDpopProof or
        UseDpopNonce."""
        checked = self.check(
            proof, method=method, url=url, access_token=access_token, expected_jkt=expected_jkt
        )
        return await self.use(checked)

    def check(
        self,
        proof: str | None,
        *,
        method: str,
        url: str,
        access_token: str | None = None,
        expected_jkt: str | None = None,
    ) -> CheckedProof:
        """Every §4.3 check that needs no shared state, the server nonce included; the proof is not
        used up, so an endpoint can check it before anything else of the request is (the token
        endpoint and PAR check it before the client assertion's jti is recorded). Raises
        InvalidDpopProof or UseDpopNonce."""
        if not proof:
            raise InvalidDpopProof("a DPoP proof is required")
        claims, key = _signed_claims(proof.strip())
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI_LENGTH:
            raise InvalidDpopProof("jti is missing")
        _check_request(claims, method, self.url_for(url) if url.startswith("/") else url)
        _check_iat(claims, self.window)
        _check_ath(claims, access_token)
        if self.nonces is not None and not self.nonces.valid(claims.get("nonce")):
            # §8 (authorization server) and §9 (resource server): a proof without the server's
            # current nonce is refused with use_dpop_nonce and a fresh nonce in DPoP-Nonce.
            raise UseDpopNonce("a fresh DPoP nonce is required", headers=self.nonce_header())
        jkt = key.jkt
        if expected_jkt is not None and not hmac.compare_digest(jkt, expected_jkt):
            raise InvalidDpopProof("the DPoP key is not the bound key")
        return CheckedProof(jkt, jti)

    async def use(self, checked: CheckedProof) -> str:
        """§11.1: a proof is accepted once: its jti is kept, across every worker, for as long as a
        proof with that iat could still be accepted (the window on either side of now). Returns the
        thumbprint of its key."""
        if not await self.once.use("dpop", f"{checked.jkt}:{checked.jti}", self._kept_for):
            raise InvalidDpopProof(PROOF_USED)
        return checked.jkt

    @property
    def _kept_for(self) -> int:
        return 2 * self.window + 5

    async def use_reading(
        self,
        checked: CheckedProof,
        sql: str,
        params: dict[str, Any],
        read: Callable[[], Awaitable[list[tuple[Any, ...]]]],
    ) -> tuple[bool, list[tuple[Any, ...]]]:
        """:meth:`use` and a database read at once: whether the proof was fresh (if not, it was used
        before: refuse it with :data:`PROOF_USED`), and the rows of ``sql`` (a SELECT whose first
        column is never NULL). Where ``jti`` are kept in PostgreSQL, one statement does both
        (kaimen.authz.once.DatabaseOnce.use_reading); elsewhere (Redis) the claim and ``read()``, the
        same read on its own, run concurrently, so the call waits for the slower of the two stores
        rather than for both in turn."""
        value = f"{checked.jkt}:{checked.jti}"
        once = self.once
        if isinstance(once, DatabaseOnce) and once.reads_alongside:
            return await once.use_reading("dpop", value, self._kept_for, sql, params)
        fresh, rows = await asyncio.gather(
            once.use("dpop", value, self._kept_for), read(), return_exceptions=True
        )
        if isinstance(fresh, BaseException):
            raise fresh
        if isinstance(rows, BaseException):
            raise rows
        return fresh, rows
