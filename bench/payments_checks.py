"""The payment benchmark's measurements outside the timed run (bench/payments_bench.py): the integrity
checks after the server stopped, and the risk engine's decisions per second alone, in-process."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from datetime import timedelta
from typing import Any

import payments_prepare as pp
import report
from kaimen.settings import Settings

ACCEPTED = ("AcceptedSettlementCompleted", "AcceptedCreditSettlementCompleted")
SEED = 20261126


async def integrity(settings: Settings, acknowledged: dict[str, str], in_flight: int) -> dict[str, Any]:
    """After the server stopped: every acknowledged payment is in domestic_payments once, under the
    consent it answered with; no consent paid twice, every paid consent Consumed and every Consumed
    consent paid; the ledger sums to zero and every posting balances; at most ``in_flight`` payments
    stored that wrk did not see answered (those in flight when it stopped). Raises SystemExit otherwise."""
    from sqlalchemy import func, select

    from kaimen.apis.payments.models import DomesticPayment, DomesticPaymentConsent
    from kaimen.ledger.models import LedgerEntry
    from kaimen.store.db import Database

    db = Database(settings.sqlalchemy_url)
    try:
        async with db.read() as session:
            rows = (
                await session.execute(
                    select(
                        DomesticPayment.id,
                        DomesticPayment.consent_id,
                        DomesticPayment.status,
                        DomesticPayment.risk_outcome,
                    )
                )
            ).all()
            per_consent = select(DomesticPayment.consent_id).group_by(DomesticPayment.consent_id)
            twice = (await session.execute(per_consent.having(func.count() > 1))).all()
            consumed = set(
                await session.scalars(
                    select(DomesticPaymentConsent.id).where(DomesticPaymentConsent.status == "Consumed")
                )
            )
            total = int(await session.scalar(select(func.coalesce(func.sum(LedgerEntry.amount), 0))) or 0)
            per_posting = select(LedgerEntry.posting_id).group_by(LedgerEntry.posting_id)
            unbalanced = len(
                (await session.execute(per_posting.having(func.sum(LedgerEntry.amount) != 0))).all()
            )
            entries = int(await session.scalar(select(func.count()).select_from(LedgerEntry)) or 0)
    finally:
        await db.dispose()
    stored = {payment_id: (consent_id, status) for payment_id, consent_id, status, _ in rows}
    engine_said = Counter(row[3] for row in rows)
    missing = [p for p in acknowledged if p not in stored]
    wrong = [p for p, c in acknowledged.items() if p in stored and stored[p][0] != c]
    paid = {consent_id for consent_id, _ in stored.values()}
    problems = {
        "acknowledged but not stored": missing[:5],
        "stored under another consent": wrong[:5],
        "consents paid twice": [row[0] for row in twice][:5],
        "paid but not Consumed": sorted(paid - consumed)[:5],
        "Consumed but not paid": sorted(consumed - paid)[:5],
        "ledger total": [total] if total else [],
        "unbalanced postings": [unbalanced] if unbalanced else [],
        f"more than {in_flight} stored unanswered": [len(stored) - len(acknowledged)]
        if len(stored) - len(acknowledged) > in_flight
        else [],
    }
    failed = {k: v for k, v in problems.items() if v}
    if failed:
        raise SystemExit(f"INTEGRITY FAILED: {failed}")
    outcomes = Counter(
        "Accepted" if status in ACCEPTED else status for p, (_, status) in stored.items() if p in acknowledged
    )
    return {
        "acknowledged": len(acknowledged),
        "stored_once": len(acknowledged) - len(missing),
        "payments_in_table": len(stored),
        "stored_in_flight_at_wrk_stop": len(stored) - len(acknowledged),
        "consents_consumed": len(consumed),
        "ledger_entries": entries,
        "ledger_total": total,
        "unbalanced_postings": unbalanced,
        "outcomes": dict(outcomes),
        "risk_outcomes_stored": dict(engine_said),
    }


async def risk_alone(
    settings: Settings, accounts: dict[str, str], seconds: float, concurrency: int = 16
) -> dict[str, Any]:
    """The engine's assess_payment in-process, ``concurrency`` at a time, for ``seconds``."""
    from kaimen.ledger.sandbox import sandbox_core_banking
    from kaimen.risk.context import PaymentContext
    from kaimen.risk.engine import build_risk_engine
    from kaimen.store.db import Database
    from kaimen.store.types import utcnow

    db = Database(settings.sqlalchemy_url)
    engine = build_risk_engine(settings, db, sandbox_core_banking(db))
    rng = random.Random(SEED)
    customers = list(accounts)
    client_id = f"bench-risk-{uuid.uuid4().hex[:8]}"
    outcomes: Counter[str] = Counter()
    latencies: list[float] = []

    def context(n: int) -> PaymentContext:
        customer = customers[n % len(customers)]
        scheme, identification, name = rng.choice(pp.PAYEES)
        code, merchant = rng.choice(pp.CONTEXTS)
        now = utcnow()
        return PaymentContext(
            subject_id=f"dp-bench-{uuid.uuid4().hex}", customer_id=customer, client_id=client_id,
            consent_id=f"pc-bench-{uuid.uuid4().hex}", amount_minor=rng.randint(500, 8000), currency="GBP",
            creditor_scheme=scheme, creditor_identification=identification, creditor_name=name,
            customer_ip=pp.customer_ip(customer), device="bench-device",
            payment_context_code=code, merchant_category_code=merchant, at=now,
            debtor_account_id=accounts[customer], consent_created_at=now - timedelta(minutes=2),
        )  # fmt: skip

    counter = iter(range(10**9))

    async def worker(until: float) -> None:
        while time.monotonic() < until:
            t0 = time.perf_counter()
            decision = await engine.assess_payment(context(next(counter)))
            latencies.append(time.perf_counter() - t0)
            outcomes[decision.outcome.value] += 1

    try:
        await asyncio.gather(
            *(worker(time.monotonic() + min(1.0, seconds)) for _ in range(concurrency))
        )  # warm
        outcomes.clear()
        latencies.clear()
        started = time.monotonic()
        await asyncio.gather(*(worker(started + seconds) for _ in range(concurrency)))
        elapsed = time.monotonic() - started
    finally:
        await engine.close()
        await db.dispose()
    latencies.sort()
    result = {
        "decisions": len(latencies),
        "seconds": round(elapsed, 2),
        "decisions_per_s": round(len(latencies) / elapsed, 1),
        "concurrency": concurrency,
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 2),
        "outcomes": dict(outcomes),
    }
    report.say(f"risk engine alone: {result}")
    return result
