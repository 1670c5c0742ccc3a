"""The sandbox bank's demo customers. Every run gives them fresh passwords (like the TPPs' fresh API
keys) and hands out their TOTP secrets, so the credentials file always holds working logins."""

from __future__ import annotations

import secrets
from typing import Any

from kaimen.demo.ledger import seed_ledger
from kaimen.identity.customers import Customers
from kaimen.ledger.core import BalanceType, CoreBanking
from kaimen.ledger.sandbox import sandbox_core_banking

DEMO_CUSTOMERS = (
    ("alice", "Alice Chen"),
    ("bob", "Bob Lin"),
    ("carol", "Carol Wang"),
)


async def seed_customers(customers: Customers) -> list[dict[str, Any]]:
    existing = {c.username: c for c in await customers.list()}
    out: list[dict[str, Any]] = []
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
    core = sandbox_core_banking(customers.db)
    for entry, customer_id in zip(out, names, strict=True):
        entry["accounts"] = await accounts_of(core, customer_id)
    return out


async def accounts_of(core: CoreBanking, customer_id: str) -> list[dict[str, str]]:
    """The sandbox contract's ``accounts`` (DESIGN.md): ``account_id`` is the OB AccountId,
    ``identification`` the 14-digit sort code + account number, ``balance`` the InterimBooked amount
    as an OB decimal string (unsigned, as OB amounts are; GET /balances adds CreditDebitIndicator)."""
    listed = []
    for account in await core.accounts(customer_id):
        booked = next(
            b
            for b in await core.balances(customer_id, account.account_id)
            if b.type is BalanceType.INTERIM_BOOKED
        )
        listed.append(
            {
                "account_id": account.account_id,
                "identification": account.identification,
                "currency": account.currency,
                "balance": booked.amount.ob_amount(),
            }
        )
    return listed
