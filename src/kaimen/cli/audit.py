"""``kaimen audit verify | tail | show``: the operator's view of the audit chain (kaimen.audit)."""

from __future__ import annotations

from collections.abc import Sequence

import click
import orjson

from kaimen.audit.store import StoredRow
from kaimen.cli.common import run_with_db
from kaimen.store.db import Database


@click.group("audit")
def audit() -> None:
    """The append-only, hash-chained record of every API call."""


@audit.command("verify")
@click.pass_context
def verify(ctx: click.Context) -> None:
    """Check the whole chain; exit 1 naming the first broken record."""
    from kaimen.audit.verify import Verdict, verify

    verdict: Verdict = run_with_db(ctx, verify)
    if verdict.broken is None:
        click.echo(f"audit chain intact: {verdict.count} records")
        return
    broken = verdict.broken
    click.echo(
        f"audit chain broken at seq {broken.seq} (interaction id {broken.interaction_id}): {broken.problem}"
    )
    click.echo(f"intact records before it: {verdict.count}")
    ctx.exit(1)


def _echo_rows(rows: Sequence[StoredRow]) -> None:
    # One JSON object per line, so the output can be piped into jq or a log shipper.
    for row in rows:
        click.echo(orjson.dumps(row._asdict(), option=orjson.OPT_UTC_Z).decode())


@audit.command("tail")
@click.option("-n", "count", type=click.IntRange(min=1), default=20, show_default=True)
@click.pass_context
def tail(ctx: click.Context, count: int) -> None:
    """Print the last COUNT records, oldest first, as JSON lines."""
    from kaimen.audit.store import last

    async def work(db: Database) -> list[StoredRow]:
        return await last(db, count)

    _echo_rows(run_with_db(ctx, work))


@audit.command("show")
@click.argument("interaction_id")
@click.pass_context
def show(ctx: click.Context, interaction_id: str) -> None:
    """Print the records of one interaction id as JSON lines; exit 1 if there are none."""
    from kaimen.audit.store import by_interaction

    async def work(db: Database) -> list[StoredRow]:
        return await by_interaction(db, interaction_id)

    rows = run_with_db(ctx, work)
    if not rows:
        click.echo(f"no audit record with interaction id {interaction_id}", err=True)
        ctx.exit(1)
    _echo_rows(rows)
