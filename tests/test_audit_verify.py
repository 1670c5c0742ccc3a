"""The chain in the database: append-only triggers, ``verify`` and ``kaimen audit verify | tail | show``.

Tampering tests first drop the triggers, as an attacker with database access would; the chain must
still give them away, at exactly the record they touched.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from click.testing import CliRunner
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from kaimen.audit.chain import GENESIS, encode_body, link
from kaimen.audit.record import AuditFields
from kaimen.audit.store import append
from kaimen.audit.verify import Break, verify
from kaimen.cli.main import cli
from kaimen.store.db import Database

T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def interaction(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


def record(n: int) -> AuditFields:
    return AuditFields(
        T0 + timedelta(seconds=n),
        interaction(n),
        "app_1" if n % 2 else None,
        "opendata.atm",
        "GET",
        "/open-banking/v2.3/atms",
        200,
        1000 + n,
        "203.0.113.7",
    )


async def fill(url: str, count: int) -> None:
    """``count`` records 1..count, in two batches so the second links onto a stored tip."""
    db = Database(url)
    try:
        half = count // 2
        await append(db, [record(n) for n in range(1, half + 1)])
        await append(db, [record(n) for n in range(half + 1, count + 1)])
    finally:
        await db.dispose()


async def tamper(db: Database, *statements: str, **params: object) -> None:
    """Drop the append-only triggers, then run ``statements`` (with bound ``params``)."""
    on = "" if db.is_sqlite else " ON audit_records"
    async with db.write() as session:
        for name in ("audit_records_no_update", "audit_records_no_delete"):
            await session.execute(text(f"DROP TRIGGER IF EXISTS {name}{on}"))
        for statement in statements:
            await session.execute(text(statement), params)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    await fill(database_url, 6)
    database = Database(database_url)
    try:
        yield database
    finally:
        await database.dispose()


async def test_chain_built_in_batches_verifies(db: Database) -> None:
    verdict = await verify(db)
    assert (verdict.count, verdict.broken) == (6, None)
    async with db.read() as session:
        first = (await session.execute(text("SELECT prev_digest FROM audit_records WHERE seq = 1"))).scalar()
        last = (await session.execute(text("SELECT digest FROM audit_records WHERE seq = 6"))).scalar()
    assert (first, verdict.head) == (GENESIS, last)


async def test_two_workers_appending_at_once_make_one_unbroken_chain(database_url: str) -> None:
    # Two handles are two workers' pools: each append reads the tip and links onto it, so without the
    # lock (the advisory lock on PostgreSQL, BEGIN IMMEDIATE on SQLite) two batches would link onto
    # the same tip and the chain would fork.
    workers = [Database(database_url), Database(database_url)]
    try:

        async def worker(db: Database, first: int) -> None:
            for batch in range(10):
                start = first + batch * 5
                await append(db, [record(n) for n in range(start, start + 5)])

        await asyncio.gather(worker(workers[0], 1), worker(workers[1], 1001))
        verdict = await verify(workers[0])
    finally:
        for db in workers:
            await db.dispose()
    assert (verdict.count, verdict.broken) == (100, None)


async def test_empty_chain_is_intact(database_url: str) -> None:
    database = Database(database_url)
    try:
        verdict = await verify(database)
    finally:
        await database.dispose()
    assert (verdict.count, verdict.head, verdict.broken) == (0, GENESIS, None)


@pytest.mark.parametrize(
    "statement",
    ["UPDATE audit_records SET status = 500 WHERE seq = 3", "DELETE FROM audit_records WHERE seq = 3"],
)
async def test_update_and_delete_are_refused_by_the_database(db: Database, statement: str) -> None:
    with pytest.raises(DBAPIError, match="audit_records is append-only"):
        async with db.write() as session:
            await session.execute(text(statement))
    assert (await verify(db)).count == 6


async def test_emptying_the_table_is_refused(db: Database) -> None:
    # PostgreSQL's TRUNCATE skips row triggers; SQLite has none, and its unqualified DELETE fires them.
    statement = "DELETE FROM audit_records" if db.is_sqlite else "TRUNCATE audit_records"
    with pytest.raises(DBAPIError, match="audit_records is append-only"):
        async with db.write() as session:
            await session.execute(text(statement))


async def test_changed_field_is_found_at_that_record(db: Database) -> None:
    await tamper(db, "UPDATE audit_records SET status = 500 WHERE seq = 3")
    verdict = await verify(db)
    assert verdict.count == 2
    assert verdict.broken == Break(
        3, interaction(3), "digest mismatch: a field was changed after the record was written"
    )


async def test_changed_field_with_recomputed_digest_breaks_the_next_link(db: Database) -> None:
    # An attacker who also recomputes the changed record's digest cannot fix the link of the next one.
    async with db.read() as session:
        prev = (await session.execute(text("SELECT digest FROM audit_records WHERE seq = 2"))).scalar_one()
    forged = link(prev, 3, encode_body(record(3)._replace(status=500)))
    await tamper(db, "UPDATE audit_records SET status = 500, digest = :forged WHERE seq = 3", forged=forged)
    verdict = await verify(db)
    assert verdict.count == 3
    assert verdict.broken == Break(
        4, interaction(4), "broken link: prev_digest is not the digest of the record before"
    )


async def test_relinked_record_is_a_broken_link(db: Database) -> None:
    await tamper(db, "UPDATE audit_records SET prev_digest = '" + "b" * 64 + "' WHERE seq = 4")
    verdict = await verify(db)
    assert verdict.broken == Break(
        4, interaction(4), "broken link: prev_digest is not the digest of the record before"
    )


async def test_deleted_middle_record_is_a_gap(db: Database) -> None:
    await tamper(db, "DELETE FROM audit_records WHERE seq = 3")
    verdict = await verify(db)
    assert verdict.count == 2
    assert verdict.broken == Break(4, interaction(4), "gap in seq: expected 3, found 4")


async def test_verify_pages_through_the_chain(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    from kaimen.audit import store

    original = store.pages
    monkeypatch.setattr("kaimen.audit.verify.pages", lambda database: original(database, page_size=4))
    await tamper(db, "UPDATE audit_records SET route = '/x' WHERE seq = 5")
    assert (await verify(db)).broken == Break(
        5, interaction(5), "digest mismatch: a field was changed after the record was written"
    )


def run_cli(url: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--database-url", url, "audit", *args], catch_exceptions=False)
    return result.exit_code, result.output


def test_cli_verify_intact_chain(database_url: str) -> None:
    asyncio.run(fill(database_url, 6))
    assert run_cli(database_url, "verify") == (0, "audit chain intact: 6 records\n")


def test_cli_verify_names_the_first_broken_record(database_url: str) -> None:
    asyncio.run(fill(database_url, 6))

    async def break_it() -> None:
        database = Database(database_url)
        try:
            await tamper(
                database,
                "UPDATE audit_records SET client_ip = '198.51.100.1' WHERE seq = 2",
                "UPDATE audit_records SET latency_us = 0 WHERE seq = 5",
            )
        finally:
            await database.dispose()

    asyncio.run(break_it())
    assert run_cli(database_url, "verify") == (
        1,
        f"audit chain broken at seq 2 (interaction id {interaction(2)}): "
        "digest mismatch: a field was changed after the record was written\n"
        "intact records before it: 1\n",
    )


def test_cli_tail_and_show_print_json_lines(database_url: str) -> None:
    asyncio.run(fill(database_url, 6))
    code, output = run_cli(database_url, "tail", "-n", "2")
    lines = [orjson.loads(line) for line in output.splitlines()]
    assert (code, [line["seq"] for line in lines]) == (0, [5, 6])
    assert {k: v for k, v in lines[1].items() if k not in ("prev_digest", "digest")} == {
        "seq": 6,
        "at": "2026-11-26T09:00:06Z",
        "interaction_id": interaction(6),
        "application_id": None,
        "api": "opendata.atm",
        "method": "GET",
        "route": "/open-banking/v2.3/atms",
        "status": 200,
        "latency_us": 1006,
        "client_ip": "203.0.113.7",
        "consent_id": None,
    }
    assert lines[1]["prev_digest"] == lines[0]["digest"]
    code, output = run_cli(database_url, "show", interaction(3))
    assert (code, orjson.loads(output)["seq"]) == (0, 3)
    assert run_cli(database_url, "show", interaction(99)) == (
        1,
        f"no audit record with interaction id {interaction(99)}\n",
    )
