"""The software-statement directory (kaimen.authz.directory): Kaimen's own key in embedded mode, sealed
at rest with mode 0600, and a configured JWKS otherwise."""

from __future__ import annotations

import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import orjson
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from kaimen.authz.directory import FILE_NAME, DirectoryKey
from kaimen.authz.errors import InvalidSoftwareStatement
from kaimen.authz.register_statement import verify_statement
from kaimen.settings import Settings
from kaimen.tiers import Tier


def test_embedded_directory_key_is_created_once_sealed_and_private(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = make_settings()
    first = DirectoryKey.for_settings(settings)
    path = tmp_path / FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    stored = path.read_bytes()
    assert b"PRIVATE KEY" not in stored and b'"d"' not in stored  # sealed, never in the clear
    assert set(orjson.loads(stored)) == {"kid", "sealed"}
    again = DirectoryKey.for_settings(settings)
    assert again.jwks() == first.jwks()
    assert all("d" not in key for key in first.jwks()["keys"])


def test_a_statement_signed_by_the_embedded_directory_verifies(
    make_settings: Callable[..., Settings],
) -> None:
    directory = DirectoryKey.for_settings(make_settings())
    statement = directory.sign_software_statement(
        {"software_id": "app", "org_name": "Acme", "tier": "partner"}
    )
    token = jwt.decode(statement, KeySet.import_key_set(cast(Any, directory.jwks())), algorithms=["PS256"])
    assert token.claims["iss"] == "kaimen-sandbox-directory" and token.header["alg"] == "PS256"
    verified = verify_statement(statement, directory)
    assert (verified.software_id, verified.organisation, verified.tier) == ("app", "Acme", Tier.PARTNER)
    assert verified.application == "app" and verified.jws_iss == "app"


def test_a_configured_directory_verifies_but_cannot_sign(make_settings: Callable[..., Settings]) -> None:
    private = RSAKey.generate_key(2048, parameters={"kid": "ob-dir", "alg": "PS256"}, private=True)
    settings = make_settings(
        directory_jwks=orjson.dumps({"keys": [private.as_dict(private=False)]}).decode(),
        directory_issuer="OpenBanking Ltd",
    )
    directory = DirectoryKey.for_settings(settings)
    assert [key["kid"] for key in directory.jwks()["keys"]] == ["ob-dir"]
    with pytest.raises(RuntimeError, match="cannot sign"):
        directory.sign_software_statement({})
    claims = {"iss": "OpenBanking Ltd", "iat": int(time.time()), "software_id": "s", "org_id": "o"}
    statement = jwt.encode({"alg": "PS256", "kid": "ob-dir"}, claims, private, algorithms=["PS256"])
    assert verify_statement(statement, directory).jws_iss == "o/s"
    with pytest.raises(InvalidSoftwareStatement, match="iss is not the directory"):
        verify_statement(
            jwt.encode(
                {"alg": "PS256", "kid": "ob-dir"}, {**claims, "iss": "x"}, private, algorithms=["PS256"]
            ),
            directory,
        )
