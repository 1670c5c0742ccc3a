"""``kaimen demo``: seed the sandbox bank, publish the credentials file, serve (DESIGN.md contract)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import click
import orjson

from kaimen.cli.common import check_ready_to_serve, migrate, settings_from
from kaimen.settings import SettingsError, load_settings

# The demo shows every refusal: PCA for ACQUAINTANCE applications, BCA only for PARTNERs, ATMs and
# branches PUBLIC.
DEMO_API_TIERS = {
    "opendata.pca": "ACQUAINTANCE",
    "opendata.bca": "PARTNER",
    "opendata.atm": "PUBLIC",
    "opendata.branch": "PUBLIC",
}


@click.command("demo")
@click.option("--port", type=int, default=8000, show_default=True, help="Binds 127.0.0.1:PORT.")
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Where the sandbox bank's data lives (default: the global --data-dir, else KAIMEN_DATA_DIR, "
    "else .kaimen-data).",
)
@click.option(
    "--credentials-out",
    type=click.Path(path_type=Path),
    default=None,
    help="Where to write the credentials file (default: DATA_DIR/credentials.json).",
)
@click.pass_context
def demo(ctx: click.Context, port: int, data_dir: Path | None, credentials_out: Path | None) -> None:
    """Seed the sandbox bank on the embedded default (SQLite, no services) and serve it."""
    from kaimen import server
    from kaimen.authz.clients import ClientRegistry
    from kaimen.authz.sealing import sealer_for
    from kaimen.demo import credentials
    from kaimen.demo.customers import seed_customers
    from kaimen.demo.products import seed_products
    from kaimen.demo.tpps import seed_tpps
    from kaimen.identity.customers import Customers
    from kaimen.store.db import Database

    # The settings' data dir unless this command names one, as every other command does.
    data_dir = (data_dir or settings_from(ctx).data_dir).resolve()
    out = (credentials_out or data_dir / "credentials.json").resolve()
    base_url = f"http://localhost:{port}"
    env = {
        "KAIMEN_MODE": "embedded",
        "KAIMEN_DATA_DIR": str(data_dir),
        "KAIMEN_HOST": "127.0.0.1",
        "KAIMEN_PORT": str(port),
        "KAIMEN_PUBLIC_BASE_URL": base_url,
        "KAIMEN_DEMO_CREDENTIALS_OUT": str(out),
    }
    # Low enough per-application limits that a 429 can be seen by hand (README quick start).
    env["KAIMEN_APIS"] = orjson.dumps(
        {
            name: {"tier": tier, "default_app_rate": "120/minute", "ip_rate": "600/minute"}
            for name, tier in DEMO_API_TIERS.items()
        }
    ).decode()
    overrides = ctx.obj.get("overrides", {}) if ctx.obj else {}
    if "database_url" in overrides:
        env["KAIMEN_DATABASE_URL"] = str(overrides["database_url"])
    try:
        settings = load_settings(
            data_dir=data_dir,
            host="127.0.0.1",
            port=port,
            public_base_url=base_url,
            demo_credentials_out=out,
            apis=orjson.loads(env["KAIMEN_APIS"]),
            **{k: v for k, v in overrides.items() if k != "data_dir"},
        )
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None

    # Before anything is touched: a second demo on a running one's port would re-seed its data dir and
    # rewrite its credentials file under it, then share its port (granian binds with SO_REUSEPORT).
    if problem := server.bind_problem(settings.host, port):
        raise click.ClickException(problem)
    data_dir.mkdir(parents=True, exist_ok=True)
    migrate(settings)
    check_ready_to_serve(settings)  # before anything is seeded under another secret key

    async def seed() -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
        db = Database(settings.sqlalchemy_url)
        customers = Customers(db, sealer_for(settings), settings)
        try:
            await seed_products(db)
            tpps = await seed_tpps(db, ClientRegistry(db, settings))
            return tpps, await seed_customers(customers)
        finally:
            await customers.close()
            await db.dispose()

    tpps, demo_customers = asyncio.run(seed())
    out.unlink(missing_ok=True)  # a stale file must not be mistaken for this run's
    credentials.write_atomically(
        credentials.pending_path(data_dir),
        credentials.build(base_url, tpps, demo_customers, jws_tan=settings.jws_tan),
    )
    click.echo(f"Kaimen sandbox bank on {base_url} (data in {data_dir}); credentials -> {out}")
    server.run(
        factory="kaimen.demo.server:demo_app_from_env",
        host="127.0.0.1",
        port=port,
        workers=1,
        env=env,
        concurrent_requests=settings.max_concurrent_requests,
    )
