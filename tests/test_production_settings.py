"""Production mode refuses to start with SQLite, in-memory stores, default or missing secrets, or the
demo directory key, and says which setting is wrong (issue 6, item 1)."""

from __future__ import annotations

import base64
import json
import secrets
from pathlib import Path
from typing import Any

import pytest
from joserfc.jwk import RSAKey

from kaimen.authz.directory import DirectoryKey
from kaimen.settings import Settings, SettingsError, load_settings


def directory_jwks(private: bool = False) -> str:
    key = RSAKey.generate_key(2048, parameters={"kid": "ob-directory", "alg": "PS256"}, private=True)
    return json.dumps({"keys": [key.as_dict(private=private)]})


DIRECTORY_JWKS = directory_jwks()
PHRASE = base64.urlsafe_b64encode(b"our-kaimen-secret-please-change!").decode()


def valid(tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    """Everything production needs; each test breaks one thing."""
    return {
        "mode": "production",
        "data_dir": tmp_path,
        "database_url": "postgresql://kaimen@db.internal:5432/kaimen",
        "redis_url": "redis://redis.internal:6379/0",
        "secret_key": secrets.token_urlsafe(32),
        "directory_jwks": DIRECTORY_JWKS,
        "directory_issuer": "OpenBanking Ltd",
        "public_base_url": "https://bank.example",
        "jws_tan": "openbanking.org.uk",
        "jws_iss": "0015800001041RHAAY",
        **overrides,
    }


def refused(tmp_path: Path, **overrides: Any) -> str:
    with pytest.raises(SettingsError) as caught:
        load_settings(**valid(tmp_path, **overrides))
    return str(caught.value)


def test_a_complete_production_configuration_starts(tmp_path: Path) -> None:
    settings = load_settings(**valid(tmp_path))
    assert settings.mode == "production"
    assert settings.sqlalchemy_url == "postgresql+asyncpg://kaimen@db.internal:5432/kaimen"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"database_url": None}, "KAIMEN_DATABASE_URL must name PostgreSQL in production mode"),
        ({"database_url": "sqlite:///kaimen.db"}, "KAIMEN_DATABASE_URL must name PostgreSQL"),
        ({"database_url": "sqlite+aiosqlite:///k.db"}, "KAIMEN_DATABASE_URL must name PostgreSQL"),
        # Without Redis, rate limits and jti replay caches would live in each process's memory.
        ({"redis_url": None}, "KAIMEN_REDIS_URL is required in production mode"),
        ({"secret_key": None}, "KAIMEN_SECRET_KEY is required in production mode"),
        ({"directory_jwks": None}, "KAIMEN_DIRECTORY_JWKS is required in production mode"),
        ({"public_base_url": "http://bank.example"}, "KAIMEN_PUBLIC_BASE_URL must be https"),
    ],
)
def test_missing_production_services_are_named(
    overrides: dict[str, Any], message: str, tmp_path: Path
) -> None:
    assert message in refused(tmp_path, **overrides)


@pytest.mark.parametrize(
    ("secret_key", "message"),
    [
        ("changeme", "KAIMEN_SECRET_KEY must be 32 random bytes in base64url"),
        (secrets.token_urlsafe(16), "KAIMEN_SECRET_KEY must be 32 random bytes in base64url"),
        (secrets.token_hex(32), "KAIMEN_SECRET_KEY must be 32 random bytes in base64url"),  # 64 chars
        ("A" * 43, "KAIMEN_SECRET_KEY is a placeholder"),  # 32 zero bytes
        ("k" * 43, "KAIMEN_SECRET_KEY is a placeholder"),  # a repeated pattern
        (PHRASE, "KAIMEN_SECRET_KEY is a placeholder"),  # a phrase, encoded
    ],
)
def test_default_or_placeholder_secret_key_is_refused(secret_key: str, message: str, tmp_path: Path) -> None:
    text = refused(tmp_path, secret_key=secret_key)
    assert message in text
    assert secret_key not in text  # the message never echoes the secret


def test_a_random_secret_key_with_padding_is_accepted(tmp_path: Path) -> None:
    assert load_settings(**valid(tmp_path, secret_key=secrets.token_urlsafe(32) + "="))


def test_the_sandbox_directory_issuer_is_refused(tmp_path: Path) -> None:
    overrides = valid(tmp_path)
    del overrides["directory_issuer"]  # the default: the sandbox directory's
    with pytest.raises(SettingsError) as caught:
        load_settings(**overrides)
    assert "KAIMEN_DIRECTORY_ISSUER is the sandbox directory's (kaimen-sandbox-directory)" in str(
        caught.value
    )


