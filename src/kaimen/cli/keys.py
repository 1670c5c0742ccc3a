"""``kaimen keys``: the authorization server's signing keys."""

from __future__ import annotations

from datetime import timedelta

import click

from kaimen.cli.common import echo_json, run_with_db, settings_from
from kaimen.store.db import Database


@click.group("keys")
def keys() -> None:
    """Signing keys (PS256, ES256) of the authorization server."""


@keys.command("rotate")
@click.option(
    "--publish-for",
    type=int,
    default=900,
    show_default=True,
    help="Seconds the new keys are published before they sign anything (JWKS caches refresh).",
)
@click.option(
    "--keep-old-for",
    type=int,
    default=None,
    help="Seconds the old keys stay published after the switch (default: the longest token "
    "lifetime, so everything they signed has expired).",
)
@click.pass_context
def rotate_command(ctx: click.Context, publish_for: int, keep_old_for: int | None) -> None:
    """Create new keys: published now, used after --publish-for; old keys retire when their
    signatures have expired."""
    from kaimen.authz.sealing import sealer_for
    from kaimen.authz.signing import SealingKeyMismatch, rotate

    settings = settings_from(ctx)
    oauth = settings.oauth
    keep = (
        keep_old_for
        if keep_old_for is not None
        else max(oauth.access_token_ttl_seconds, oauth.code_ttl_seconds, 3600)
    )

    async def work(db: Database) -> list[str]:
        return await rotate(
            db,
            sealer_for(settings),
            publish_for=timedelta(seconds=publish_for),
            keep_old_for=timedelta(seconds=keep),
        )

    try:
        kids = run_with_db(ctx, work)
    except SealingKeyMismatch as exc:
        raise click.ClickException(str(exc)) from None  # nothing written (kaimen.authz.signing.rotate)
    click.echo(
        f"new signing keys {', '.join(kids)}: published now, used in {publish_for} s; "
        f"old keys stay published {keep} s after that"
    )


@keys.command("list")
@click.pass_context
def list_command(ctx: click.Context) -> None:
    """The keys with their activation and retirement times (public parts only)."""
    from sqlalchemy import select

    from kaimen.store.authz_models import SigningKey

    async def work(db: Database) -> list[dict[str, str | None]]:
        async with db.read() as session:
            rows = (await session.execute(select(SigningKey).order_by(SigningKey.created_at))).scalars().all()
        return [
            {
                "kid": r.kid,
                "alg": r.alg,
                "created_at": r.created_at.isoformat(),
                "activates_at": r.activates_at.isoformat(),
                "retired_at": r.retired_at.isoformat() if r.retired_at else None,
            }
            for r in rows
        ]

    echo_json(run_with_db(ctx, work))
