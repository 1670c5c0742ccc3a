"""RiskEngine end to end on SQLite and PostgreSQL (issue 5, item 4): history read from the sandbox
ledger, the deny list, velocity, IPs seen before; every decision recorded with its reasons and
emitted as ``risk.decided``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from kaimen.events import RISK_DECIDED, EventBus
from kaimen.ledger.core import TransferRequest
from kaimen.ledger.money import Money
from kaimen.ledger.sandbox import SandboxLedger
from kaimen.risk.decision import Outcome, Stage
from kaimen.risk.engine import RiskDecided, RiskEngine, build_risk_engine
from kaimen.risk.facts import History
from kaimen.risk.history import CachedHistory, LedgerHistory
from kaimen.risk.store import RiskStore
from kaimen.settings import load_settings
from kaimen.store.db import Database
from tests.risk_support import KNOWN_PAYEE, NOON, PAYEE, SCHEME, USUAL, consent, payment
from tests.test_ledger_support import NOW, book, counterparty, ledger, open_account

__all__ = ["ledger"]  # fixtures

# 02:30 in London on the night after the ledger's postings (booked at NOW, 12:00 on 26 November).
NIGHT_AFTER = datetime(2026, 11, 27, 2, 30, tzinfo=UTC)


@pytest.fixture
async def alice(db: Database, ledger: SandboxLedger) -> str:
    """cus_alice's current account, with ten ordinary payments (20.00 to 60.00) to KNOWN_PAYEE."""
    account = await open_account(db, "cus_alice")
    await book(db, account.id, 1_000_000, NOW - timedelta(days=30))
    for n, amount in enumerate(USUAL.amounts):
        request = TransferRequest(
            f"usual-{n}", "cus_alice", account.id, counterparty(KNOWN_PAYEE), Money(amount, "GBP"), "usual"
        )
        await ledger.post_transfer(request)
    return account.id


@pytest.fixture
def make_engine(
    db: Database, ledger: SandboxLedger, database_url: str, tmp_path: Path
) -> Callable[..., RiskEngine]:
    def make(events: EventBus | None = None, **risk: Any) -> RiskEngine:
        settings = load_settings(data_dir=tmp_path, database_url=database_url, risk=risk)
        return build_risk_engine(settings, db, ledger, events, clock=lambda: NOON)

    return make


async def test_history_is_the_customers_debits_and_payees_from_the_ledger(
    ledger: SandboxLedger, alice: str
) -> None:
    history = await LedgerHistory(ledger, days=180, max_pages=5).history("cus_alice", "GBP", NOON)
    assert sorted(history.amounts) == sorted(USUAL.amounts)
    assert history.payees == frozenset({KNOWN_PAYEE})
    assert (
        await LedgerHistory(ledger, days=180, max_pages=5).history("cus_alice", "EUR", NOON)
    ).amounts == ()
    # Only the window's debits: a day's lookback on the morning after still sees them, before it none.
    before = await LedgerHistory(ledger, days=180, max_pages=5).history(
        "cus_alice", "GBP", NOW - timedelta(hours=1)
    )
    assert before.amounts == ()


async def test_paging_reads_at_most_max_pages(ledger: SandboxLedger, alice: str, monkeypatch: Any) -> None:
    from kaimen.risk import history as module

    monkeypatch.setattr(module, "MAX_PAGE_SIZE", 3)
    assert (
        len((await LedgerHistory(ledger, days=180, max_pages=2).history("cus_alice", "GBP", NOON)).amounts)
        == 6
    )
    assert (
        len((await LedgerHistory(ledger, days=180, max_pages=9).history("cus_alice", "GBP", NOON)).amounts)
        == 10
    )


async def test_an_ordinary_payment_is_allowed_and_recorded(
    db: Database, make_engine: Callable[..., RiskEngine], alice: str
) -> None:
    engine = make_engine()
    decision = await engine.assess_payment(payment(debtor_account_id=alice, amount_minor=4_000))
    await engine.close()
    assert (decision.outcome, decision.score, decision.reasons, decision.stage) == (
        Outcome.ALLOW,
        0,
        (),
        Stage.PAYMENT,
    )
    assert decision.outcome == "allow"
    recorded = await RiskStore(db).decisions("pay_1")
    assert [(r.id, r.stage, r.outcome, r.score, r.reasons, r.customer_id, r.client_id) for r in recorded] == [
        (decision.decision_id, "payment", "allow", 0, [], "cus_alice", "client_a")
    ]
    assert recorded[0].decided_at == NOON


