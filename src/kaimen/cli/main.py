"""``kaimen``: the operator's command-line tool."""

from __future__ import annotations

from pathlib import Path

import click

from kaimen.cli.common import echo_json, migrate, run_with_db, settings_from


@click.group()
@click.option("--data-dir", type=click.Path(path_type=Path), help="Overrides KAIMEN_DATA_DIR.")
@click.option("--database-url", help="Overrides KAIMEN_DATABASE_URL.")
@click.pass_context
def cli(ctx: click.Context, data_dir: Path | None, database_url: str | None) -> None:
    """Kaimen: the bank side of open banking."""
    overrides: dict[str, object] = {}
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    if database_url is not None:
        overrides["database_url"] = database_url
    ctx.ensure_object(dict)["overrides"] = overrides


MAX_KEEP_HOURS = 24 * 366 * 10  # ten years: far past any token's life, well inside datetime's range


@cli.group()
def db() -> None:
    """Database schema and housekeeping."""


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Apply every pending migration."""
    migrate(settings_from(ctx))
    click.echo("database is at the latest revision")


@db.command("purge")
@click.option(
    "--keep-hours",
    type=click.IntRange(min=1, max=MAX_KEEP_HOURS),
    default=24,
    show_default=True,
    help="Keep what expired less than this long ago (at least the login session's lifetime).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.pass_context
def db_purge(ctx: click.Context, keep_hours: int, as_json: bool) -> None:
    """Delete expired tokens (a payment consent's stay: its trail reads them), pushed authorization
    requests, and authorization codes no token of whose grant is left. Safe beside serving workers;
    run it from cron."""
    from datetime import timedelta

    from kaimen.authz.retention import minimum_keep, purge_expired

    oauth = settings_from(ctx).oauth
    keep = timedelta(hours=keep_hours)
    if keep < minimum_keep(oauth):
        raise click.BadParameter(
            f"must cover at least {minimum_keep(oauth)}: a pushed request is accepted until"
            " KAIMEN_OAUTH__LOGIN_SESSION_TTL_SECONDS past its expiry, and a code must outlast its"
            " redemption",
            param_hint="'--keep-hours'",
        )
    purged = run_with_db(ctx, lambda database: purge_expired(database, oauth, keep=keep))
    if as_json:
        echo_json(purged.as_dict())
        return
    click.echo(
        f"deleted {purged.tokens} tokens, {purged.authorization_requests} pushed authorization requests"
        f" and {purged.authorization_codes} authorization codes that expired over {keep_hours} h ago"
    )


def _register_subcommands() -> None:
    from kaimen.cli import audit, clients, customers, demo, keys, payments, products, risk, serve, tpp

    cli.add_command(tpp.tpp)
    cli.add_command(products.products)
    cli.add_command(audit.audit)
    cli.add_command(demo.demo)
    cli.add_command(serve.serve)
    cli.add_command(customers.customers)
    cli.add_command(keys.keys)
    cli.add_command(clients.clients)
    cli.add_command(risk.risk)
    cli.add_command(payments.payments)


_register_subcommands()


def main() -> None:
    cli(prog_name="kaimen")
