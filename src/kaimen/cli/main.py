"""``kaimen``: the operator's command-line tool."""

from __future__ import annotations

from pathlib import Path

import click

from kaimen.cli.common import migrate, settings_from


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


@cli.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Apply every pending migration."""
    migrate(settings_from(ctx))
    click.echo("database is at the latest revision")


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
