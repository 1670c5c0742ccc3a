"""``claim`` (kaimen.apis.payments.idempotency), in the caller's transaction, on SQLite and PostgreSQL:
a new key is claimed; the same key and body within 24 hours names the first resource; another body is
refused; a key first used more than 24 hours ago "will be valid for 24 hours" only, so the new request
takes it over."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from kaimen.apis.payments.errors import IdempotencyKeyReused
from kaimen.apis.payments.idempotency import VALID_FOR, Claim, claim
from kaimen.apis.payments.models import IdempotencyKey
from kaimen.store.db import Database
from kaimen.store.types import utcnow

ENDPOINT = "domestic-payments"


async def _claim(db: Database, digest: str, resource_id: str, now: datetime) -> Claim:
    async with db.transaction() as conn:
        return await claim(
            conn,
            client_id="client-a",
            endpoint=ENDPOINT,
            key="key-1",
            digest=digest,
            new_resource_id=resource_id,
            now=now,
        )


async def _stored(db: Database) -> tuple[str, str, datetime]:
    async with db.read() as session:
        row = (
            await session.execute(
                select(IdempotencyKey.request_digest, IdempotencyKey.resource_id, IdempotencyKey.created_at)
            )
        ).one()
    return row.request_digest, row.resource_id, row.created_at


async def test_a_new_key_is_claimed_for_the_new_resource(db: Database) -> None:
    now = utcnow()
    assert await _claim(db, "a" * 64, "dp-first", now) == Claim("dp-first", fresh=True)
    assert await _stored(db) == ("a" * 64, "dp-first", now)


async def test_the_same_key_and_body_within_24_hours_names_the_first_resource(db: Database) -> None:
    first = utcnow() - VALID_FOR + timedelta(minutes=1)
    await _claim(db, "a" * 64, "dp-first", first)
    assert await _claim(db, "a" * 64, "dp-second", utcnow()) == Claim("dp-first", fresh=False)
    assert await _stored(db) == ("a" * 64, "dp-first", first)


async def test_the_same_key_with_another_body_within_24_hours_is_refused(db: Database) -> None:
    first = utcnow()
    await _claim(db, "a" * 64, "dp-first", first)
    with pytest.raises(IdempotencyKeyReused):
        await _claim(db, "b" * 64, "dp-second", utcnow())
    assert await _stored(db) == ("a" * 64, "dp-first", first)


async def test_a_key_older_than_24_hours_is_taken_over_by_the_new_request(db: Database) -> None:
    await _claim(db, "a" * 64, "dp-first", utcnow() - VALID_FOR)
    now = utcnow()
    assert await _claim(db, "b" * 64, "dp-second", now) == Claim("dp-second", fresh=True)
    assert await _stored(db) == ("b" * 64, "dp-second", now)
