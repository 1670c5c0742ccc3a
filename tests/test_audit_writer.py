"""The audit writer: one record per call, off the request path, none lost on a clean stop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import pytest

from kaimen.app import create_app
from kaimen.audit.store import StoredRow, last
from kaimen.audit.verify import verify
from kaimen.audit.writer import AuditWriter, Backoff
from kaimen.events import API_CALL_COMPLETED, EventBus
from kaimen.gateway.context import Call
from kaimen.settings import AuditSettings, Settings
from kaimen.store.db import Database
from kaimen.store.direct import SqliteDirect
from kaimen.tiers import Tier
from kaimen.tpp.registry import Registry, ReviewStatus
from tests.support import client_for, lifespan

QUIET = AuditSettings(batch_size=10_000, flush_interval_seconds=60)  # only stop() or a full batch flushes
PCA = "/open-banking/v2.4/personal-current-accounts"


def interaction(writer: int, n: int) -> str:
    return f"00000000-0000-4000-{8000 + writer}-{n:012d}"


def finished_call(writer: int, n: int) -> Call:
    return Call(
        interaction_id=interaction(writer, n),
        client_ip="198.51.100.9",
        api=None,
        started_ns=0,
        method="GET",
        status=404,
    )


async def records(url: str) -> list[StoredRow]:
    db = Database(url)
    try:
        return await last(db, 100_000)
    finally:
        await db.dispose()


async def chain_length(url: str) -> int:
    db = Database(url)
    try:
        verdict = await verify(db)
    finally:
        await db.dispose()
    assert verdict.broken is None
    return verdict.count


@asynccontextmanager
async def writer_on(
    url: str, settings: AuditSettings, **options: Any
) -> AsyncIterator[tuple[AuditWriter, EventBus]]:
    db = Database(url)
    events = EventBus()
    writer = AuditWriter(db, settings, events, **options)
    await writer.start()
    try:
        yield writer, events
    finally:
        await writer.stop()
        await db.dispose()


@pytest.fixture
def audit_logs(caplog: pytest.LogCaptureFixture) -> Iterator[Callable[[], list[logging.LogRecord]]]:
    with caplog.at_level(logging.WARNING, logger="kaimen.audit"):
        yield lambda: [r for r in caplog.records if r.name == "kaimen.audit"]


async def test_clean_stop_writes_every_call_through_the_real_app(
    database_url: str, make_settings: Callable[..., Settings]
) -> None:
    app = create_app(make_settings(database_url=database_url, audit=QUIET))
    before = datetime.now(UTC)
    async with lifespan(app), client_for(app) as client:
        responses = [await client.get("/healthz" if n % 2 else "/nowhere") for n in range(25)]
        assert await records(database_url) == []  # nothing flushed yet: all 25 wait in the queue
    after = datetime.now(UTC)
    statuses = [response.status_code for response in responses]
    assert statuses == [404, 200] * 12 + [404]
    stored = await records(database_url)
    assert [r.interaction_id for r in stored] == [r.headers["x-fapi-interaction-id"] for r in responses]
    assert all(before <= r.at <= after for r in stored)
    assert [r.at for r in stored] == sorted(r.at for r in stored)
    assert [(r.seq, r.api, r.method, r.route, r.status, r.client_ip) for r in stored] == [
        # A route that matched is recorded as its template (here /healthz); an unknown path as unmatched.
        (n + 1, "none", "GET", "/healthz" if status == 200 else "unmatched", status, "203.0.113.7")
        for n, status in enumerate(statuses)
    ]
    assert await chain_length(database_url) == 25


async def test_records_hold_no_secret(database_url: str, make_settings: Callable[..., Settings]) -> None:
    db = Database(database_url)
    registry = Registry(db)
    application = await registry.register(
        organisation="Audit Ltd",
        application="audit probe",
        tier=Tier.ACQUAINTANCE,
        status=ReviewStatus.APPROVED,
    )
    api_key = (await registry.create_key(application.id)).api_key
    await db.dispose()
    app = create_app(make_settings(database_url=database_url, audit=QUIET))
    async with lifespan(app), client_for(app) as client:
        keyed = await client.get(PCA + "?session=SECRET-QUERY-1", headers={"x-api-key": api_key})
        in_url = await client.get(PCA, params={"api_key": api_key})
        odd = await client.request("PROPFIND", "/admin/SECRET-PATH-2?token=SECRET-QUERY-3")
    stored = await records(database_url)
    assert [(r.application_id, r.api, r.method, r.route, r.status) for r in stored] == [
        (application.id, "opendata.pca", "GET", PCA, keyed.status_code),
        (None, "opendata.pca", "GET", PCA, 400),
        (None, "none", "OTHER", "unmatched", odd.status_code),
    ]
    dumped = repr([r._asdict() for r in stored])
    for secret in (api_key, api_key[:12], "SECRET-"):
        assert secret not in dumped
    assert in_url.status_code == 400


async def test_two_writers_extend_one_chain(database_url: str, audit_logs: Callable[[], list[Any]]) -> None:
    # Two workers' writers on one database, flushing small batches at the same time.
    busy = AuditSettings(batch_size=3, flush_interval_seconds=0.01)
    async with writer_on(database_url, busy) as (_, first), writer_on(database_url, busy) as (_, second):
        for n in range(60):
            first.emit(API_CALL_COMPLETED, finished_call(1, n))
            second.emit(API_CALL_COMPLETED, finished_call(2, n))
            if n % 7 == 0:
                await asyncio.sleep(0.005)
    assert await chain_length(database_url) == 120
    ids = [r.interaction_id for r in await records(database_url)]
    assert sorted(ids) == sorted(interaction(w, n) for w in (1, 2) for n in range(60))
    # Each writer's own calls keep their order in the shared chain.
    assert [i for i in ids if "-8001-" in i] == [interaction(1, n) for n in range(60)]
    assert audit_logs() == []  # the chain lock serialised them: no flush failed on a conflict


async def test_full_batch_flushes_before_the_interval(sqlite_url: str) -> None:
    async with writer_on(sqlite_url, AuditSettings(batch_size=5, flush_interval_seconds=60)) as (_, events):
        for n in range(5):
            events.emit(API_CALL_COMPLETED, finished_call(1, n))
        for _ in range(200):
            if len(await records(sqlite_url)) == 5:
                break
            await asyncio.sleep(0.01)
        assert len(await records(sqlite_url)) == 5


class FlakyDirect(SqliteDirect):
    """SQLite's direct transactions (the audit flush's path), the first ``failures`` of which fail to
    connect."""

    def __init__(self, path: str, failures: int) -> None:
        super().__init__(path)
        self.failures = failures

    async def transaction(self, work: Any) -> Any:
        if self.failures:
            self.failures -= 1
            raise ConnectionRefusedError("database down")
        return await super().transaction(work)


class FlakyDatabase(Database):
    """A database whose first ``failures`` write transactions fail to connect."""

    def __init__(self, url: str, failures: int) -> None:
        super().__init__(url)
        self.direct = FlakyDirect(url.split(":///", 1)[1], failures)


async def test_failed_flush_retries_without_losing_the_batch(
    sqlite_url: str, audit_logs: Callable[[], list[logging.LogRecord]]
) -> None:
    db = FlakyDatabase(sqlite_url, failures=3)
    events = EventBus()
    writer = AuditWriter(db, QUIET, events, backoff=Backoff(first_seconds=0.01, max_seconds=0.02))
    await writer.start()
    for n in range(7):
        events.emit(API_CALL_COMPLETED, finished_call(1, n))
    await writer.stop()
    await db.dispose()
    assert await chain_length(sqlite_url) == 7
    retries = audit_logs()
    assert [(r.getMessage(), r.error, r.retry_in) for r in retries] == [  # type: ignore[attr-defined]
        ("audit flush failed; retrying", "ConnectionRefusedError", delay) for delay in (0.01, 0.02, 0.02)
    ]


async def test_overflow_drops_new_calls_and_reports_them(
    sqlite_url: str, audit_logs: Callable[[], list[logging.LogRecord]]
) -> None:
    db = Database(sqlite_url)
    events = EventBus()
    writer = AuditWriter(
        db, AuditSettings(batch_size=10_000, flush_interval_seconds=60, queue_limit=100), events
    )
    for n in range(130):  # not started: nothing drains, the queue fills up
        events.emit(API_CALL_COMPLETED, finished_call(1, n))
    assert (writer.queued, writer.dropped) == (100, 30)
    await writer.start()
    await writer.stop()
    await db.dispose()
    assert [r.interaction_id for r in await records(sqlite_url)] == [interaction(1, n) for n in range(100)]
    [report] = audit_logs()
    assert (report.levelname, report.getMessage()) == ("ERROR", "audit queue full: calls were not audited")
    assert (report.dropped, report.dropped_total, report.queue_limit) == (30, 30, 100)  # type: ignore[attr-defined]


async def test_stop_gives_up_on_a_database_that_stays_down(
    sqlite_url: str, audit_logs: Callable[[], list[logging.LogRecord]]
) -> None:
    db = FlakyDatabase(sqlite_url, failures=1_000_000)
    events = EventBus()
    writer = AuditWriter(
        db, QUIET, events, backoff=Backoff(first_seconds=0.01, max_seconds=0.01), shutdown_timeout=0.2
    )
    await writer.start()
    for n in range(4):
        events.emit(API_CALL_COMPLETED, finished_call(1, n))
    await writer.stop()
    await db.dispose()
    last_report = audit_logs()[-1]
    assert (last_report.levelname, last_report.getMessage()) == (
        "ERROR",
        "audit writer stopped with records unwritten",
    )
    assert last_report.lost == 4  # type: ignore[attr-defined]
    assert await records(sqlite_url) == []


async def test_a_call_is_recorded_under_its_route_template_never_its_path(
    database_url: str, make_settings: Callable[..., Settings]
) -> None:
    """The client's path may carry ids (a client id, an AccountId): the record keeps the template."""
    app = create_app(make_settings(database_url=database_url, audit=QUIET))
    async with lifespan(app), client_for(app) as client:
        response = await client.get("/oauth2/register/client_SECRET-ID-4")
    assert response.status_code == 401  # RFC 7592 §2: the registration access token is missing
    stored = await records(database_url)
    assert [(r.api, r.route) for r in stored] == [("oauth", "/oauth2/register/{client_id}")]
    assert "SECRET-ID-4" not in repr([r._asdict() for r in stored])


async def test_an_incoming_interaction_id_is_recorded_as_sent(
    database_url: str, make_settings: Callable[..., Settings]
) -> None:
    # The response echoes the x-fapi-interaction-id "received" (UK OB Read/Write Data API Profile);
    # the audit record keeps the same text, so one value finds the call in both.
    sent = "93BC1A5E-3F5C-4D4B-9C3A-0F2B6D9E1A77"
    app = create_app(make_settings(database_url=database_url, audit=QUIET))
    async with lifespan(app), client_for(app) as client:
        response = await client.get("/healthz", headers={"x-fapi-interaction-id": sent})
    assert response.headers["x-fapi-interaction-id"] == sent
    assert [r.interaction_id for r in await records(database_url)] == [sent]
