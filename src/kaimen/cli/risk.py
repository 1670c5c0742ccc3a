"""``kaimen risk``: the operator's commands for the risk engine (issue 5, item 4).

    kaimen risk deny-payee add SCHEME IDENTIFICATION [--reason R]   payments to it are rejected
    kaimen risk deny-payee remove SCHEME IDENTIFICATION
    kaimen risk deny-payee list
    kaimen risk decisions SUBJECT_ID                                 a consent's or payment's decisions
    kaimen risk held                                  payments held for review (Status Pending)
    kaimen risk release PAYMENT_ID                    post a held payment now (funds checked again)
    kaimen risk reject PAYMENT_ID [--reason R]        refuse a held payment: Rejected, nothing posted
    kaimen risk replay --seed N [--seed M ...] [--customers C] [--days D]
                                          precision and recall of the current rules on synthetic traffic

SCHEME is the creditor account's SchemeName (e.g. UK.OBIE.SortCodeAccountNumber); IDENTIFICATION is
compared without spaces or hyphens, in upper case. The listing commands take ``--json``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import click

from kaimen.apis.payments.payment_record import Payment
from kaimen.apis.payments.payments import DomesticPayments
from kaimen.cli.common import echo_json, run_with_db, settings_from
from kaimen.events import EventBus
from kaimen.ledger.in_transaction import SandboxPostings
from kaimen.risk.store import RiskStore
from kaimen.store.db import Database
from kaimen.store.types import utcnow

T = TypeVar("T")

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")


def _store_call(ctx: click.Context, work: Callable[[RiskStore], Awaitable[T]]) -> T:
    async def run(db: Database) -> T:
        return await work(RiskStore(db))

    return run_with_db(ctx, run)


@click.group("risk")
def risk() -> None:
    """The risk engine: the payee deny list, recorded decisions, and payments held for review."""


@risk.group("deny-payee")
def deny_payee() -> None:
    """Payees every payment to which is rejected."""


@deny_payee.command("add")
@click.argument("scheme")
@click.argument("identification")
@click.option("--reason", default="", help="Why (shown in the decision's reason).")
@click.pass_context
def add(ctx: click.Context, scheme: str, identification: str, reason: str) -> None:
    """Put a payee on the deny list (or update its reason)."""
    added = _store_call(ctx, lambda store: store.deny(scheme, identification, reason, utcnow()))
    click.echo(f"{scheme} {identification} {'added to' if added else 'already on'} the deny list")


@deny_payee.command("remove")
@click.argument("scheme")
@click.argument("identification")
@click.pass_context
def remove(ctx: click.Context, scheme: str, identification: str) -> None:
    """Take a payee off the deny list."""
    if not _store_call(ctx, lambda store: store.allow(scheme, identification)):
        raise click.ClickException(f"{scheme} {identification} is not on the deny list")
    click.echo(f"{scheme} {identification} removed from the deny list")


@deny_payee.command("list")
@json_option
@click.pass_context
def list_denied(ctx: click.Context, as_json: bool) -> None:
    """List the deny list."""
    rows = _store_call(ctx, lambda store: store.deny_list())
    if as_json:
        echo_json(
            [
                {
                    "scheme": row.scheme,
                    "identification": row.identification,
                    "reason": row.reason,
                    "added_at": row.added_at.isoformat(),
                }
                for row in rows
            ]
        )
        return
    for row in rows:
        click.echo(f"{row.scheme}  {row.identification}  {row.added_at:%Y-%m-%d %H:%M:%SZ}  {row.reason}")


@risk.command("decisions")
@click.argument("subject_id")
@json_option
@click.pass_context
def decisions(ctx: click.Context, subject_id: str, as_json: bool) -> None:
    """Show the decisions recorded for a consent or payment, with their reasons."""
    rows = _store_call(ctx, lambda store: store.decisions(subject_id))
    if as_json:
        echo_json(
            [
                {
                    "id": row.id,
                    "subject_id": row.subject_id,
                    "stage": row.stage,
                    "customer_id": row.customer_id,
                    "client_id": row.client_id,
                    "score": row.score,
                    "outcome": row.outcome,
                    "reasons": row.reasons,
                    "decided_at": row.decided_at.isoformat(),
                }
                for row in rows
            ]
        )
        return
    if not rows:
        raise click.ClickException(f"no risk decision recorded for {subject_id}")
    for row in rows:
        click.echo(
            f"{row.id}  {row.decided_at:%Y-%m-%d %H:%M:%SZ}  {row.stage}  {row.outcome}  score {row.score}"
            f"  client {row.client_id}  customer {row.customer_id or '-'}"
        )
        for reason in row.reasons:
            click.echo(f"  +{reason['score']}  {reason['rule']}: {reason['reason']}")


def _payments_call(ctx: click.Context, work: Callable[[DomesticPayments], Awaitable[T]]) -> T:
    async def run(db: Database) -> T:
        # Events go to this command's own bus: the serving workers' audit sees the payment when the
        # TPP reads it (GET /domestic-payments/{id} answers from the database).
        return await work(DomesticPayments(db, SandboxPostings(), EventBus()))

    return run_with_db(ctx, run)


def _payment_json(payment: Payment) -> dict[str, object]:
    return {
        "payment_id": payment.payment_id,
        "consent_id": payment.consent_id,
        "client_id": payment.client_id,
        "customer_id": payment.customer_id,
        "status": payment.status.value,
        "amount": payment.amount.ob_amount(),
        "currency": payment.amount.currency,
        "created_at": payment.created_at.isoformat(),
        "risk_outcome": payment.risk_outcome,
        "reasons": list(payment.risk_reasons),
        "status_reason_description": payment.status_reason_description,
    }


@risk.command("held")
@json_option
@click.pass_context
def held(ctx: click.Context, as_json: bool) -> None:
    """List the payments the risk checks held for review (Status Pending), oldest first."""
    payments = _payments_call(ctx, lambda payments: payments.held())
    if as_json:
        echo_json([_payment_json(payment) for payment in payments])
        return
    for payment in payments:
        click.echo(
            f"{payment.payment_id}  {payment.created_at:%Y-%m-%d %H:%M:%SZ}  {payment.amount.ob_amount()} "
            f"{payment.amount.currency}  client {payment.client_id}  customer {payment.customer_id}"
        )
        for reason in payment.risk_reasons:
            click.echo(f"  {reason}")


@risk.command("release")
@click.argument("payment_id")
@click.pass_context
def release(ctx: click.Context, payment_id: str) -> None:
    """Post a held payment now; the funds are checked again, so it may still be Rejected."""
    payment = _payments_call(ctx, lambda payments: payments.release(payment_id))
    if payment is None:
        raise click.ClickException(f"{payment_id} is not a payment held for review")
    click.echo(f"{payment.payment_id}  {payment.status.value}")


@risk.command("reject")
@click.argument("payment_id")
@click.option(
    "--reason",
    default="",
    help="Kept with the payment for the operators (kaimen risk decisions, kaimen payments trail); the "
    "TPP's /payment-details gives a fixed text.",
)
@click.pass_context
def reject(ctx: click.Context, payment_id: str, reason: str) -> None:
    """Refuse a held payment: Rejected, nothing posted (the TPP reads "rejected by the bank's checks")."""
    payment = _payments_call(ctx, lambda payments: payments.reject_held(payment_id, reason))
    if payment is None:
        raise click.ClickException(f"{payment_id} is not a payment held for review")
    click.echo(f"{payment.payment_id}  {payment.status.value}")


@risk.command("replay")
@click.option("--seed", "seeds", type=int, multiple=True, required=True, help="A scenario seed (repeatable).")
@click.option("--customers", type=click.IntRange(min=10), default=200, show_default=True)
@click.option("--days", type=click.IntRange(min=1), default=14, show_default=True, help="Days scored.")
@click.pass_context
def replay_command(ctx: click.Context, seeds: tuple[int, ...], customers: int, days: int) -> None:
    """Replay labelled synthetic scenarios (kaimen.risk.scenarios) through the current rules and print
    precision and recall, overall and per kind of fraud. Tune on some seeds, report on others."""
    import asyncio

    from kaimen.risk.replay import describe, replay
    from kaimen.risk.scenarios import ScenarioParams, generate

    settings = settings_from(ctx).risk
    params = ScenarioParams(customers=customers, days=days)
    for seed in seeds:
        report = asyncio.run(replay(generate(seed, params), settings))
        for line in describe(report):
            click.echo(line)
