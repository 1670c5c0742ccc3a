"""``kaimen serve``: run Kaimen under granian with N workers (settings from KAIMEN_*)."""

from __future__ import annotations

import click

from kaimen.cli.common import settings_from


@click.command("serve")
@click.option("--host", default=None, help="Overrides KAIMEN_HOST.")
@click.option("--port", type=int, default=None, help="Overrides KAIMEN_PORT.")
@click.option("--workers", type=int, default=None, help="Overrides KAIMEN_WORKERS.")
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None, workers: int | None) -> None:
    """Serve the gateway and every API. Run `kaimen db upgrade` first."""
    from kaimen import server

    settings = settings_from(ctx)
    env = {
        "KAIMEN_HOST": host or settings.host,
        "KAIMEN_PORT": str(port if port is not None else settings.port),
        "KAIMEN_DATA_DIR": str(settings.data_dir.resolve()),
    }
    if settings.database_url:
        env["KAIMEN_DATABASE_URL"] = settings.database_url
    server.run(
        factory="kaimen.asgi:app_from_env",
        host=env["KAIMEN_HOST"],
        port=int(env["KAIMEN_PORT"]),
        workers=workers or settings.workers,
        env=env,
    )
