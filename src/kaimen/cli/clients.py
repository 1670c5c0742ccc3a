"""``kaimen clients``: the operator's commands for OAuth clients (issue 3, item 2).

    kaimen clients create APP_ID (--jwks FILE | --jwks-uri URI) --redirect-uri URI [--redirect-uri ...]
                          [--grant-type G ...] [--name NAME] [--id-token-alg PS256|ES256]
    kaimen clients show CLIENT_ID
    kaimen clients statement --software-id ID --org-name ORG [--tier TIER] [--org-id ID]
                             [--redirect-uri URI ...] [--jwks FILE | --jwks-uri URI]

``create`` attaches a client to an application of the TPP registry (one per application), with the
same validation as dynamic registration. ``statement`` prints a software statement signed by the
sandbox directory (embedded mode only), for a TPP to register itself at /oauth2/register.
Every command takes ``--json``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import orjson

from kaimen.authz.clients import Client, ClientError, ClientRegistry
from kaimen.authz.clients_metadata import GRANT_TYPES, SIGNING_ALGS
from kaimen.authz.directory import DirectoryKey
from kaimen.authz.errors import OAuthError
from kaimen.cli.common import echo_json, run_with_db, settings_from
from kaimen.store.db import Database
from kaimen.tiers import Tier

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
jwks_option = click.option(
    "--jwks", "jwks_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="JWKS file."
)
jwks_uri_option = click.option("--jwks-uri", help="Where the client publishes its JWKS (https).")
redirect_option = click.option("--redirect-uri", "redirect_uris", multiple=True, help="Exact redirect URI.")


def _key_location(jwks_file: Path | None, jwks_uri: str | None) -> dict[str, Any]:
    if (jwks_file is None) == (jwks_uri is None):
        raise click.UsageError("give exactly one of --jwks FILE and --jwks-uri URI")
    if jwks_file is not None:
        try:
            return {"jwks": orjson.loads(jwks_file.read_bytes())}
        except orjson.JSONDecodeError as exc:
            raise click.BadParameter(f"{jwks_file} is not JSON", param_hint="--jwks") from exc
    return {"jwks_uri": jwks_uri}


def _plain(client: Client) -> dict[str, Any]:
    return {
        "client_id": client.client_id,
        "application_id": client.application_id,
        "name": client.name,
        "status": client.status,
        "tier": client.tier,
        "metadata": client.metadata,
    }


def _echo(client: Client, as_json: bool) -> None:
    if as_json:
        echo_json(_plain(client))
        return
    click.echo(f"{client.client_id}  {client.name}")
    click.echo(f"  application   {client.application_id} ({client.status}, {client.tier})")
    click.echo(f"  grant types   {', '.join(client.metadata.get('grant_types', []))}")
    for uri in client.redirect_uris:
        click.echo(f"  redirect uri  {uri}")
    keys = client.metadata.get("jwks_uri") or f"{len(client.metadata['jwks']['keys'])} key(s) inline"
    click.echo(f"  keys          {keys}")


@click.group("clients")
def clients() -> None:
    """OAuth clients: one per approved TPP application, authenticated with private_key_jwt."""


@clients.command("create")
@click.argument("application_id")
@jwks_option
@jwks_uri_option
@redirect_option
@click.option("--grant-type", "grant_types", multiple=True, type=click.Choice(GRANT_TYPES))
@click.option("--name", help="Client name shown on the consent page (default: the application's).")
@click.option("--id-token-alg", type=click.Choice(SIGNING_ALGS), default="PS256", show_default=True)
@json_option
@click.pass_context
def create(
    ctx: click.Context,
    application_id: str,
    jwks_file: Path | None,
    jwks_uri: str | None,
    redirect_uris: tuple[str, ...],
    grant_types: tuple[str, ...],
    name: str | None,
    id_token_alg: str,
    as_json: bool,
) -> None:
    """Create the OAuth client of an application."""
    metadata: dict[str, Any] = {
        **_key_location(jwks_file, jwks_uri),
        "redirect_uris": list(redirect_uris),
        "grant_types": list(grant_types or GRANT_TYPES),
        "id_token_signed_response_alg": id_token_alg,
    }
    if name:
        metadata["client_name"] = name
    settings = settings_from(ctx)

    async def work(db: Database) -> Client:
        return await ClientRegistry(db, settings).create_for_application(application_id, metadata)

    try:
        client = run_with_db(ctx, work)
    except (ClientError, OAuthError) as exc:
        raise click.ClickException(getattr(exc, "description", str(exc))) from None
    _echo(client, as_json)


@clients.command("show")
@click.argument("client_id")
@json_option
@click.pass_context
def show(ctx: click.Context, client_id: str, as_json: bool) -> None:
    """Show one client."""
    settings = settings_from(ctx)

    async def work(db: Database) -> Client | None:
        return await ClientRegistry(db, settings).get(client_id)

    client = run_with_db(ctx, work)
    if client is None:
        raise click.ClickException(f"no client with id {client_id!r}")
    _echo(client, as_json)


@clients.command("statement")
@click.option("--software-id", required=True)
@click.option("--org-name", required=True)
@click.option("--org-id")
@click.option(
    "--tier", type=click.Choice([t.value for t in Tier if t is not Tier.PRIVATE], case_sensitive=False)
)
@jwks_option
@jwks_uri_option
@redirect_option
def statement(
    software_id: str,
    org_name: str,
    org_id: str | None,
    tier: str | None,
    jwks_file: Path | None,
    jwks_uri: str | None,
    redirect_uris: tuple[str, ...],
) -> None:
    """Print a software statement signed by the sandbox directory (embedded mode)."""
    ctx = click.get_current_context()
    claims: dict[str, Any] = {"software_id": software_id, "org_name": org_name}
    if org_id:
        claims["org_id"] = org_id
    if tier:
        claims["tier"] = tier.upper()
    if redirect_uris:
        claims["redirect_uris"] = list(redirect_uris)
    if jwks_file is not None or jwks_uri is not None:
        claims.update(_key_location(jwks_file, jwks_uri))
    try:
        directory = DirectoryKey.for_settings(settings_from(ctx))
        click.echo(directory.sign_software_statement(claims))
    except (RuntimeError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
