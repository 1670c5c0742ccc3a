"""A worker killed with SIGKILL in the middle of payment traffic (issue 6 item 3). Afterwards every
acknowledged payment exists exactly once, no consent is consumed twice and the ledger balances
(DESIGN.md "Data that must never be lost or leaked": money moves only inside a database transaction
that debits and credits together; a consent is consumed once; a repeated idempotency key answers
with the resource it created).

``kaimen serve --workers 2`` in production mode on a PostgreSQL cluster and a Redis of the test's
own (tests/faults_support.py). Client threads submit payments on Authorised consents, each retried
under its own idempotency key until acknowledged (tests/payment_traffic_support.py); once a third is
acknowledged, the worker holding the most connections is killed. granian respawns it
(``respawn_failed_workers``); on a connection the respawned worker accepted, it answers /readyz, the
TPP's GET of every payment and a replay of every POST. The database is read once the
server has stopped."""

from __future__ import annotations

import asyncio
import os
import signal
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from joserfc.jwk import ECKey

from kaimen.ledger.internal import CLEARING_OUT
from kaimen.store.migrate import upgrade
from tests.demo_flow_support import dpop_proof
from tests.faults_support import PostgresServer, RedisServer
from tests.multiprocess_support import (
    PUBLIC,
    Instance,
    Tpp,
    seed,
    server_env,
    settings_of,
    start_instance,
    stop_instance,
)
from tests.payment_traffic_support import (
    PAYMENTS,
    Order,
    PaymentTraffic,
    Tally,
    authorised_orders,
    current_accounts,
)
from tests.support import create_postgres_database
from tests.worker_kill_support import (
    LedgerState,
    books_before,
    client_on,
    connected_to,
    connections_held,
    gone,
    ledger_state,
    local_port,
    wait_for,
    workers_of,
)

pytestmark = pytest.mark.server

ORDERS = 60
CLIENTS = 8
KILL_AFTER = ORDERS // 3  # acknowledged payments before the kill
CUSTOMERS = 6
SEED = 20261126
TRAFFIC_WITHIN = 40.0
RESPAWN_WITHIN = 30.0
# The risk engine scores every payment (its velocity counters live in this Redis) but allows them all:
# these checks are about the money, and a held payment moves none.
NEVER = "1000000"
RISK = {
    f"KAIMEN_RISK__{name}": NEVER
    for name in ("STEP_UP_SCORE", "HOLD_SCORE", "REJECT_SCORE", "TPP_REJECT_COUNT", "TPP_MAX_SUM_MINOR")
}
ACCEPTED_ELSEWHERE = "AcceptedSettlementCompleted"
ACCEPTED_ON_US = "AcceptedCreditSettlementCompleted"
UNACKNOWLEDGED = {"RemoteProtocolError", "ReadError", "WriteError", "ConnectError", "503"}


@dataclass(frozen=True)
class Kill:
    pid: int
    workers: frozenset[int]  # the server's workers before the kill
    acknowledged: int  # payments acknowledged when it was sent
    in_flight: int  # requests sent and not yet answered then
    connections: int  # established connections the killed worker held
    at: datetime


@dataclass(frozen=True)
class Recovery:
    """What the respawned worker answered, on one connection it accepted."""

    worker: int
    ready: httpx.Response  # /readyz
    read_back: dict[str, httpx.Response]  # DomesticPaymentId -> the TPP's GET
    replayed: dict[str, httpx.Response]  # ConsentId -> the POST sent again
    client_ports: set[int]  # of every answer above: one connection
    holder: int | None  # which worker held that connection after the last answer


@dataclass(frozen=True, repr=False)  # pytest would print all of it with every failure
class Outcome:
    orders: list[Order]
    tally: Tally
    kill: Kill
    respawned: frozenset[int]
    recovery: Recovery
    booked_before: dict[str, int]  # every account's booked balance before the traffic
    postings_before: int
    state: LedgerState
    server_log: str

    def payment_ids(self) -> dict[str, str]:
        """ConsentId -> the DomesticPaymentId the TPP was answered with."""
        return {c: body["Data"]["DomesticPaymentId"] for c, body in self.tally.acknowledged.items()}


def respawned_after(server: int, kill: Kill) -> frozenset[int] | None:
    """The worker granian started in place of the killed one, once it runs beside the survivor."""
    now = workers_of(server)
    return now - kill.workers if now is not None and kill.pid not in now else None


