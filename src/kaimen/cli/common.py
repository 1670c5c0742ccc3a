"""What every command shares: settings loaded once, a database handle, async running."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click

from kaimen.settings import Settings, SettingsError, load_settings
from kaimen.store.db import Database

T = TypeVar("T")


def settings_from(ctx: click.Context) -> Settings:
    obj = ctx.ensure_object(dict)
    if "settings" not in obj:
        try:
            obj["settings"] = load_settings(**obj.get("overrides", {}))
        except SettingsError as exc:
            raise click.ClickException(str(exc)) from None
    settings: Settings = obj["settings"]
    return settings


def run_with_db(ctx: click.Context, work: Callable[[Database], Awaitable[T]]) -> T:
    """Run ``work`` against the configured database (migrated first), then dispose of it."""
    from kaimen.store.migrate import upgrade

    settings = settings_from(ctx)
    upgrade(settings.sqlalchemy_url)

    async def runner() -> T:
        db = Database(settings.sqlalchemy_url)
        try:
            return await work(db)
        finally:
            await db.dispose()

    return asyncio.run(runner())


def echo_json(value: Any) -> None:
    import orjson

    click.echo(orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode())
