"""The sandbox bank's demo TPPs: approved applications of different tiers, with fresh API keys.

Re-running the demo keeps every application and issues fresh keys, revoking the ones handed out
before: the credentials file always holds the only working demo keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kaimen.authz.clients import ClientRegistry
from kaimen.demo.oauth import seed_client
from kaimen.store.db import Database
from kaimen.tiers import Tier
from kaimen.tpp.registry import ApplicationView, ContactView, Registry, ReviewStatus


@dataclass(frozen=True)
class DemoTpp:
    organisation: str
    name: str
    tier: Tier
    contact: ContactView


DEMO_TPPS = (
    # PARTNER: admitted to every Product API, BCA (a PARTNER API) included.
    DemoTpp(
        "Northwind Treasury Ltd",
        "Northwind Cash Manager",
        Tier.PARTNER,
        ContactView("technical", "Ada Northwind", "api@northwind.example"),
    ),
    # ACQUAINTANCE: personal current accounts, ATMs and branches; BCA answers 403.
    DemoTpp(
        "Pennywise Apps Ltd",
        "Pennywise Budgeting",
        Tier.ACQUAINTANCE,
        ContactView("technical", "Sam Penny", "dev@pennywise.example"),
    ),
)
DEMO_KEY_LABEL = "kaimen demo"


async def seed_tpps(db: Database, clients: ClientRegistry) -> list[dict[str, Any]]:
    """Ensure the demo applications exist, are approved and are OAuth clients; return them with a fresh
    API key and a fresh client signing key each."""
    registry = Registry(db)
    existing: dict[str, ApplicationView] = {app.name: app for app in await registry.list()}
    out: list[dict[str, Any]] = []
    for tpp in DEMO_TPPS:
        app = existing.get(tpp.name)
        if app is None:
            app = await registry.register(
                organisation=tpp.organisation,
                application=tpp.name,
                tier=tpp.tier,
                contacts=[tpp.contact],
                status=ReviewStatus.APPROVED,
            )
        for key in await registry.list_keys(app.id):
            if key.label == DEMO_KEY_LABEL and key.revoked_at is None:
                await registry.revoke_key(key.id)
        issued = await registry.create_key(app.id, label=DEMO_KEY_LABEL)
        client = await seed_client(clients, app.id, app.name)
        out.append({"name": app.name, "tier": str(app.tier), "api_key": issued.api_key, **client})
    return out
