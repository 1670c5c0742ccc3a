"""Reading and extending the audit chain in the database.

Extending the chain is a critical section across every worker of every host: read the last digest,
then insert records linked to it. On PostgreSQL a transaction-scoped advisory lock serialises it (the
SELECT after the lock runs on a fresh READ COMMITTED snapshot, so it sees the previous holder's
commit); on SQLite the write transaction already starts with BEGIN IMMEDIATE, which takes the
database's write lock for every process.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Table, func, select

from kaimen.audit.chain import GENESIS, encode_body, link
from kaimen.audit.record import AuditFields
from kaimen.store.db import Database
from kaimen.store.direct import SqliteDirect, sqlite_time
from kaimen.store.direct_postgres import PostgresDirect
from kaimen.store.models import AuditRecord

# A fixed 64-bit key that no other part of Kaimen uses for pg_advisory_xact_lock.
CHAIN_LOCK_KEY = int.from_bytes(hashlib.sha256(b"kaimen.audit.chain").digest()[:8], "big", signed=True)


# A selected row of COLUMNS (attributes named as the columns).
StoredRow = Row[*tuple[Any, ...]]

_table: Table = AuditRecord.__table__  # type: ignore[assignment]
COLUMNS = (
    _table.c.seq,
    _table.c.at,
    _table.c.interaction_id,
    _table.c.application_id,
    _table.c.api,
    _table.c.method,
    _table.c.route,
    _table.c.status,
    _table.c.latency_us,
    _table.c.client_ip,
    _table.c.consent_id,
    _table.c.prev_digest,
    _table.c.digest,
)
_FIELD_NAMES = AuditFields._fields


_NAMES = ", ".join(column.name for column in COLUMNS)
# Built from the table's own column names, never from input.
_INSERT = {
    # The driver's own executemany: this runs in the serving process for every call, and SQLAlchemy's
    # per-row parameter processing cost three times the insert itself (bench/profile_gateway.py).
    "sqlite": f"INSERT INTO audit_records ({_NAMES}) VALUES ({', '.join('?' * len(COLUMNS))})",  # noqa: S608
    "postgresql": f"INSERT INTO audit_records ({_NAMES}) "  # noqa: S608
    f"VALUES ({', '.join(f'${i}' for i in range(1, len(COLUMNS) + 1))})",
}


def _identity(at: datetime) -> datetime:
    return at


def _linked(
    batch: Sequence[AuditFields],
    bodies: Sequence[bytes],
    seq: int,
    prev: str,
    stored_time: Callable[[datetime], Any],
) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    for fields, body in zip(batch, bodies, strict=True):
        seq += 1
        digest = link(prev, seq, body)
        rows.append((seq, stored_time(fields.at), *fields[1:], prev, digest))
        prev = digest
    return rows


_TIP = "SELECT seq, digest FROM audit_records ORDER BY seq DESC LIMIT 1"


async def append(db: Database, batch: Sequence[AuditFields]) -> None:
    """Add ``batch`` to the end of the chain, in order, in one transaction."""
    bodies = [encode_body(fields) for fields in batch]  # before the lock: keep the critical section short
    direct = db.direct
    if isinstance(direct, SqliteDirect):
        # On the event loop's thread, without aiosqlite's thread hops (kaimen.store.direct): this
        # flush follows every API call.
        def extend(conn: sqlite3.Connection) -> None:
            last = conn.execute(_TIP).fetchone()
            seq, prev = (last[0], last[1]) if last is not None else (0, GENESIS)
            conn.executemany(_INSERT["sqlite"], _linked(batch, bodies, seq, prev, sqlite_time))

        await direct.transaction(extend)
        return
    assert isinstance(direct, PostgresDirect)
    # Straight through asyncpg too (no greenlet hand-overs for the lock, the tip and the insert).
    async with direct.transaction() as conn:
        await conn.execute("SELECT pg_advisory_xact_lock($1)", CHAIN_LOCK_KEY)
        last = await conn.fetchrow(_TIP)
        seq, prev = (last[0], last[1]) if last is not None else (0, GENESIS)
        await conn.executemany(_INSERT["postgresql"], _linked(batch, bodies, seq, prev, _identity))


def fields_of_row(row: StoredRow) -> AuditFields:
    return AuditFields(*(getattr(row, name) for name in _FIELD_NAMES))


async def pages(db: Database, page_size: int = 5000) -> AsyncIterator[Sequence[StoredRow]]:
    """The whole chain in ``seq`` order, a page at a time (keyset pagination: memory stays flat and no
    cursor is held open across pages)."""
    after = None
    while True:
        query = select(*COLUMNS).order_by(_table.c.seq).limit(page_size)
        if after is not None:
            query = query.where(_table.c.seq > after)
        async with db.read() as session:
            rows = (await session.execute(query)).all()
        if not rows:
            return
        yield rows
        after = rows[-1].seq


async def last(db: Database, count: int) -> list[StoredRow]:
    """The last ``count`` records, oldest first."""
    async with db.read() as session:
        rows = (await session.execute(select(*COLUMNS).order_by(_table.c.seq.desc()).limit(count))).all()
    return list(reversed(rows))


async def by_interaction(db: Database, interaction_id: str) -> list[StoredRow]:
    async with db.read() as session:
        query = select(*COLUMNS).where(_table.c.interaction_id == interaction_id).order_by(_table.c.seq)
        return list((await session.execute(query)).all())


async def by_consent(db: Database, consent_id: str) -> list[StoredRow]:
    """Every call made with a token carrying ``consent_id``, oldest first (a payment's trail)."""
    async with db.read() as session:
        query = select(*COLUMNS).where(_table.c.consent_id == consent_id).order_by(_table.c.seq)
        return list((await session.execute(query)).all())


async def last_success(db: Database, consent_ids: Sequence[str]) -> dict[str, datetime]:
    """When each of ``consent_ids`` was last used: the time of its latest call that succeeded (status
    below 400), for the customer's dashboard; consents never used successfully are absent."""
    if not consent_ids:
        return {}
    query = (
        select(_table.c.consent_id, func.max(_table.c.at))
        .where(_table.c.consent_id.in_(list(consent_ids)), _table.c.status < 400)
        .group_by(_table.c.consent_id)
    )
    async with db.read() as session:
        rows = (await session.execute(query)).all()
    return {consent_id: at for consent_id, at in rows}
