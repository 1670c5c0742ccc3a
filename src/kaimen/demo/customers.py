"""The sandbox bank's demo customers. Every run gives them fresh passwords (like the TPPs' fresh API
keys) and hands out their TOTP secrets, so the credentials file always holds working logins."""

from __future__ import annotations

import secrets

from kaimen.demo.ledger import seed_ledger
from kaimen.identity.customers import Customers

DEMO_CUSTOMERS = (
    ("alice", "Alice Chen"),
    ("bob", "Bob Lin"),
    ("carol", "Carol Wang"),
)


async def seed_customers(customers: Customers) -> list[dict[str, str]]:
    existing = {c.username: c for c in await customers.list()}
    out: list[dict[str, str]] = []
    names: dict[str, str] = {}
    for username, display_name in DEMO_CUSTOMERS:
        password = secrets.token_urlsafe(12)
        if username in existing:
            customer_id = existing[username].id
            await customers.reset_password(username, password)
            await customers.unlock(username)
            totp_secret = await customers.totp_secret(customer_id)
        else:
            customer_id, totp_secret = await customers.create(username, password, display_name)
        names[customer_id] = display_name
        out.append({"username": username, "password": password, "totp_secret": totp_secret})
    # Their accounts and history, once they exist as customers (DESIGN.md: the demo seeds a sandbox bank).
    await seed_ledger(customers.db, names)
    return out
