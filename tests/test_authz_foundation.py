"""The authorization server's foundation: sealing at rest, one-time values, signing keys, discovery."""

from __future__ import annotations

import asyncio
import os
import stat
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag
from joserfc import jwt
from joserfc.jwk import KeySet

from kaimen.authz.errors import InvalidRequest, ascii_description
from kaimen.authz.once import DatabaseOnce, RedisOnce
from kaimen.authz.sealing import Sealer, sealer_for
from kaimen.authz.signing import SigningKeys, rotate
from kaimen.settings import load_settings
from kaimen.store.db import Database

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "k"}


def test_sealed_value_opens_only_in_its_own_context() -> None:
    sealer = Sealer(os.urandom(32))
    sealed = sealer.seal(b"JBSWY3DPEHPK3PXP", "totp:cust-1")
    assert b"JBSWY3DPEHPK3PXP" not in sealed
    assert sealer.open(sealed, "totp:cust-1") == b"JBSWY3DPEHPK3PXP"
    with pytest.raises(InvalidTag):
        sealer.open(sealed, "totp:cust-2")  # moved to another record
    with pytest.raises(InvalidTag):
        Sealer(os.urandom(32)).open(sealed, "totp:cust-1")  # another deployment's key


def test_embedded_mode_keeps_its_sealing_key_in_the_data_dir_with_mode_0600(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    first = sealer_for(settings).seal(b"x", "c")
    assert stat.S_IMODE((tmp_path / "secret.key").stat().st_mode) == 0o600
    assert sealer_for(settings).open(first, "c") == b"x"  # the same key the next time


def test_error_descriptions_stay_in_the_rfc6749_character_set() -> None:
    assert ascii_description('bad "value" \\ ü\n') == "bad 'value' / ??"  # ü and the newline
    assert InvalidRequest("état").description == "?tat"


async def test_database_once_store_accepts_a_value_once(database_url: str) -> None:
    db = Database(database_url)
    once = DatabaseOnce(db)
    try:
        assert await once.use("jti", "abc", 60) is True
        assert await once.use("jti", "abc", 60) is False
        assert await once.use("other", "abc", 60) is True  # namespaces are apart
        results = await asyncio.gather(*(once.use("jti", "race", 60) for _ in range(20)))
        assert results.count(True) == 1
    finally:
        await db.dispose()


async def test_redis_once_store_accepts_a_value_once(redis_url: str) -> None:
    once = RedisOnce(redis_url)
    value = os.urandom(8).hex()
    try:
        results = await asyncio.gather(*(once.use("jti", value, 30) for _ in range(20)))
        assert results.count(True) == 1
        assert await once.use("jti", value, 30) is False
    finally:
        await once.close()


async def test_signing_keys_are_created_once_and_publish_no_private_part(database_url: str) -> None:
    db = Database(database_url)
    sealer = Sealer(os.urandom(32))
    try:
        keys = SigningKeys(db, sealer)
        await keys.ensure()
        await keys.ensure()
        published = keys.jwks()["keys"]
        assert sorted(k["alg"] for k in published) == ["ES256", "PS256"]
        assert all(PRIVATE_MEMBERS.isdisjoint(k) for k in published)
        token = keys.sign({"sub": "x"}, "PS256", typ="JWT")
        verified = jwt.decode(token, KeySet.import_key_set(keys.jwks()), algorithms=["PS256"])
        assert verified.claims == {"sub": "x"}
    finally:
        await db.dispose()


async def test_rotation_publishes_the_new_key_before_using_it(database_url: str) -> None:
    db = Database(database_url)
    sealer = Sealer(os.urandom(32))
    try:
        keys = SigningKeys(db, sealer)
        await keys.ensure()
        old = keys.current("ES256").kid
        new = await rotate(db, sealer, publish_for=timedelta(hours=1), keep_old_for=timedelta(hours=1))
        await keys.load()
        kids = {k["kid"] for k in keys.jwks()["keys"]}
        assert {k.kid for k in new} <= kids and old in kids  # both published
        assert keys.current("ES256").kid == old  # the new one is not used yet
        await rotate(db, sealer, publish_for=timedelta(0), keep_old_for=timedelta(hours=1))
        await keys.load()
        assert keys.current("ES256").kid not in {old, *(k.kid for k in new)}
        assert old in {k["kid"] for k in keys.jwks()["keys"]}  # kept until what it signed expired
    finally:
        await db.dispose()


async def test_discovery_advertises_exactly_what_is_supported(client: Any) -> None:
    response = await client.get("/.well-known/openid-configuration")
    assert response.status_code == 200
    meta = response.json()
    assert meta["issuer"] == "http://localhost:8000"
    assert meta["response_types_supported"] == ["code"]
    assert meta["require_pushed_authorization_requests"] is True
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    assert meta["token_endpoint_auth_signing_alg_values_supported"] == ["PS256", "ES256"]
    assert meta["dpop_signing_alg_values_supported"] == ["PS256", "ES256", "EdDSA"]
    assert meta["authorization_response_iss_parameter_supported"] is True
    assert meta["claims_parameter_supported"] is True
    assert set(meta["acr_values_supported"]) == {"urn:openbanking:psd2:sca", "urn:openbanking:psd2:ca"}
    # UserInfo answers plain JSON, never a signed JWT: advertising signing algs would claim otherwise.
    assert "userinfo_signing_alg_values_supported" not in meta
    same = await client.get("/.well-known/oauth-authorization-server")
    assert same.json() == meta
    jwks = await client.get(meta["jwks_uri"].removeprefix("http://localhost:8000"))
    assert jwks.status_code == 200
    assert jwks.headers["content-type"] == "application/jwk-set+json"
    assert jwks.headers["cache-control"] == "max-age=300"  # keys rotate --publish-for's minimum
    assert {k["alg"] for k in jwks.json()["keys"]} == {"PS256", "ES256"}
    assert all(PRIVATE_MEMBERS.isdisjoint(k) for k in jwks.json()["keys"])


def test_keys_rotate_command_publishes_new_keys(tmp_path: Path) -> None:
    import json

    from click.testing import CliRunner

    from kaimen.cli.main import cli

    runner = CliRunner()
    base = ["--data-dir", str(tmp_path)]
    assert runner.invoke(cli, [*base, "keys", "rotate", "--publish-for", "300"]).exit_code == 0
    listed = runner.invoke(cli, [*base, "keys", "list"])
    assert listed.exit_code == 0
    rows = json.loads(listed.output)
    assert sorted(r["alg"] for r in rows) == ["ES256", "PS256"]
    assert all(r["retired_at"] is None for r in rows)


async def test_a_worker_with_another_secret_key_says_so(database_url: str) -> None:
    from kaimen.authz.signing import SealingKeyMismatch

    db = Database(database_url)
    try:
        await SigningKeys(db, Sealer(os.urandom(32))).ensure()
        with pytest.raises(SealingKeyMismatch, match="KAIMEN_SECRET_KEY"):
            await SigningKeys(db, Sealer(os.urandom(32))).load()
    finally:
        await db.dispose()
