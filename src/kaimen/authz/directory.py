"""The software-statement directory (RFC 7591 §2.3): whose signature makes a registration trustworthy.

- ``KAIMEN_DIRECTORY_JWKS`` (required in production mode): the directory's public keys. Kaimen only
  verifies; it cannot sign.
- Otherwise (embedded mode) Kaimen is its own directory, as the sandbox needs: a PS256 key pair kept in
  the data dir (``directory.key``, mode 0600), its private part sealed with the deployment's sealing
  key (kaimen.authz.sealing), created atomically on first use so concurrent workers agree on one key.
  The demo and the tests sign software statements with it.

The directory's issuer (the statements' ``iss``) is ``settings.directory_issuer``.
"""

from __future__ import annotations

import base64
import secrets
import time
from pathlib import Path
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from joserfc import jwt
from joserfc.jwk import KeyParameters, KeySet, RSAKey

from kaimen.authz.sealing import SealingKeyMismatch, sealer_for
from kaimen.settings import Mode, Settings
from kaimen.store.files import create_once

ALGORITHMS = ("PS256", "ES256")
FILE_NAME = "directory.key"
_CONTEXT = "directory-key"


class DirectoryKey:
    def __init__(self, issuer: str, public: KeySet, private: RSAKey | None = None) -> None:
        self.issuer = issuer
        self._public = public
        self._private = private

    @classmethod
    def for_settings(cls, settings: Settings) -> DirectoryKey:
        if settings.directory_jwks:
            public = KeySet.import_key_set(orjson.loads(settings.directory_jwks))
            return cls(settings.directory_issuer, public)
        if settings.mode is not Mode.EMBEDDED:
            raise ValueError("KAIMEN_DIRECTORY_JWKS is required in production mode")
        private = _load_or_create(settings)
        public = KeySet([RSAKey.import_key(private.as_dict(private=False))])
        return cls(settings.directory_issuer, public, private)

    def key_set(self) -> KeySet:
        return self._public

    def jwks(self) -> dict[str, Any]:
        return {"keys": [key.as_dict(private=False) for key in self._public]}

    def sign_software_statement(self, claims: dict[str, Any]) -> str:
        """A software statement signed by this directory (embedded mode only): ``iss`` and ``iat``
        are filled in unless ``claims`` sets them."""
        if self._private is None:
            raise RuntimeError("this directory is configured by its public keys only: it cannot sign")
        body = {"iss": self.issuer, "iat": int(time.time()), **claims}
        header = {"alg": "PS256", "kid": self._private.kid, "typ": "JWT"}
        return jwt.encode(header, body, self._private, algorithms=["PS256"])


def _load_or_create(settings: Settings) -> RSAKey:
    sealer = sealer_for(settings)
    path = Path(settings.data_dir) / FILE_NAME
    if not path.exists():
        kid = secrets.token_urlsafe(12)
        parameters: KeyParameters = {"kid": kid, "alg": "PS256", "use": "sig"}
        key = RSAKey.generate_key(2048, parameters=parameters, private=True)
        sealed = sealer.seal(key.as_bytes(private=True), f"{_CONTEXT}:{kid}")
        record = orjson.dumps({"kid": kid, "sealed": base64.b64encode(sealed).decode()})
        create_once(path, record)
    record = orjson.loads(path.read_bytes())
    try:
        pem = sealer.open(base64.b64decode(record["sealed"]), f"{_CONTEXT}:{record['kid']}")
    except InvalidTag:
        # A data dir made with one KAIMEN_SECRET_KEY (or none: the key kept beside it) opened with another.
        raise SealingKeyMismatch(
            f"directory key {record['kid']} in {path} was sealed with another secret key: every worker "
            "of one deployment needs the same KAIMEN_SECRET_KEY, the one its data dir was created with"
        ) from None
    parameters = {"kid": record["kid"], "alg": "PS256", "use": "sig"}
    return RSAKey.import_key(pem, parameters)