def kill_mid_traffic(instance: Instance, workers: frozenset[int], traffic: PaymentTraffic) -> Kill:
    """SIGKILL, once KILL_AFTER payments are acknowledged, of the worker holding the most connections."""
    wait_for(
        "payments in flight",
        lambda: traffic.acknowledged() >= KILL_AFTER and traffic.tally.in_flight > 0,
        TRAFFIC_WITHIN,
    )
    held = connections_held(set(workers), instance.port)
    victim = max(workers, key=held.__getitem__)
    with traffic.tally.lock:
        acknowledged, in_flight = len(traffic.tally.acknowledged), traffic.tally.in_flight
    at = datetime.now(UTC)
    os.kill(victim, signal.SIGKILL)
    return Kill(victim, workers, acknowledged, in_flight, held[victim], at)


def served_by(
    worker: int, survivor: int, instance: Instance, tpp: Tpp, key: ECKey, traffic: PaymentTraffic
) -> Recovery:
    """/readyz, the TPP's GET of every acknowledged payment and every POST sent again, all on one
    connection ``worker`` accepted."""
    http, ready = client_on(instance, worker, {worker, survivor}, RESPAWN_WITHIN)
    try:
        issued = tpp.token(instance, {"grant_type": "client_credentials", "scope": "payments"}, key)
        assert issued.status_code == 200, issued.text
        token = issued.json()["access_token"]
        read_back = {}
        for body in traffic.tally.acknowledged.values():
            path = f"{PAYMENTS}/{body['Data']['DomesticPaymentId']}"
            headers = {"Authorization": f"DPoP {token}", "DPoP": dpop_proof(key, "GET", PUBLIC + path, token)}
            read_back[body["Data"]["DomesticPaymentId"]] = http.get(instance.url(path), headers=headers)
        replayed = {order.consent_id: traffic.attempt(http, order) for order in traffic.orders}
        answers = [ready, *read_back.values(), *replayed.values()]
        ports = {local_port(response) for response in answers}
        holder = connected_to({worker, survivor}, instance.port, local_port(ready))
    finally:
        http.close()
    return Recovery(worker, ready, read_back, replayed, ports, holder)


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outcome]:
    if not Path("/proc/net/tcp").exists():
        pytest.skip("needs Linux /proc to find granian's workers and their connections")
    postgres, redis = PostgresServer(), RedisServer()
    try:
        postgres.start()
        redis.start()
        yield _run(postgres, redis, tmp_path_factory.mktemp("worker-kill"))
    finally:
        redis.close()
        postgres.close()


def _run(postgres: PostgresServer, redis: RedisServer, data: Path) -> Outcome:
    database_url = asyncio.run(create_postgres_database(postgres.base_url + "/postgres"))
    env = server_env(database_url, redis.url, {}) | RISK
    settings = settings_of(env, data)
    upgrade(settings.sqlalchemy_url)
    tpp, _ = asyncio.run(seed(env, data, customers=0))
    customers = [f"cus-kill-{n}" for n in range(CUSTOMERS)]
    accounts = asyncio.run(current_accounts(settings.sqlalchemy_url, customers, SEED))
    account_ids = [account.account_id for account in accounts]
    key = ECKey.generate_key("P-256", private=True)
    orders = asyncio.run(authorised_orders(settings, tpp.client_id, key.thumbprint(), accounts, ORDERS, SEED))
    booked_before, postings_before = asyncio.run(books_before(settings.sqlalchemy_url))

    instance = start_instance("worker-kill", env, data / "server", workers=2)
    try:
        server = instance.process.pid
        workers = wait_for("two workers", lambda: workers_of(server), RESPAWN_WITHIN)
        traffic = PaymentTraffic(instance, tpp, key, settings.jws_tan, orders, CLIENTS, TRAFFIC_WITHIN)
        traffic.start()
        kill = kill_mid_traffic(instance, workers, traffic)
        traffic.join()
        respawned = wait_for("a respawned worker", lambda: respawned_after(server, kill), RESPAWN_WITHIN)
        (survivor,) = workers - {kill.pid}
        (new,) = respawned
        recovery = served_by(new, survivor, instance, tpp, key, traffic)
        assert instance.process.poll() is None, instance.output()
    finally:
        stop_instance(instance)
    state = asyncio.run(ledger_state(settings.sqlalchemy_url, tpp.client_id, account_ids))
    return Outcome(
        orders,
        traffic.tally,
        kill,
        respawned,
        recovery,
        booked_before,
        postings_before,
        state,
        instance.output(),
    )


def test_a_worker_was_killed_with_payments_in_flight_and_every_payment_was_acknowledged_later(
    outcome: Outcome,
) -> None:
    kill, tally = outcome.kill, outcome.tally
    assert kill.pid in kill.workers and len(kill.workers) == 2
    assert gone(kill.pid)
    assert KILL_AFTER <= kill.acknowledged < ORDERS
    assert kill.in_flight >= 1 and kill.connections >= 1
    # The kill cost the TPP answers: attempts it had to send again. A connection to the dead worker
    # fails; the surviving worker never answers 500.
    assert sum(tally.unacknowledged.values()) >= 1 and tally.retried, tally
    assert set(tally.unacknowledged) <= UNACKNOWLEDGED, tally.unacknowledged
    assert tally.refused == []
    assert len(tally.acknowledged) == ORDERS