async def test_account_takeover_new_payee_unusual_amount_at_night_steps_up(
    db: Database, make_engine: Callable[..., RiskEngine], alice: str
) -> None:
    events = EventBus()
    seen: list[tuple[str, Any]] = []
    events.subscribe(RISK_DECIDED, lambda name, payload: seen.append((name, payload)))
    engine = make_engine(events)
    context = payment(
        debtor_account_id=alice, creditor_identification=PAYEE, amount_minor=95_000, at=NIGHT_AFTER
    )
    decision = await engine.assess_payment(context)
    await engine.close()
    assert decision.outcome == "step_up"
    assert decision.score == 65
    assert decision.reasons == (
        "amount 950.00 GBP is more than 3 times the customer's usual payments "
        "(90th percentile 50.00 GBP over 10 payments)",
        "first payment by this customer to this payee",
        "made at 02:30 Europe/London time, between 00:00 and 06:00",
    )
    assert seen == [(RISK_DECIDED, RiskDecided(decision, context))]
    [recorded] = await RiskStore(db).decisions("pay_1")
    assert (recorded.outcome, recorded.score) == ("step_up", 65)
    assert recorded.reasons == [
        {"rule": "unusual_amount", "score": 30, "reason": decision.reasons[0]},
        {"rule": "new_payee", "score": 20, "reason": decision.reasons[1]},
        {"rule": "night_time", "score": 15, "reason": decision.reasons[2]},
    ]


async def test_a_payee_on_the_deny_list_is_rejected_until_removed(
    db: Database, make_engine: Callable[..., RiskEngine], alice: str
) -> None:
    store = RiskStore(db)
    assert await store.deny(SCHEME, "40-12-76 8765 4321", "mule account", NOON) is True
    assert await store.deny(SCHEME, PAYEE, "mule account (confirmed)", NOON) is False
    engine = make_engine()
    context = consent(creditor_identification=PAYEE, amount_minor=1_000)
    decision = await engine.assess_consent(context)
    assert decision.outcome == "reject"
    assert decision.reasons[0] == f"payee {SCHEME} {PAYEE} is on the deny list (mule account (confirmed))"
    # Another scheme's identification with the same digits is another payee.
    other = await engine.assess_consent(
        consent(creditor_scheme="UK.OBIE.IBAN", creditor_identification=PAYEE)
    )
    assert other.outcome != "reject"
    assert await store.allow(SCHEME, PAYEE) is True
    assert await store.allow(SCHEME, PAYEE) is False
    after = await engine.assess_consent(context)
    await engine.close()
    assert after.outcome == "allow"
    assert after.reasons == ("first payment by this customer to this payee",)


async def test_card_testing_burst_from_one_tpp_is_held_then_rejected(
    db: Database, make_engine: Callable[..., RiskEngine]
) -> None:
    """130 consents of 1.00 from one TPP for unknown customers within 13 s: the 61st is held, the
    120th and later rejected; a minute after the burst the TPP is allowed again."""
    engine = make_engine()
    outcomes = []
    for n in range(130):
        at = NOON + timedelta(milliseconds=100 * n)
        context = consent(subject_id=f"pcon_{n}", customer_id=None, amount_minor=100, at=at, customer_ip=None)
        outcomes.append((await engine.assess_consent(context)).outcome)
    assert outcomes == [Outcome.ALLOW] * 60 + [Outcome.HOLD] * 59 + [Outcome.REJECT] * 11
    rejected = await RiskStore(db).decisions("pcon_125")
    assert rejected[0].reasons == [
        {
            "rule": "tpp_velocity",
            "score": 70,
            "reason": "the TPP submitted 126 payments (limit 60) in 1 minute",
        }
    ]
    later = await engine.assess_consent(
        consent(subject_id="pcon_later", customer_id=None, amount_minor=100, at=NOON + timedelta(seconds=73))
    )
    # Another TPP was never affected.
    other = await engine.assess_consent(consent(subject_id="pcon_b", customer_id=None, client_id="client_b"))
    await engine.close()
    assert (later.outcome, other.outcome) == (Outcome.ALLOW, Outcome.ALLOW)


async def test_customer_velocity_counts_payments_in_the_last_hour(
    make_engine: Callable[..., RiskEngine], alice: str
) -> None:
    engine = make_engine()
    outcomes = []
    for n in range(7):
        at = NOON + timedelta(minutes=10 * n)  # the 7th is an hour after the 1st: the 1st has left
        decision = await engine.assess_payment(payment(subject_id=f"pay_{n}", debtor_account_id=alice, at=at))
        outcomes.append((decision.outcome, decision.reasons))
    await engine.close()
    limit_reason = "customer made 6 payments (limit 5) in 1 hour"
    assert outcomes == [(Outcome.ALLOW, ())] * 5 + [(Outcome.STEP_UP, (limit_reason,))] * 2


