"""``kaimen keys``: the authorization server's signing keys."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import click

from kaimen.cli.common import echo_json, run_with_db, settings_from
from kaimen.settings import OAuthSettings
from kaimen.store.db import Database

if TYPE_CHECKING:
    from kaimen.authz.signing import NewKey

# Old keys stay published at least this long by default, whatever the lifetimes: a margin for
# relying parties' clocks and for verifying a little late.
DEFAULT_KEEP_SECONDS = 3600


@click.group("keys")
def keys() -> None:
    """Signing keys (PS256, ES256) of the authorization server."""


def longest_signed_lifetime(oauth: OAuthSettings) -> int:
    """How long a relying party may still verify something the old keys signed just before the switch:
    ID tokens (exp = iat + access_token_ttl_seconds, kaimen.authz.server) and signed responses (UK OB
    message signing: a signature is accepted up to MAX_AGE_SECONDS after its iat, kaimen.jws.header).
    Access tokens, codes and request_uris are opaque values, never signed."""
    from kaimen.jws.header import MAX_AGE_SECONDS

    return max(oauth.access_token_ttl_seconds, MAX_AGE_SECONDS)


@keys.command("rotate")
@click.option(
    "--publish-for",
    type=int,
    default=900,
    show_default=True,
    help="Seconds the new keys are published before they sign anything (JWKS caches refresh); "
    "at least the JWKS's Cache-Control max-age.",
)
@click.option(
    "--keep-old-for",
    type=int,
    default=None,
    help="Seconds the old keys stay published after the switch: at least the longest lifetime of "
    "what they sign, so everything they signed has expired (default: that, and at least an hour).",
)
@click.pass_context
def rotate_command(ctx: click.Context, publish_for: int, keep_old_for: int | None) -> None:
    """Create new keys: published now, used after --publish-for; old keys retire when their
    signatures have expired."""
    from kaimen.authz.sealing import SealingKeyMismatch, sealer_for
    from kaimen.authz.signing import JWKS_MAX_AGE_SECONDS, rotate

    settings = settings_from(ctx)
    if publish_for < JWKS_MAX_AGE_SECONDS:
        raise click.BadParameter(
            f"must be at least {JWKS_MAX_AGE_SECONDS} s: relying parties may use a JWKS they fetched for "
            f"{JWKS_MAX_AGE_SECONDS} s (its Cache-Control max-age), and a key used sooner could sign "
            "before they have it",
            param_hint="'--publish-for'",
        )
    lifetime = longest_signed_lifetime(settings.oauth)
    if keep_old_for is not None and keep_old_for < lifetime:
        raise click.BadParameter(
            f"must be at least {lifetime} s: ID tokens (KAIMEN_OAUTH__ACCESS_TOKEN_TTL_SECONDS) and "
            "signed responses the old keys signed stay valid that long",
            param_hint="'--keep-old-for'",
        )
    keep = keep_old_for if keep_old_for is not None else max(lifetime, DEFAULT_KEEP_SECONDS)

    async def work(db: Database) -> list[NewKey]:
        return await rotate(
            db,
            sealer_for(settings),
            publish_for=timedelta(seconds=publish_for),
            keep_old_for=timedelta(seconds=keep),
        )

    try:
        new = run_with_db(ctx, work)
    except SealingKeyMismatch as exc:
        raise click.ClickException(str(exc)) from None  # nothing written (kaimen.authz.signing.rotate)
    for key in new:
        signs_from = key.activates_at.isoformat()
        line = f"new {key.alg} signing key {key.kid}: published now, signs from {signs_from}"
        if key.replaces:
            until = (key.activates_at + timedelta(seconds=keep)).isoformat()
            line += f"; replaces {', '.join(key.replaces)}, published until {until}"
        click.echo(line)


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
