"""``kaimen customers``: the operator's commands for the bank's customers (issue 3, item 5).

    kaimen customers create USERNAME --password P [--display-name N]   prints the TOTP secret once
    kaimen customers list
    kaimen customers unlock USERNAME                                   clears the lock and the counters

Every command takes ``--json``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

import click

from kaimen.cli.common import echo_json, run_with_db, settings_from
from kaimen.identity.customers import CustomerError, Customers
from kaimen.store.db import Database

T = TypeVar("T")
ONCE_WARNING = "Store this TOTP secret now (in an authenticator app): it is shown only once."

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")


def _customers_call(ctx: click.Context, work: Callable[[Customers], Awaitable[T]]) -> T:
    from kaimen.authz.sealing import sealer_for

    settings = settings_from(ctx)

    async def run(db: Database) -> T:
        customers = Customers(db, sealer_for(settings), settings)
        try:
            return await work(customers)
        finally:
            await customers.close()

    try:
        return run_with_db(ctx, run)
    except CustomerError as exc:
        raise click.ClickException(str(exc)) from None


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%SZ") if value else "-"


@click.group("customers")
def customers() -> None:
    """The bank's customers: login credentials and locks."""


@customers.command("create")
@click.argument("username")
@click.option("--password", required=True, help="The customer's password (stored as an Argon2id hash).")
@click.option("--display-name", default=None, help="The name the pages greet the customer with.")
@json_option
@click.pass_context
def create(ctx: click.Context, username: str, password: str, display_name: str | None, as_json: bool) -> None:
    """Create a customer; prints the TOTP secret (RFC 6238, base32) once."""
    customer_id, secret = _customers_call(ctx, lambda c: c.create(username, password, display_name))
    if as_json:
        echo_json({"id": customer_id, "username": username, "totp_secret": secret})
        return
    click.echo(f"{customer_id}  {username}")
    click.echo(f"  totp secret  {secret}")
    click.echo(ONCE_WARNING, err=True)


@customers.command("list")
@json_option
@click.pass_context
def list_customers(ctx: click.Context, as_json: bool) -> None:
    """List customers with their failure counts and locks."""
    rows = _customers_call(ctx, lambda c: c.list())
    if as_json:
        echo_json(
            [
                {
                    "id": row.id,
                    "username": row.username,
                    "display_name": row.display_name,
                    "failed_logins": row.failed_logins,
                    "locks": row.locks,
                    "locked_until": row.locked_until.isoformat() if row.locked_until else None,
                }
                for row in rows
            ]
        )
        return
    for row in rows:
        click.echo(
            f"{row.id}  {row.username}  ({row.display_name})  failures {row.failed_logins}  "
            f"locks {row.locks}  locked until {_when(row.locked_until)}"
        )


@customers.command("unlock")
@click.argument("username")
@click.pass_context
def unlock(ctx: click.Context, username: str) -> None:
    """Clear USERNAME's lock, failure count and back-off."""
    if not _customers_call(ctx, lambda c: c.unlock(username)):
        raise click.ClickException(f"no customer named {username!r}")
    click.echo(f"{username} unlocked")
