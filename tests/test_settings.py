"""The settings object: validated at start-up, with messages that name the wrong variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from kaimen.settings import SettingsError, load_settings
from kaimen.tiers import Tier


def test_defaults_are_the_embedded_mode() -> None:
    settings = load_settings()
    assert settings.mode == "embedded"
    assert settings.is_sqlite
    assert settings.sqlalchemy_url.startswith("sqlite+aiosqlite:///")


def test_environment_is_read_with_the_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAIMEN_LIMITS__MAX_JSON_DEPTH", "9")
    monkeypatch.setenv("KAIMEN_DATABASE_URL", "postgresql://u@h:5432/d")
    settings = load_settings()
    assert settings.limits.max_json_depth == 9
    assert settings.sqlalchemy_url == "postgresql+asyncpg://u@h:5432/d"


def test_bad_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAIMEN_PORT", "not-a-port")
    with pytest.raises(SettingsError, match="KAIMEN_PORT"):
        load_settings()


def test_bad_rate_string_is_refused() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(apis={"opendata.atm": {"tier": "PUBLIC", "ip_rate": "lots"}})
    assert str(caught.value) == (
        "invalid configuration:\n  KAIMEN_APIS__OPENDATA.ATM__IP_RATE: "
        "must be a rate such as '4/day' or '600/minute'"
    )


def test_unknown_setting_is_refused() -> None:
    with pytest.raises(SettingsError):
        load_settings(no_such_setting=1)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({}, "KAIMEN_DATABASE_URL must name PostgreSQL"),
        ({"database_url": "postgresql://u@h/d"}, "KAIMEN_REDIS_URL is required"),
        ({"database_url": "postgresql://u@h/d", "redis_url": "redis://r"}, "KAIMEN_SECRET_KEY is required"),
        (
            {"database_url": "postgresql://u@h/d", "redis_url": "redis://r", "secret_key": "k" * 43},
            "KAIMEN_DIRECTORY_JWKS is required",
        ),
        (
            {
                "database_url": "postgresql://u@h/d",
                "redis_url": "redis://r",
                "secret_key": "k" * 43,
                "directory_jwks": '{"keys": []}',
            },
            "must be https",
        ),
    ],
)
def test_production_mode_refuses_embedded_shortcuts(overrides: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(mode="production", **overrides)


def test_tiers_admit_their_own_and_more_open_apis() -> None:
    assert Tier.PARTNER.admits(Tier.PARTNER)
    assert Tier.PARTNER.admits(Tier.PUBLIC)
    assert not Tier.ACQUAINTANCE.admits(Tier.PARTNER)
    assert not Tier.PUBLIC.admits(Tier.PRIVATE)
    assert Tier.PRIVATE.admits(Tier.PUBLIC)


def test_apis_setting_overrides_only_the_apis_it_names() -> None:
    settings = load_settings(apis={"opendata.atm": {"tier": "MEMBER", "ip_rate": "5/minute"}})
    assert settings.apis["opendata.atm"].tier is Tier.MEMBER
    assert settings.apis["opendata.atm"].ip_rate == "5/minute"
    assert settings.apis["opendata.bca"].tier is Tier.PARTNER
    assert {"opendata.pca", "opendata.bca", "opendata.atm", "opendata.branch"} <= set(settings.apis)


def test_more_than_one_worker_needs_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    # Rate-limit counters and replay caches live in the one process without Redis (DESIGN.md).
    monkeypatch.setenv("KAIMEN_WORKERS", "2")
    with pytest.raises(SettingsError, match="KAIMEN_WORKERS above 1 needs KAIMEN_REDIS_URL"):
        load_settings()
    assert load_settings(redis_url="redis://127.0.0.1:6379/0").workers == 2


async def test_the_database_pool_size_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from kaimen.store.db import Database

    monkeypatch.setenv("KAIMEN_DATABASE_URL", "postgresql://kaimen@db.example/kaimen")
    monkeypatch.setenv("KAIMEN_DATABASE_POOL_SIZE", "24")
    settings = load_settings()
    db = Database(settings.sqlalchemy_url, pool_size=settings.database_pool_size)
    try:
        assert db.read_engine.pool.size() == 24  # type: ignore[attr-defined]
    finally:
        await db.dispose()
    monkeypatch.setenv("KAIMEN_DATABASE_POOL_SIZE", "0")
    with pytest.raises(SettingsError, match="KAIMEN_DATABASE_POOL_SIZE"):
        load_settings()


# README, configuration reference: "a wrong value stops start-up with a message naming the variable".
# Each of these used to pass start-up and fail later with a traceback (or, for a policy, a worker that
# crash-looped); each is now one line naming the variable, and the command exits 1.
@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "KAIMEN_TRUSTED_PROXIES",
            "10.0.0.1",
            "KAIMEN_TRUSTED_PROXIES: must be JSON (Extra data: line 1 column 5 (char 4))",
        ),
        (
            "KAIMEN_METRICS_NETWORKS",
            "10.0.0.0/8",
            "KAIMEN_METRICS_NETWORKS: must be JSON (Extra data: line 1 column 5 (char 4))",
        ),
        ("KAIMEN_APIS", "notjson", "KAIMEN_APIS: must be JSON (Expecting value: line 1 column 1 (char 0))"),
        (
            "KAIMEN_TRUSTED_PROXIES",
            '["10.0.0.0/8", "10.0.0.1/8"]',
            "KAIMEN_TRUSTED_PROXIES__1: 10.0.0.1/8 has host bits set "
            "(a network such as 10.0.0.0/8 or ::1/128)",
        ),
        (
            "KAIMEN_METRICS_NETWORKS",
            "[1]",
            "KAIMEN_METRICS_NETWORKS__0: must be a network such as 10.0.0.0/8 or ::1/128",
        ),
        (
            "KAIMEN_SECRET_KEY",
            "short",
            "KAIMEN_SECRET_KEY must be 32 random bytes in base64url (secrets.token_urlsafe(32))",
        ),
        (
            "KAIMEN_REDIS_URL",
            "notaurl",
            "KAIMEN_REDIS_URL must be redis://[:password@]host[:port][/db], rediss://... or unix://path",
        ),
        (
            "KAIMEN_DATABASE_URL",
            "notaurl",
            "KAIMEN_DATABASE_URL is not a database URL: expected postgresql://user@host:5432/name or sqlite:///path",
        ),
        (
            "KAIMEN_DATABASE_URL",
            "mysql://kaimen:hunter2@db.internal/kaimen",
            "KAIMEN_DATABASE_URL names 'mysql': Kaimen runs on PostgreSQL or SQLite "
            "(postgresql://user@host:5432/name or sqlite:///path)",
        ),
        ("KAIMEN_DIRECTORY_JWKS", "notjson", 'KAIMEN_DIRECTORY_JWKS must be a JWK Set: {"keys": [...]}'),
        (
            "KAIMEN_DIRECTORY_JWKS",
            '{"keys": [{"kty": "RSA", "n": "AQAB"}]}',
            "KAIMEN_DIRECTORY_JWKS holds a key that cannot be used: key_parameter: 'e' is required",
        ),
        (
            "KAIMEN_HOST",
            "999.1.1.1",
            "KAIMEN_HOST: must be an IP address to bind, such as 127.0.0.1, 0.0.0.0 or ::",
        ),
        (
            "KAIMEN_APIS",
            '{"aisp": {"tier": "PUBLIC"}}',
            "KAIMEN_APIS__AISP: the Account API needs auth \"dpop\" and scope 'accounts'",
        ),
        (
            "KAIMEN_APIS__PISP__TIER",
            "PUBLIC",
            "KAIMEN_APIS__PISP: the Payment Initiation API needs auth \"dpop\" and scope 'payments'",
        ),
    ],
)
def test_a_wrong_value_stops_every_command_with_one_line_naming_it(
    variable: str, value: str, message: str, tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from kaimen.cli.main import cli

    env = {"KAIMEN_DATA_DIR": str(tmp_path), variable: value}
    result = CliRunner().invoke(cli, ["db", "upgrade"], env=env)
    assert (result.exit_code, result.output) == (1, f"Error: invalid configuration:\n  {message}\n")
    assert list(tmp_path.iterdir()) == []  # nothing was created before the refusal


def test_the_database_url_is_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAIMEN_DATABASE_URL", "mysql://kaimen:hunter2@db.internal/kaimen")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///kaimen.db",
        "sqlite+aiosqlite:///kaimen.db",
        "postgresql://kaimen@db.internal/kaimen",
        "postgres://kaimen@db.internal/kaimen",
        "postgresql+asyncpg://kaimen:pw@db.internal:5432/kaimen",
    ],
)
def test_every_supported_database_url_is_accepted(url: str) -> None:
    assert load_settings(database_url=url).database_url == url


def test_a_valid_secret_key_jwks_redis_url_and_host_are_accepted(tmp_path: Path) -> None:
    import json
    import secrets

    from joserfc.jwk import RSAKey

    key = RSAKey.generate_key(2048, parameters={"kid": "directory"}, private=True)
    jwks = json.dumps({"keys": [key.as_dict(private=False)]})
    secret = secrets.token_urlsafe(32)
    settings = load_settings(
        data_dir=tmp_path, secret_key=secret, directory_jwks=jwks, redis_url="redis://:pw@r:6379/1", host="::"
    )
    assert (settings.secret_key.get_secret_value() if settings.secret_key else None) == secret
    assert (settings.directory_jwks, settings.redis_url, settings.host) == (
        jwks,
        "redis://:pw@r:6379/1",
        "::",
    )


def test_an_unknown_api_name_is_refused_with_the_known_names() -> None:
    # A typo in KAIMEN_APIS used to be ignored: the policy applied to no API, silently.
    with pytest.raises(SettingsError) as caught:
        load_settings(apis={"opendata.atmz": {"tier": "PUBLIC", "ip_rate": "60/minute"}})
    assert str(caught.value) == (
        "invalid configuration:\n  KAIMEN_APIS: no API is called 'opendata.atmz'; the APIs are aisp, cbpii, "
        "login, oauth, opendata.atm, opendata.bca, opendata.branch, opendata.pca, pisp"
    )


@pytest.mark.parametrize(
    ("policy", "where"),
    [
        ({"ip_rate": "0/minute"}, "KAIMEN_APIS__OPENDATA.ATM__IP_RATE"),
        ({"default_app_rate": "0 per day"}, "KAIMEN_APIS__OPENDATA.ATM__DEFAULT_APP_RATE"),
        ({"app_rate": {"PARTNER": "00/second"}}, "KAIMEN_APIS__OPENDATA.ATM__APP_RATE__PARTNER"),
    ],
)
def test_a_rate_of_zero_is_refused(policy: dict[str, object], where: str) -> None:
    # "0/minute" used to be accepted and answered every call 429.
    with pytest.raises(SettingsError) as caught:
        load_settings(apis={"opendata.atm": {"tier": "PUBLIC", **policy}})
    assert str(caught.value) == f"invalid configuration:\n  {where}: must allow at least 1 call"


def test_the_login_rate_of_zero_is_refused_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAIMEN_OAUTH__IP_LOGIN_RATE", "0/minute")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert (
        str(caught.value)
        == "invalid configuration:\n  KAIMEN_OAUTH__IP_LOGIN_RATE: must allow at least 1 call"
    )


def test_a_rate_of_one_is_accepted() -> None:
    settings = load_settings(apis={"opendata.atm": {"tier": "PUBLIC", "ip_rate": "1 per day"}})
    assert settings.apis["opendata.atm"].ip_rate == "1 per day"