async def test_consent_and_payment_stages_are_counted_apart(
    make_engine: Callable[..., RiskEngine], alice: str
) -> None:
    engine = make_engine(customer_max_count=1)
    first = await engine.assess_consent(consent())
    paid = await engine.assess_payment(payment(debtor_account_id=alice))
    again = await engine.assess_payment(payment(subject_id="pay_2", debtor_account_id=alice))
    await engine.close()
    assert (first.outcome, paid.outcome, again.outcome) == (Outcome.ALLOW, Outcome.ALLOW, Outcome.STEP_UP)


async def test_an_ip_or_device_the_customer_never_used_is_a_signal(
    make_engine: Callable[..., RiskEngine], alice: str
) -> None:
    engine = make_engine()
    first = await engine.assess_consent(consent(customer_ip="198.51.100.7", device="Pixel 8 / app 4.2"))
    same = await engine.assess_consent(consent(customer_ip="198.51.100.7", device="Pixel 8 / app 4.2"))
    moved = await engine.assess_consent(consent(customer_ip="203.0.113.99", device="Desktop Firefox"))
    absent = await engine.assess_consent(consent(customer_ip=None))
    await engine.close()
    assert first.reasons == same.reasons == absent.reasons == ()
    assert moved.reasons == (
        "customer IP address not seen on their earlier payments",
        "customer device not seen on their earlier payments",
    )
    assert moved.score == 25


async def test_consent_age_and_merchant_category_at_payment(
    make_engine: Callable[..., RiskEngine], alice: str
) -> None:
    engine = make_engine()
    rushed = await engine.assess_payment(
        payment(debtor_account_id=alice, consent_created_at=NOON - timedelta(seconds=1))
    )
    gambling = await engine.assess_payment(
        payment(
            subject_id="pay_2",
            debtor_account_id=alice,
            merchant_category_code="7995",
            consent_created_at=NOON - timedelta(minutes=2),
        )
    )
    await engine.close()
    assert rushed.reasons == ("payment submitted 1.0 s after its consent was created (under 3 s)",)
    assert gambling.reasons == ("merchant category 7995 is high-risk",)


async def test_thresholds_come_from_settings(make_engine: Callable[..., RiskEngine], alice: str) -> None:
    engine = make_engine(new_payee_score=45)
    decision = await engine.assess_consent(consent(creditor_identification=PAYEE))
    await engine.close()
    assert (decision.outcome, decision.score) == (Outcome.STEP_UP, 45)


async def test_history_is_reused_for_a_while_then_read_again() -> None:
    calls: list[tuple[str, str]] = []

    class Source:
        async def history(self, customer_id: str, currency: str, at: datetime) -> History:
            calls.append((customer_id, currency))
            return History((len(calls),), frozenset())

    now = [0.0]
    cached = CachedHistory(Source(), seconds=60, max_entries=2, clock=lambda: now[0])
    assert (await cached.history("cus_a", "GBP", NOON)).amounts == (1,)
    now[0] = 59.9
    assert (await cached.history("cus_a", "GBP", NOON)).amounts == (1,)
    assert (await cached.history("cus_a", "EUR", NOON)).amounts == (2,)
    now[0] = 60.0
    assert (await cached.history("cus_a", "GBP", NOON)).amounts == (3,)
    await cached.history("cus_b", "GBP", NOON)  # a third entry: the least recently used (EUR) goes
    assert (await cached.history("cus_a", "EUR", NOON)).amounts == (5,)
    assert calls == [("cus_a", "GBP"), ("cus_a", "EUR"), ("cus_a", "GBP"), ("cus_b", "GBP"), ("cus_a", "EUR")]


async def test_the_payment_apis_own_context_is_accepted_as_it_is(
    make_engine: Callable[..., RiskEngine], alice: str
) -> None:
    """kaimen.apis.payments.risk_check.PaymentRiskContext carries PaymentContext's fields (and more):
    the engine is the Payment API's PaymentRisk without an adapter."""
    from kaimen.apis.payments.risk_check import PaymentRiskContext

    engine = make_engine()
    context = PaymentRiskContext(
        subject_id="pay_api",
        customer_id="cus_alice",
        client_id="client_a",
        consent_id="pcon_api",
        consent_created_at=NOON - timedelta(minutes=1),
        debtor_account_id=alice,
        amount_minor=95_000,
        currency="GBP",
        creditor_scheme=SCHEME,
        creditor_identification=PAYEE,
        creditor_name="New Payee",
        customer_ip="198.51.100.7",
        device=None,
        payment_context_code="PartyToParty",
        merchant_category_code=None,
        risk={"PaymentContextCode": "PartyToParty"},
        interaction_id="0d3f5a36-6d2a-4d0e-9c7e-2f3b1a1d9e01",
        at=NIGHT_AFTER,
    )
    decision = await engine.assess_payment(context)
    await engine.close()
    assert (decision.outcome, decision.subject_id, decision.score) == ("step_up", "pay_api", 65)
