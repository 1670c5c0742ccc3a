"""``kaimen payments trail ID``: a payment's whole trail (issue 5, item 5), by DomesticPaymentId or by
the x-fapi-interaction-id of a call made under its consent: the consent, the customer's SCA, the risk
decisions, the calls, the payment and its ledger postings, oldest first (kaimen.apis.payments.trail)."""

from __future__ import annotations

import click

from kaimen.apis.payments.trail import Step, payment_trail
from kaimen.cli.common import echo_json, run_with_db
from kaimen.store.db import Database


@click.group("payments")
def payments() -> None:
    """Domestic payments, for the operator."""


@payments.command("trail")
@click.argument("ident")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.pass_context
def trail(ctx: click.Context, ident: str, as_json: bool) -> None:
    """Show a payment's whole trail; IDENT is a DomesticPaymentId or an interaction id."""

    async def run(db: Database) -> list[Step] | None:
        return await payment_trail(db, ident)

    steps = run_with_db(ctx, run)
    if steps is None:
        raise click.ClickException(f"no payment found for {ident}")
    if as_json:
        echo_json([{"at": step.at.isoformat(), "kind": step.kind, "what": step.what} for step in steps])
        return
    for step in steps:
        click.echo(f"{step.at:%Y-%m-%d %H:%M:%S.%fZ}  {step.kind:<8} {step.what}")
