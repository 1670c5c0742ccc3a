"""Idempotency keys past their 24 hours are swept (kaimen.apis.payments.idempotency.KeySweeper), on
SQLite and PostgreSQL: the table keeps about a day of keys, never one that could still answer a replay."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import orjson
from sqlalchemy import select

from kaimen.apis.payments.consent_request import read_domestic_consent_request
from kaimen.apis.payments.consents import DomesticPaymentConsents
from kaimen.apis.payments.idempotency import VALID_FOR, KeySweeper
from kaimen.apis.payments.models import IdempotencyKey
from kaimen.events import EventBus
from kaimen.store.db import Database
from kaimen.store.types import utcnow
from tests.payments_support import consent_body


async def _keys(db: Database) -> set[str]:
    async with db.read() as session:
        return set((await session.scalars(select(IdempotencyKey.key))).all())


async def _add(db: Database, key: str, age: timedelta) -> None:
    async with db.write() as session:
        session.add(
            IdempotencyKey(
                client_id="client-a",
                endpoint="domestic-payment-consents",
                key=key,
                request_digest="0" * 64,
                resource_id=f"resource-{key}",
                created_at=utcnow() - age,
            )
        )


def test_every_nth_claim_sweeps_the_keys_older_than_24_hours(database_url: str) -> None:
    async def run() -> None:
        db = Database(database_url)
        try:
            await _add(db, "expired", VALID_FOR + timedelta(minutes=1))
            await _add(db, "just-expired", VALID_FOR)
            await _add(db, "young", VALID_FOR - timedelta(minutes=1))
            sweeper = KeySweeper(db, every=3)
            assert await sweeper.claimed(utcnow()) is None
            assert await sweeper.claimed(utcnow()) is None
            assert await _keys(db) == {"expired", "just-expired", "young"}
            assert await sweeper.claimed(utcnow()) == 2
            assert await _keys(db) == {"young"}
        finally:
            await db.dispose()

    asyncio.run(run())


def test_creating_a_consent_counts_as_a_claim(database_url: str) -> None:
    async def run() -> None:
        db = Database(database_url)
        try:
            await _add(db, "expired", VALID_FOR + timedelta(hours=1))
            consents = DomesticPaymentConsents(db, EventBus())
            consents.sweeper.every = 1
            body = orjson.dumps(consent_body())
            _, fresh = await consents.create("client-b", "new-key", read_domestic_consent_request(body))
            assert fresh
            assert await _keys(db) == {"new-key"}
        finally:
            await db.dispose()

    asyncio.run(run())
