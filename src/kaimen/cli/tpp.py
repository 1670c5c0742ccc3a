"""``kaimen tpp``: the operator's commands for the TPP registry (issue 2, item 3).

    kaimen tpp register --organisation ORG --name APP --tier TIER [--contact role:name:email ...] [--approve]
    kaimen tpp list | show APP_ID | approve APP_ID | suspend APP_ID | revoke APP_ID
    kaimen tpp keys create APP_ID [--label L] | keys list APP_ID | keys revoke KEY_ID

Every command takes ``--json``. A change made here reaches every running worker at once (the
``registry`` generation, kaimen.store.watch).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

import click

from kaimen.cli.common import echo_json, run_with_db
from kaimen.store.db import Database
from kaimen.tiers import Tier
from kaimen.tpp.registry import (
    ApplicationView,
    ContactView,
    KeyView,
    Registry,
    RegistryError,
    ReviewStatus,
)

T = TypeVar("T")
ONCE_WARNING = "Store this API key now: it is shown only once and cannot be retrieved again."

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")


def _registry_call(ctx: click.Context, work: Callable[[Registry], Awaitable[T]]) -> T:
    async def run(db: Database) -> T:
        return await work(Registry(db))

    try:
        return run_with_db(ctx, run)
    except RegistryError as exc:
        raise click.ClickException(str(exc)) from None


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%SZ") if value else "-"


def _echo_application(app: ApplicationView) -> None:
    click.echo(f"{app.id}  {app.name}")
    click.echo(f"  organisation  {app.organisation_name} ({app.organisation_id})")
    click.echo(f"  status        {app.status}")
    click.echo(f"  tier          {app.tier}")
    click.echo(f"  created       {_when(app.created_at)}   updated {_when(app.updated_at)}")
    for contact in app.contacts:
        click.echo(f"  contact       {contact.role}: {contact.name} <{contact.email}>")


def _echo_key(key: KeyView) -> None:
    state = f"revoked {_when(key.revoked_at)}" if key.revoked_at else "active"
    label = f"  {key.label}" if key.label else ""
    click.echo(f"{key.id}  kmn_{key.prefix}_…  created {_when(key.created_at)}  {state}{label}")


def _contacts(_ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]) -> list[ContactView]:
    parsed = []
    for value in values:
        parts = value.split(":")
        if len(parts) < 3:
            raise click.BadParameter(f"{value!r}: expected role:name:email")
        role, *name, email = parts
        parsed.append(
            ContactView(role=role.strip().lower(), name=":".join(name).strip(), email=email.strip())
        )
    return parsed


@click.group("tpp")
def tpp() -> None:
    """TPP registry: applications, their review status, tier and API keys."""


@tpp.command("register")
@click.option("--organisation", required=True, help="Organisation name (reused when it exists).")
@click.option("--name", "application", required=True, help="Application name.")
@click.option("--tier", required=True, type=click.Choice([t.value for t in Tier], case_sensitive=False))
@click.option(
    "--contact",
    "contacts",
    multiple=True,
    callback=_contacts,
    help="role:name:email (role: business|technical|security).",
)
@click.option("--approve", is_flag=True, help="Approve at once instead of leaving it pending review.")
@json_option
@click.pass_context
def register(
    ctx: click.Context,
    organisation: str,
    application: str,
    tier: str,
    contacts: list[ContactView],
    approve: bool,
    as_json: bool,
) -> None:
    """Register an application (pending review unless --approve)."""
    status = ReviewStatus.APPROVED if approve else ReviewStatus.PENDING
    app = _registry_call(
        ctx,
        lambda r: r.register(
            organisation=organisation,
            application=application,
            tier=Tier(tier.upper()),
            contacts=contacts,
            status=status,
        ),
    )
    _echo_json_or(as_json, app, _echo_application)


def _echo_json_or(as_json: bool, value: Any, human: Callable[[Any], None]) -> None:
    if as_json:
        echo_json(_plain(value))
    elif isinstance(value, list):
        for item in value:
            human(item)
    else:
        human(value)


@tpp.command("list")
@json_option
@click.pass_context
def list_applications(ctx: click.Context, as_json: bool) -> None:
    """List every application."""
    apps = _registry_call(ctx, lambda r: r.list())
    if not apps and not as_json:
        click.echo("no applications registered")
        return
    if as_json:
        echo_json(_plain(apps))
        return
    for app in apps:
        click.echo(f"{app.id}  {app.status:<9}  {app.tier:<12}  {app.organisation_name} / {app.name}")


@tpp.command("show")
@click.argument("application_id")
@json_option
@click.pass_context
def show(ctx: click.Context, application_id: str, as_json: bool) -> None:
    """Show one application with its contacts."""
    _echo_json_or(as_json, _registry_call(ctx, lambda r: r.get(application_id)), _echo_application)


def _status_command(name: str, status: ReviewStatus, help_text: str) -> None:
    @tpp.command(name, help=help_text)
    @click.argument("application_id")
    @json_option
    @click.pass_context
    def command(ctx: click.Context, application_id: str, as_json: bool) -> None:
        app = _registry_call(ctx, lambda r: r.set_status(application_id, status))
        _echo_json_or(as_json, app, _echo_application)


_status_command("approve", ReviewStatus.APPROVED, "Approve an application: its active keys work at once.")
_status_command("suspend", ReviewStatus.SUSPENDED, "Suspend an application: its keys stop working at once.")
_status_command("revoke", ReviewStatus.REVOKED, "Revoke an application for good: its keys stop working.")


@tpp.group("keys")
def keys_group() -> None:
    """API keys: several may be active per application (rotation), each revocable."""


@keys_group.command("create")
@click.argument("application_id")
@click.option("--label", default="", help="A note to tell keys apart.")
@json_option
@click.pass_context
def keys_create(ctx: click.Context, application_id: str, label: str, as_json: bool) -> None:
    """Create an API key and print it, once."""
    issued = _registry_call(ctx, lambda r: r.create_key(application_id, label))
    if as_json:
        echo_json({"key": _plain(issued.key), "api_key": issued.api_key, "warning": ONCE_WARNING})
        return
    _echo_key(issued.key)
    click.echo(issued.api_key)
    click.echo(ONCE_WARNING, err=True)


@keys_group.command("list")
@click.argument("application_id")
@json_option
@click.pass_context
def keys_list(ctx: click.Context, application_id: str, as_json: bool) -> None:
    """List an application's keys (prefixes only; keys are never stored)."""
    found = _registry_call(ctx, lambda r: r.list_keys(application_id))
    if not found and not as_json:
        click.echo(f"application {application_id} has no API keys")
        return
    _echo_json_or(as_json, found, _echo_key)


@keys_group.command("revoke")
@click.argument("key_id")
@json_option
@click.pass_context
def keys_revoke(ctx: click.Context, key_id: str, as_json: bool) -> None:
    """Revoke one API key; it stops working at once, the application's other keys keep working."""
    _echo_json_or(as_json, _registry_call(ctx, lambda r: r.revoke_key(key_id)), _echo_key)
