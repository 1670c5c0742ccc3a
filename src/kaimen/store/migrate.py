"""``kaimen db upgrade``: Alembic migrations, configured in code so no alembic.ini is needed."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from pathlib import Path

from alembic import command
from alembic.config import Config

from kaimen.store.direct import sqlite_settings

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision`` (blocking; call it before serving). A SQLite file
    is switched to WAL first, while nothing else has it open: the mode is kept in the file, so no
    connection of the running service has to switch it (which takes the write lock, and failed at
    once with "database is locked" when two connections opened together on a file left in rollback
    mode, as Alembic's own connection leaves it)."""
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            with closing(sqlite3.connect(path)) as connection:
                sqlite_settings(connection)
    command.upgrade(alembic_config(url), revision)


def current_head() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


def current_revision(url: str) -> str | None:
    """The revision the database at ``url`` is at, None when it holds no Kaimen schema (never
    migrated). Blocking. A SQLite file that does not exist is not created."""
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import pool
    from sqlalchemy.engine import Connection
    from sqlalchemy.ext.asyncio import create_async_engine

    if url.startswith("sqlite"):
        path = url.split(":///", 1)[1]
        if path and path != ":memory:" and not Path(path).exists():
            return None

    def read(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async def run() -> str | None:
        engine = create_async_engine(url, poolclass=pool.NullPool)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(read)
        finally:
            await engine.dispose()

    return asyncio.run(run())