def test_granian_respawned_the_worker_and_the_new_one_serves(outcome: Outcome) -> None:
    (new,) = outcome.respawned
    assert new not in outcome.kill.workers
    recovery = outcome.recovery
    # Every answer the checks below read came on one connection, and the new worker held it.
    assert recovery.worker == new and recovery.holder == new
    assert len(recovery.client_ports) == 1
    assert recovery.ready.status_code == 200, recovery.ready.text
    assert recovery.ready.json() == {"status": "ready", "checks": {"database": "ok", "redis": "ok"}}
    assert "Traceback" not in outcome.server_log, outcome.server_log


def test_every_acknowledged_payment_exists_exactly_once(outcome: Outcome) -> None:
    state, paid = outcome.state, outcome.payment_ids()
    assert len(set(paid.values())) == ORDERS
    # Exactly the acknowledged payments are stored, each under the consent it answered with.
    assert {payment_id: row[0] for payment_id, row in state.payments.items()} == {
        payment_id: consent_id for consent_id, payment_id in paid.items()
    }
    for payment_id, response in outcome.recovery.read_back.items():
        assert response.status_code == 200, response.text
        data = response.json()["Data"]
        assert data["DomesticPaymentId"] == payment_id
        assert (data["ConsentId"], data["Status"]) == state.payments[payment_id][:2]
    # A retry after the acknowledgement answers 201 with the same payment, and makes none.
    for consent_id, response in outcome.recovery.replayed.items():
        assert response.status_code == 201, response.text
        first = outcome.tally.acknowledged[consent_id]["Data"]
        again = response.json()["Data"]
        assert (again["DomesticPaymentId"], again["CreationDateTime"]) == (
            first["DomesticPaymentId"],
            first["CreationDateTime"],
        )


def test_each_consent_was_consumed_once_by_one_payment_under_its_own_key(outcome: Outcome) -> None:
    state, paid = outcome.state, outcome.payment_ids()
    assert Counter(row[0] for row in state.payments.values()) == dict.fromkeys(paid, 1)
    assert {order.consent_id: state.consent_status[order.consent_id] for order in outcome.orders} == {
        order.consent_id: "Consumed" for order in outcome.orders
    }
    assert state.keys == {order.idempotency_key: paid[order.consent_id] for order in outcome.orders}


def test_each_payment_moved_its_money_once_in_one_balanced_posting(outcome: Outcome) -> None:
    state, paid = outcome.state, outcome.payment_ids()
    # One posting per payment (its reference is the DomesticPaymentId) and no other posting since.
    assert len(state.postings) == outcome.postings_before + ORDERS
    posting_of = {reference: posting_id for posting_id, (reference, _, _) in state.postings.items()}
    for order in outcome.orders:
        payment_id = paid[order.consent_id]
        _, status, transaction_id = state.payments[payment_id]
        posting_id = posting_of[payment_id]
        if order.payee is None:  # paid to another bank, through the outbound clearing account
            expected = (ACCEPTED_ELSEWHERE, "payment", CLEARING_OUT)
        else:
            expected = (ACCEPTED_ON_US, "transfer", order.payee.account_id)
        _, kind, amount = state.postings[posting_id]
        assert (status, kind, amount) == (expected[0], expected[1], order.amount_minor)
        entries = state.entries[posting_id]
        assert sorted((account, value) for _, account, value in entries) == sorted(
            [(order.debtor.account_id, -order.amount_minor), (expected[2], order.amount_minor)]
        )
        # The payment's TransactionId is the debtor's entry of that posting.
        assert transaction_id == next(entry for entry, _, value in entries if value < 0)


def test_the_ledger_balances_and_every_balance_moved_by_its_payments_only(outcome: Outcome) -> None:
    state = outcome.state
    assert state.total == 0
    unbalanced = [posting for posting, entries in state.entries.items() if sum(e[2] for e in entries)]
    assert unbalanced == []
    # Each customer account's entries are numbered without a gap or a repeat, each booked one
    # carrying the running balance.
    assert state.chain_breaks == []
    expected = dict(outcome.booked_before)
    for order in outcome.orders:
        creditor = CLEARING_OUT if order.payee is None else order.payee.account_id
        expected[order.debtor.account_id] -= order.amount_minor
        expected[creditor] = expected.get(creditor, 0) + order.amount_minor
    assert state.booked == expected
