"""The authorization server's parts, built once per process and handed to the routes that need them.

Each part receives only what it needs (STYLE.md §6); app.py builds one AuthorizationServer and mounts
``routes()``.
"""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute

from kaimen.authz import endpoints
from kaimen.authz.discovery import discovery_routes
from kaimen.authz.once import OnceStore, build_once_store
from kaimen.authz.sealing import Sealer, sealer_for
from kaimen.authz.signing import SigningKeys
from kaimen.errors.render import Family
from kaimen.gateway.apis import Api
from kaimen.settings import Settings
from kaimen.store.db import Database
from kaimen.store.watch import Watcher


class AuthorizationServer:
    def __init__(self, settings: Settings, db: Database, watcher: Watcher, events: Any) -> None:
        self.settings = settings
        self.issuer = settings.public_base_url
        self.db = db
        self.events = events
        self.sealer: Sealer = sealer_for(settings)
        self.once: OnceStore = build_once_store(settings.redis_url, db)
        self.keys = SigningKeys(db, self.sealer, watcher)
        # --- F: clients, registration, client authentication ---
        # --- G: DPoP, tokens ---
        # --- H: customers, interactions (pages) ---
        # --- I: PAR, authorize, flow, token endpoint ---

    async def start(self) -> None:
        await self.keys.ensure()

    async def stop(self) -> None:
        await self.once.close()

    def routes(self) -> list[BaseRoute]:
        routes: list[BaseRoute] = [*discovery_routes(self.issuer, self.keys)]
        # --- F routes --- G routes --- H routes --- I routes ---
        return routes


def authz_apis(settings: Settings) -> list[Api]:
    """The authorization server's paths in the gateway's table: audited and rate-limited per IP."""
    return [
        Api(
            name="oauth",
            path="/oauth2",
            family=Family.OAUTH,
            media_type="application/json",
            policy=settings.apis["oauth"],
            prefix=True,
        ),
        Api(
            name="oauth",
            path="/.well-known",
            family=Family.OAUTH,
            media_type="application/json",
            policy=settings.apis["oauth"],
            prefix=True,
        ),
        Api(
            name="login",
            path=endpoints.LOGIN,
            family=Family.PLAIN,
            media_type="application/json",
            policy=settings.apis["login"],
            prefix=True,
        ),
    ]
