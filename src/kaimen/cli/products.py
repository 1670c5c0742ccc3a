"""``kaimen products``: the operator's commands for Product API data."""

from __future__ import annotations

from pathlib import Path

import click
import orjson

from kaimen.cli.common import run_with_db
from kaimen.store.db import Database


@click.group("products")
def products() -> None:
    """Product API data (UK Open Data v2: PCA, BCA, ATMs, branches)."""


@products.command("load")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
def load(ctx: click.Context, file: Path) -> None:
    """Replace product data from FILE, all or nothing.

    FILE is a JSON object keyed by API short name, each value the ``data`` array that API publishes:
    {"pca": [...], "bca": [...], "atm": [...], "branch": [...]}. Only the APIs named are replaced.
    Every value is validated against its Swagger schema; on any error nothing is written, each
    error names its field path, and the command exits non-zero. Every worker serves the new data at
    its next request.
    """
    from kaimen.apis.product.store import ProductStore
    from kaimen.apis.product.validate import ProductDataError

    try:
        payload = orjson.loads(file.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise click.ClickException(f"{file}: not valid JSON: {exc}") from None

    async def work(db: Database) -> list[str]:
        return await ProductStore(db, None).replace(payload)

    try:
        changed = run_with_db(ctx, work)
    except ProductDataError as exc:
        raise click.ClickException(f"{file} refused, nothing was changed:\n{exc}") from None
    if changed:
        click.echo(f"replaced: {', '.join(changed)}")
    else:
        click.echo("no change: the data is the same as the data already published")
