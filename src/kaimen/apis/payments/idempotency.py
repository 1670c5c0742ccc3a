"""``x-idempotency-key`` (Read/Write Data API Profile v3.1.11, "Idempotency"; the spec file's
x-idempotency-key parameter: required, ``maxLength: 40``, ``pattern: ^(?!\\s)(.*)(\\S)$``):

    idempotency_key  present (UK.OBIE.Header.Missing), at most 40 characters, not starting or ending
                     with white space, printable ASCII (UK.OBIE.Header.Invalid)
    IdempotencyKeys  one row per TPP, endpoint and key, claimed in the same database transaction as
                     the resource it creates (DESIGN.md: one-time records "written in the same
                     transaction as their effect"):
                     - a new key: the caller's resource is created;
                     - the same key and the same body within 24 hours: "the ASPSP must not create a new
                       resource ... and must respond to the request with the current status of the
                       resource" (the caller answers 201 with it);
                     - the same key with another body within 24 hours: refused;
                     - a key first used more than 24 hours ago ("The Idempotency Key will be valid
                       for 24 hours") is taken over by the new request.
                     Keys are scoped to the TPP ("from the same TPP"): another TPP's key is another key.

Keys past their 24 hours are deleted by :class:`KeySweeper`, every ``SWEEP_EVERY`` claims of a
process, in a small transaction of its own after the claim's (never in the payment's transaction,
whose row locks it would hold longer).

Races: the primary key settles them. ``INSERT ... ON CONFLICT DO NOTHING`` claims the key; on
PostgreSQL a second transaction inserting the same key waits for the first to commit, then finds its
row; on SQLite write transactions take the lock up front (``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.requests import Request

from kaimen.apis.payments.errors import (
    IDEMPOTENCY_HEADER,
    IdempotencyKeyInvalid,
    IdempotencyKeyMissing,
    IdempotencyKeyReused,
)
from kaimen.apis.payments.models import IdempotencyKey
from kaimen.store.db import Database
from kaimen.store.direct import Statement, stored_time

log = logging.getLogger("kaimen.apis.payments")

MAX_LENGTH = 40
VALID_FOR = timedelta(hours=24)
SWEEP_EVERY = 500
_SWEEP = "DELETE FROM idempotency_keys WHERE created_at <= :before"
# The spec's pattern (no leading white space, a non-space last character) over printable ASCII: a
# header value is ASCII (RFC 9110 §5.5), and a control character has no place in a key.
_KEY = re.compile(r"(?!\s)[\x20-\x7e]*[\x21-\x7e]", re.ASCII)


def idempotency_key(request: Request) -> str:
    values = request.headers.getlist(IDEMPOTENCY_HEADER)
    if not values:
        raise IdempotencyKeyMissing("x-idempotency-key is required", path=IDEMPOTENCY_HEADER)
    if len(values) > 1:
        raise IdempotencyKeyInvalid("x-idempotency-key must be sent once", path=IDEMPOTENCY_HEADER)
    key = values[0]
    if len(key) > MAX_LENGTH:
        raise IdempotencyKeyInvalid(
            f"x-idempotency-key must be at most {MAX_LENGTH} characters", path=IDEMPOTENCY_HEADER
        )
    if not _KEY.fullmatch(key):
        raise IdempotencyKeyInvalid(
            "x-idempotency-key must not start or end with white space", path=IDEMPOTENCY_HEADER
        )
    return key


def _claim_statement(dialect: Any) -> Any:
    """``INSERT ... ON CONFLICT DO NOTHING RETURNING resource_id`` of a new key, built once per dialect
    (it runs in every payment's and every consent's transaction)."""
    return (
        dialect.insert(IdempotencyKey)
        .values(
            client_id=bindparam("b_client_id"),
            endpoint=bindparam("b_endpoint"),
            key=bindparam("b_key"),
            request_digest=bindparam("b_digest"),
            resource_id=bindparam("b_resource_id"),
            created_at=bindparam("b_now"),
        )
        .on_conflict_do_nothing()
        .returning(IdempotencyKey.resource_id)
    )


_CLAIM = {"postgresql": _claim_statement(postgresql), "sqlite": _claim_statement(sqlite)}


@dataclass(frozen=True, slots=True)
class Claim:
    """Who holds a key once ``claim`` returns: ``resource_id`` is the caller's new id when ``fresh``,
    else the id of the resource the first request created."""

    resource_id: str
    fresh: bool


# A key held (read when the insert found it taken), and a stale one taken over: prebuilt as the claim is.
_IDENTITY = (
    IdempotencyKey.client_id == bindparam("b_client_id"),
    IdempotencyKey.endpoint == bindparam("b_endpoint"),
    IdempotencyKey.key == bindparam("b_key"),
)
_HOLDER = select(IdempotencyKey.request_digest, IdempotencyKey.resource_id, IdempotencyKey.created_at).where(
    *_IDENTITY
)
_TAKE_OVER = (
    update(IdempotencyKey)
    .where(*_IDENTITY, IdempotencyKey.created_at == bindparam("b_held_at"))
    .values(
        request_digest=bindparam("b_digest"),
        resource_id=bindparam("b_resource_id"),
        created_at=bindparam("b_now"),
    )
    .returning(IdempotencyKey.resource_id)
)


async def claim(
    conn: AsyncConnection,
    *,
    client_id: str,
    endpoint: str,
    key: str,
    digest: str,
    new_resource_id: str,
    now: datetime,
) -> Claim:
    """Claim ``key`` for ``new_resource_id`` in the caller's write transaction ``conn``, or learn who
    holds it. Raises IdempotencyKeyReused for another body within 24 hours."""
    values = {
        "b_client_id": client_id,
        "b_endpoint": endpoint,
        "b_key": key,
        "b_digest": digest,
        "b_resource_id": new_resource_id,
        "b_now": now,
    }
    for _ in range(3):  # a stale key taken over by a concurrent request in between: look again
        inserted = await conn.execute(_CLAIM[conn.dialect.name], values)
        if inserted.first() is not None:
            return Claim(new_resource_id, fresh=True)
        row = (await conn.execute(_HOLDER, values)).first()
        if row is None:
            continue
        held = _Held(*row)
        replayed = _replayed(held, digest, now)
        if replayed is not None:
            return Claim(replayed, fresh=False)
        taken = await conn.execute(_TAKE_OVER, {**values, "b_held_at": held.created_at})
        if taken.first() is not None:
            return Claim(new_resource_id, fresh=True)
    raise RuntimeError("x-idempotency-key kept changing hands")


def _replayed(held: _Held, digest: str, now: datetime) -> str | None:
    """The resource ``held`` names when it is still valid and was made from this same body; None
    when it is older than 24 hours; IdempotencyKeyReused for another body."""
    if held.created_at <= now - VALID_FOR:
        return None
    if held.request_digest != digest:
        raise IdempotencyKeyReused(
            "x-idempotency-key was used for another request body within 24 hours", path=IDEMPOTENCY_HEADER
        )
    return held.resource_id


class _Held(NamedTuple):
    request_digest: str
    resource_id: str
    created_at: datetime


_HELD = (
    "SELECT request_digest, resource_id, created_at FROM idempotency_keys"
    " WHERE client_id = :client_id AND endpoint = :endpoint AND key = :key"
)


async def holder(
    db: Database, *, client_id: str, endpoint: str, key: str, digest: str, now: datetime
) -> str | None:
    """Read only: the resource a replay of ``key`` with this body names, before any other check runs
    (a replay answers with the resource as it is now, even once its consent is consumed); None for a
    key not held. Raises IdempotencyKeyReused as ``claim`` does. One plain statement
    (kaimen.store.direct): it runs before every payment."""
    rows = await db.direct.rows(_HELD, {"client_id": client_id, "endpoint": endpoint, "key": key})
    if not rows:
        return None
    digest_held, resource_id, created_at = rows[0]
    at = stored_time(created_at)
    assert at is not None  # NOT NULL
    return _replayed(_Held(digest_held, resource_id, at), digest, now)


class KeySweeper:
    """Deletes the keys older than 24 hours (they can no longer answer a replay: a new request takes
    them over) every ``every`` claims made through this process, so the table holds about a day of
    keys. Any worker's sweep removes every TPP's expired keys; a sweep that fails is logged and tried
    again ``every`` claims later: the claim it followed has already been committed."""

    def __init__(self, db: Database, *, every: int = SWEEP_EVERY) -> None:
        self.db = db
        self.every = every
        self._claims = 0

    async def claimed(self, now: datetime) -> int | None:
        """Count one claim; on every ``every``-th, sweep and return how many keys went."""
        self._claims += 1
        if self._claims % self.every:
            return None
        try:
            (deleted,) = await self.db.direct.run([Statement(_SWEEP, {"before": now - VALID_FOR})])
        except Exception:  # the store failing here must not fail the request that was already served
            log.warning("idempotency key sweep failed", exc_info=True)
            return None
        return deleted
