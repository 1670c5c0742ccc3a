"""``kaimen serve``: run Kaimen under granian with N workers (settings from KAIMEN_*).

The options override their KAIMEN_* settings and are validated with them; the workers read the same
values from the environment this command hands them.
"""

from __future__ import annotations

from pathlib import Path

import click

from kaimen.cli.common import check_ready_to_serve, settings_from


@click.command("serve")
@click.option("--host", default=None, help="Overrides KAIMEN_HOST.")
@click.option("--port", type=int, default=None, help="Overrides KAIMEN_PORT.")
@click.option("--workers", type=int, default=None, help="Overrides KAIMEN_WORKERS.")
@click.option(
    "--tls-certificate",
    type=click.Path(path_type=Path),
    default=None,
    help="Overrides KAIMEN_TLS_CERTIFICATE (PEM chain, leaf first).",
)
@click.option(
    "--tls-private-key",
    type=click.Path(path_type=Path),
    default=None,
    help="Overrides KAIMEN_TLS_PRIVATE_KEY (PEM, unencrypted).",
)
@click.pass_context
def serve(
    ctx: click.Context,
    host: str | None,
    port: int | None,
    workers: int | None,
    tls_certificate: Path | None,
    tls_private_key: Path | None,
) -> None:
    """Serve the gateway and every API. Run `kaimen db upgrade` first."""
    from kaimen import server

    given = {
        "host": host,
        "port": port,
        "workers": workers,
        "tls_certificate": tls_certificate.resolve() if tls_certificate else None,
        "tls_private_key": tls_private_key.resolve() if tls_private_key else None,
    }
    overrides = ctx.ensure_object(dict).setdefault("overrides", {})
    overrides.update({name: value for name, value in given.items() if value is not None})
    settings = settings_from(ctx)
    if problem := server.bind_problem(settings.host, settings.port):
        raise click.ClickException(problem)
    check_ready_to_serve(settings)
    env = {
        "KAIMEN_HOST": settings.host,
        "KAIMEN_PORT": str(settings.port),
        "KAIMEN_WORKERS": str(settings.workers),
        "KAIMEN_DATA_DIR": str(settings.data_dir.resolve()),
    }
    if settings.database_url:
        env["KAIMEN_DATABASE_URL"] = settings.database_url
    tls = None
    if settings.tls_certificate is not None and settings.tls_private_key is not None:
        tls = server.Tls(settings.tls_certificate.resolve(), settings.tls_private_key.resolve())
        env["KAIMEN_TLS_CERTIFICATE"] = str(tls.certificate)
        env["KAIMEN_TLS_PRIVATE_KEY"] = str(tls.private_key)
    elif not settings.trusted_proxies and settings.public_base_url.startswith("https://"):
        click.echo(
            "kaimen serve: plain HTTP with no KAIMEN_TRUSTED_PROXIES: the proxy that serves "
            f"{settings.public_base_url} will be every caller's IP address (rate limits, login throttling, "
            "audit); set KAIMEN_TRUSTED_PROXIES to its address",
            err=True,
        )
    server.run(
        factory="kaimen.asgi:app_from_env",
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        env=env,
        concurrent_requests=settings.max_concurrent_requests,
        tls=tls,
    )
