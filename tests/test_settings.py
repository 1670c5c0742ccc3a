"""The settings object: validated at start-up, with messages that name the wrong variable."""

from __future__ import annotations

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
    with pytest.raises(SettingsError, match="KAIMEN_APIS"):
        load_settings(apis={"opendata.atm": {"tier": "PUBLIC", "ip_rate": "lots"}})


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
