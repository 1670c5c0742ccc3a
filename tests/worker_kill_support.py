"""Helpers of tests/test_faults_worker_kill.py: granian's worker processes and the connections each
one accepted, as Linux shows them in /proc (psutil is not a dependency), and what the database holds
about payments and the ledger once the traffic has ended."""

from __future__ import annotations

import os
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from kaimen.apis.payments.models import DomesticPayment, DomesticPaymentConsent, IdempotencyKey
from kaimen.apis.payments.payments import ENDPOINT as PAYMENTS_ENDPOINT
from kaimen.ledger.models import LedgerEntry, LedgerPosting
from kaimen.store.db import Database
from tests.multiprocess_support import Instance

T = TypeVar("T")
CONNECT_TRIES = 64  # new connections until one lands on a given worker of two
ESTABLISHED = "01"  # /proc/net/tcp "st" column
BOOKED = "Booked"


def children(pid: int) -> set[int]:
    """The live child processes of ``pid`` (granian's main process: its workers)."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found |= {int(child) for child in task.read_text().split()}
        except OSError:
            continue  # the thread ended while we looked
    return {child for child in found if _alive(child)}


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def gone(pid: int) -> bool:
    return not Path(f"/proc/{pid}").exists()


def _established_inodes(port: int, remote_port: int | None = None) -> set[str]:
    """Socket inodes of established IPv4 TCP connections whose local port is ``port`` (and whose
    remote port is ``remote_port``, when given)."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        columns = line.split()
        local, remote, state, inode = columns[1], columns[2], columns[3], columns[9]
        if state != ESTABLISHED or int(local.rsplit(":", 1)[1], 16) != port:
            continue
        if remote_port is None or int(remote.rsplit(":", 1)[1], 16) == remote_port:
            inodes.add(inode)
    return inodes


def _sockets(pid: int) -> set[str]:
    """The inodes of the sockets ``pid`` holds open (none once it ended)."""
    found = set()
    try:
        for fd in os.scandir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(fd.path)
            except OSError:
                continue
            if target.startswith("socket:["):
                found.add(target[8:-1])
    except OSError:
        pass
    return found


def connections_held(pids: set[int], port: int) -> dict[int, int]:
    """How many established connections to ``port`` each process holds (accepted and not closed)."""
    inodes = _established_inodes(port)
    return {pid: len(_sockets(pid) & inodes) for pid in pids}


def connected_to(pids: set[int], port: int, client_port: int) -> int | None:
    """Which of ``pids`` accepted the connection from local ``client_port`` to ``port``, if any."""
    inodes = _established_inodes(port, client_port)
    return next((pid for pid in pids if _sockets(pid) & inodes), None)


def wait_for(what: str, check: Callable[[], T | None], within: float) -> T:
    """What ``check`` returns once it is truthy; fails after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not (found := check()):
        assert time.monotonic() < deadline, f"{what}: not within {within} s"
        time.sleep(0.02)
    return found


def workers_of(server: int) -> frozenset[int] | None:
    """The server's two workers, once both run (None meanwhile)."""
    found = children(server)
    return frozenset(found) if len(found) == 2 else None


def local_port(response: httpx.Response) -> int:
    """The client's port of the connection ``response`` came on (httpcore's ``network_stream``)."""
    port: int = response.extensions["network_stream"].get_extra_info("client_addr")[1]
    return port


def client_on(
    instance: Instance, worker: int, workers: set[int], timeout: float
) -> tuple[httpx.Client, httpx.Response]:
    """A client whose kept-alive connection ``worker`` accepted, and the /readyz sent on it. Each
    granian worker listens on a SO_REUSEPORT socket of its own and the kernel spreads new connections
    over them, so this may take a few connections."""
    for _ in range(CONNECT_TRIES):
        http = httpx.Client(timeout=timeout)
        ready = http.get(instance.url("/readyz"))
        if connected_to(workers, instance.port, local_port(ready)) == worker:
            return http, ready
        http.close()
    raise AssertionError(f"no connection reached worker {worker} in {CONNECT_TRIES} tries")


