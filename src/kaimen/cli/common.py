"""What every command shares: settings loaded once, a database handle, async running."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
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
    from kaimen.authz.sealing import SealingKeyMismatch

    settings = settings_from(ctx)
    migrate(settings)

    async def runner() -> T:
        db = Database(settings.sqlalchemy_url)
        try:
            return await work(db)
        finally:
            await db.dispose()

    try:
        return asyncio.run(runner())
    except SealingKeyMismatch as exc:
        raise click.ClickException(str(exc)) from None


def migrate(settings: Settings) -> None:
    """Bring the configured database to the latest revision."""
    from kaimen.store.migrate import upgrade

    with reaching_database(settings):
        upgrade(settings.sqlalchemy_url)


def database_name(settings: Settings) -> str:
    """The configured database as the operator wrote it, its password hidden."""
    from sqlalchemy.engine import make_url

    if settings.database_url is None:
        return settings.sqlalchemy_url.split(":///", 1)[1]  # the SQLite file in the data dir
    return make_url(settings.database_url).render_as_string(hide_password=True)


@contextmanager
def reaching_database(settings: Settings) -> Iterator[None]:
    """A database that cannot be reached (PostgreSQL down, wrong host, no such database, refused
    credentials) or opened (a SQLite file in a directory that cannot be written) ends the command
    with one line naming it, never its password, and exit status 1, instead of a traceback."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import DBAPIError

    try:
        yield
    except (OSError, DBAPIError) as exc:
        reason = str(exc.orig if isinstance(exc, DBAPIError) else exc).strip().splitlines()[0]
        password = make_url(settings.sqlalchemy_url).password
        if password:
            reason = reason.replace(str(password), "***")
        verb = "open" if settings.is_sqlite else "reach"
        raise click.ClickException(f"cannot {verb} database {database_name(settings)}: {reason}") from None


def check_ready_to_serve(settings: Settings) -> None:
    """What every worker would otherwise find out by crash-looping: the database is reachable and at
    this version's schema, and the keys sealed at rest open with this deployment's secret key."""
    from kaimen.authz.directory import DirectoryKey
    from kaimen.authz.sealing import SealingKeyMismatch, sealer_for
    from kaimen.authz.signing import SigningKeys
    from kaimen.settings import Mode
    from kaimen.store.migrate import current_head, current_revision

    with reaching_database(settings):
        revision = current_revision(settings.sqlalchemy_url)
    head = current_head()
    if revision != head:
        state = "has no Kaimen schema" if revision is None else f"is at revision {revision}, not {head}"
        raise click.ClickException(f"database {database_name(settings)} {state}: run `kaimen db upgrade`")

    async def open_sealed_keys() -> None:
        db = Database(settings.sqlalchemy_url)
        try:
            await SigningKeys(db, sealer_for(settings)).load()
        finally:
            await db.dispose()

    try:
        with reaching_database(settings):
            asyncio.run(open_sealed_keys())
        if settings.mode is Mode.EMBEDDED and not settings.directory_jwks:
            DirectoryKey.for_settings(settings)
    except SealingKeyMismatch as exc:
        raise click.ClickException(str(exc)) from None


def echo_json(value: Any) -> None:
    import orjson

    click.echo(orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode())