@pytest.mark.parametrize(
    ("jwks", "message"),
    [
        ("not json", 'KAIMEN_DIRECTORY_JWKS must be a JWK Set: {"keys": [...]}'),
        ('{"kty": "RSA"}', "KAIMEN_DIRECTORY_JWKS must be a JWK Set"),
        ('{"keys": "x"}', "KAIMEN_DIRECTORY_JWKS must be a JWK Set"),
        ('{"keys": []}', "KAIMEN_DIRECTORY_JWKS holds no key"),
        (directory_jwks(private=True), "KAIMEN_DIRECTORY_JWKS must hold the directory's public keys only"),
        ('{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}', "public keys only"),
    ],
)
def test_directory_jwks_must_be_public_keys(jwks: str, message: str, tmp_path: Path) -> None:
    assert message in refused(tmp_path, directory_jwks=jwks)


def test_the_demo_directory_key_is_refused(tmp_path: Path) -> None:
    # `kaimen demo` (embedded mode) is its own directory: its key pair lives in the data dir. Its
    # public half, copied into a production configuration, would let anyone holding that data dir sign
    # software statements the bank trusts.
    embedded = load_settings(data_dir=tmp_path, secret_key=secrets.token_urlsafe(32))
    sandbox = json.dumps(DirectoryKey.for_settings(embedded).jwks())
    assert "KAIMEN_DIRECTORY_JWKS holds the sandbox directory key of KAIMEN_DATA_DIR" in refused(
        tmp_path, directory_jwks=sandbox
    )
    # Another data dir knows nothing of that key; a real directory's keys beside it are fine.
    assert load_settings(**valid(tmp_path / "elsewhere", directory_jwks=sandbox))
    assert load_settings(**valid(tmp_path, directory_jwks=DIRECTORY_JWKS))


def test_the_demo_credentials_file_is_refused(tmp_path: Path) -> None:
    text = refused(tmp_path, demo_credentials_out=tmp_path / "credentials.json")
    assert "KAIMEN_DEMO_CREDENTIALS_OUT belongs to `kaimen demo`" in text


def test_every_wrong_setting_is_named_at_once(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(mode="production", data_dir=tmp_path, secret_key="changeme")
    lines = str(caught.value).splitlines()
    named = [line.strip().split(" ")[0] for line in lines[1:]]
    assert named == [
        "KAIMEN_DATABASE_URL",
        "KAIMEN_REDIS_URL",
        "KAIMEN_SECRET_KEY",
        "KAIMEN_DIRECTORY_JWKS",
        "KAIMEN_DIRECTORY_ISSUER",
        "KAIMEN_PUBLIC_BASE_URL",
        "KAIMEN_JWS_TAN",
        "KAIMEN_JWS_ISS",
    ]
    assert "KAIMEN_DATABASE_URL must name PostgreSQL" in lines[1]


def test_production_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name, value in valid(tmp_path).items():
        monkeypatch.setenv(f"KAIMEN_{name.upper()}", str(value))
    monkeypatch.setenv("KAIMEN_SECRET_KEY", "changeme")
    with pytest.raises(SettingsError, match="KAIMEN_SECRET_KEY must be 32 random bytes"):
        load_settings()
    monkeypatch.setenv("KAIMEN_SECRET_KEY", secrets.token_urlsafe(32))
    assert isinstance(load_settings(), Settings)


def test_kaimen_serve_refuses_to_start_and_names_the_settings(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from kaimen.cli.main import cli

    env = {"KAIMEN_MODE": "production", "KAIMEN_DATA_DIR": str(tmp_path), "KAIMEN_SECRET_KEY": "A" * 43}
    result = CliRunner().invoke(cli, ["serve", "--port", "0"], env=env)
    assert result.exit_code == 1
    for named in ("KAIMEN_DATABASE_URL", "KAIMEN_REDIS_URL", "KAIMEN_SECRET_KEY is a placeholder"):
        assert named in result.output
    assert "A" * 43 not in result.output


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("jws_tan", "KAIMEN_JWS_TAN is the sandbox's trust anchor (openbanking.kaimen.example)"),
        ("jws_iss", "KAIMEN_JWS_ISS is the sandbox bank's (kaimen-sandbox-bank)"),
    ],
)
def test_the_sandbox_message_signing_identities_are_refused(
    setting: str, message: str, tmp_path: Path
) -> None:
    overrides = valid(tmp_path)
    del overrides[setting]  # the default: the sandbox's
    with pytest.raises(SettingsError) as caught:
        load_settings(**overrides)
    assert message in str(caught.value)