@dataclass
class LedgerState:
    """The rows the checks read, in one read transaction after the server stopped."""

    payments: dict[str, tuple[str, str, str | None]]  # DomesticPaymentId -> (ConsentId, Status, TxnId)
    consent_status: dict[str, str]  # ConsentId -> Status, for every consent of the TPP
    keys: dict[str, str]  # x-idempotency-key -> DomesticPaymentId
    postings: dict[str, tuple[str, str, int]]  # posting id -> (reference, kind, amount)
    entries: dict[str, list[tuple[str, str, int]]]  # posting id -> [(entry id, account id, amount)]
    total: int  # the sum of every entry in the ledger
    booked: dict[str, int]  # every account -> the sum of its booked entries
    chain_breaks: list[str] = field(default_factory=list)  # seq / balance_after faults, one per account


async def booked_balances(session: AsyncSession) -> dict[str, int]:
    """Every account's booked balance: the sum of its booked entries (PostgreSQL sums as numeric)."""
    rows = await session.execute(
        select(LedgerEntry.account_id, func.sum(LedgerEntry.amount))
        .where(LedgerEntry.status == BOOKED)
        .group_by(LedgerEntry.account_id)
    )
    return {account_id: int(total) for account_id, total in rows}


async def books_before(database_url: str) -> tuple[dict[str, int], int]:
    """Every account's booked balance, and how many postings the ledger holds."""
    db = Database(database_url)
    try:
        async with db.read() as session:
            count = await session.scalar(select(func.count()).select_from(LedgerPosting))
            return await booked_balances(session), int(count or 0)
    finally:
        await db.dispose()


async def _chain_break(session: AsyncSession, account_id: str) -> list[str]:
    """A customer account's entries are numbered 1, 2, ... (``seq``) and each booked one carries the
    booked balance after it (``balance_after``): the first entry that breaks either, if any."""
    query = select(LedgerEntry).where(LedgerEntry.account_id == account_id).order_by(LedgerEntry.seq)
    booked = 0
    for n, entry in enumerate(await session.scalars(query), start=1):
        expected = None
        if entry.status == BOOKED:
            booked += entry.amount
            expected = booked
        if (entry.seq, entry.balance_after) != (n, expected):
            got = (entry.seq, entry.balance_after)
            return [
                f"{account_id}: entry {entry.id} has (seq, balance_after) {got}, expected {(n, expected)}"
            ]
    return []


async def ledger_state(database_url: str, client_id: str, customer_accounts: list[str]) -> LedgerState:
    db = Database(database_url)
    try:
        async with db.read() as session:
            payments = {
                row.id: (row.consent_id, row.status, row.transaction_id)
                for row in await session.scalars(select(DomesticPayment))
            }
            consents = select(DomesticPaymentConsent.id, DomesticPaymentConsent.status).where(
                DomesticPaymentConsent.client_id == client_id
            )
            keys = select(IdempotencyKey.key, IdempotencyKey.resource_id).where(
                IdempotencyKey.client_id == client_id, IdempotencyKey.endpoint == PAYMENTS_ENDPOINT
            )
            postings = {
                row.id: (row.reference, row.kind, row.amount)
                for row in await session.scalars(select(LedgerPosting))
            }
            entries: dict[str, list[tuple[str, str, int]]] = defaultdict(list)
            for row in await session.scalars(select(LedgerEntry)):
                entries[row.posting_id].append((row.id, row.account_id, row.amount))
            state = LedgerState(
                payments,
                {consent_id: status for consent_id, status in await session.execute(consents)},
                {key: payment_id for key, payment_id in await session.execute(keys)},
                postings,
                dict(entries),
                sum(amount for of_posting in entries.values() for _, _, amount in of_posting),
                await booked_balances(session),
            )
            for account_id in customer_accounts:
                state.chain_breaks += await _chain_break(session, account_id)
    finally:
        await db.dispose()
    return state
