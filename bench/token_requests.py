"""The token benchmark's requests, all made before a timed run: client assertions (PS256, RFC 7523),
DPoP proofs (ES256, RFC 9449), PKCE pairs, and the raw HTTP/1.1 requests bench/wrk_replay.lua replays.

Everything is signed here with joserfc and hashlib, never with Kaimen's own code, as the tests do
(tests/authz_flow_support.py). Each assertion and each proof has its own ``jti``; signing is spread
over a process pool (the server is idle while the requests are made).
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import time
import uuid
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

TOKEN = "/oauth2/token"  # noqa: S105 (a path)
USERINFO = "/oauth2/userinfo"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_LIFETIME = 120  # seconds; the server refuses more than client_assertion_max_lifetime_seconds


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True)
class Keys:
    """What a TPP holds: its client id, its PS256 signing key and its ES256 DPoP key (private JWKs)."""

    base_url: str  # the server's public base URL: assertion aud and the base of every htu
    client_id: str
    client_jwk: dict[str, Any]
    dpop_jwk: dict[str, Any]

    @classmethod
    def generate(cls, base_url: str, client_id: str = "") -> Keys:
        client_key = RSAKey.generate_key(
            2048, parameters={"kid": secrets.token_urlsafe(8), "alg": "PS256", "use": "sig"}, private=True
        )
        dpop_key = ECKey.generate_key("P-256", private=True)
        return cls(base_url, client_id, client_key.as_dict(private=True), dpop_key.as_dict(private=True))

    def public_client_jwk(self) -> dict[str, Any]:
        return RSAKey.import_key(self.client_jwk).as_dict(private=False)

    def jkt(self) -> str:
        return ECKey.import_key(self.dpop_jwk).thumbprint()


class Signer:
    """Signs with one TPP's keys (imported once per process)."""

    def __init__(self, keys: Keys) -> None:
        self.keys = keys
        self.client_key = RSAKey.import_key(keys.client_jwk)
        self.dpop_key = ECKey.import_key(keys.dpop_jwk)
        self.dpop_public = self.dpop_key.as_dict(private=False)

    def assertion(self, **overrides: Any) -> str:
        now = int(time.time())
        claims = {
            "iss": self.keys.client_id,
            "sub": self.keys.client_id,
            "aud": self.keys.base_url,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME,
            "jti": uuid.uuid4().hex,
            **overrides,
        }
        header = {"alg": "PS256", "kid": self.client_key.kid}
        return jwt.encode(header, claims, self.client_key, algorithms=["PS256"])

    def proof(self, method: str, path: str, access_token: str | None = None) -> str:
        claims: dict[str, Any] = {
            "jti": uuid.uuid4().hex,
            "htm": method,
            "htu": self.keys.base_url + path,
            "iat": int(time.time()),
        }
        if access_token is not None:
            claims["ath"] = b64(hashlib.sha256(access_token.encode("ascii")).digest())
        header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": self.dpop_public}
        return jwt.encode(header, claims, self.dpop_key, algorithms=["ES256"])

    def token_form(self, **params: str) -> dict[str, str]:
        return {**params, "client_assertion_type": ASSERTION_TYPE, "client_assertion": self.assertion()}


@dataclass(frozen=True)
class Pkce:
    verifier: str

    @classmethod
    def new(cls) -> Pkce:
        return cls(secrets.token_urlsafe(48))

    @property
    def challenge(self) -> str:
        return b64(hashlib.sha256(self.verifier.encode()).digest())


def raw_request(
    method: str, path: str, host: str, headers: dict[str, str], form: dict[str, str] | None = None
) -> bytes:
    body = urlencode(form).encode() if form is not None else b""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    if form is not None:
        lines += ["Content-Type: application/x-www-form-urlencoded", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def write_records(path: Path, requests: Iterable[bytes]) -> int:
    """The file bench/wrk_replay.lua reads: "<byte length>\\n<raw request>" per request."""
    count = 0
    with path.open("wb") as out:
        for raw in requests:
            out.write(b"%d\n" % len(raw))
            out.write(raw)
            count += 1
    return count


# --- made in the process pool -------------------------------------------------------------------

_signer: Signer | None = None


def _init_worker(keys: Keys) -> None:
    global _signer
    _signer = Signer(keys)


def _token_parts(count: int) -> list[tuple[str, str]]:
    """``count`` (client assertion, token-endpoint proof) pairs."""
    assert _signer is not None
    return [(_signer.assertion(), _signer.proof("POST", TOKEN)) for _ in range(count)]


def _resource_proofs(count: int, method: str, path: str, access_token: str) -> list[str]:
    assert _signer is not None
    return [_signer.proof(method, path, access_token) for _ in range(count)]


def _chunks(total: int, workers: int) -> list[int]:
    size = max(1, -(-total // (workers * 4)))
    return [min(size, total - start) for start in range(0, total, size)]


class Factory:
    """Makes many signed parts at once on every core (call between timed runs only)."""

    def __init__(self, keys: Keys, workers: int | None = None) -> None:
        self.workers = workers or os.cpu_count() or 1
        self.pool = ProcessPoolExecutor(self.workers, initializer=_init_worker, initargs=(keys,))

    def close(self) -> None:
        self.pool.shutdown()

    def token_parts(self, count: int) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        for part in self.pool.map(_token_parts, _chunks(count, self.workers)):
            out += part
        return out

    def resource_proofs(self, count: int, method: str, path: str, access_token: str) -> list[str]:
        sizes = _chunks(count, self.workers)
        out: list[str] = []
        for part in self.pool.map(
            _resource_proofs,
            sizes,
            [method] * len(sizes),
            [path] * len(sizes),
            [access_token] * len(sizes),
        ):
            out += part
        return out


def client_credentials_requests(parts: Sequence[tuple[str, str]], host: str) -> Iterable[bytes]:
    for assertion, proof in parts:
        form = {
            "grant_type": "client_credentials",
            "scope": "accounts",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion,
        }
        yield raw_request("POST", TOKEN, host, {"DPoP": proof}, form)


def code_requests(
    parts: Sequence[tuple[str, str]], codes: Sequence[tuple[str, Pkce]], redirect_uri: str, host: str
) -> Iterable[bytes]:
    for (assertion, proof), (code, pkce) in zip(parts, codes, strict=True):
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": pkce.verifier,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion,
        }
        yield raw_request("POST", TOKEN, host, {"DPoP": proof}, form)


def resource_requests(proofs: Sequence[str], path: str, access_token: str, host: str) -> Iterable[bytes]:
    for proof in proofs:
        yield raw_request("GET", path, host, {"Authorization": f"DPoP {access_token}", "DPoP": proof})
