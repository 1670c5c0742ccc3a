"""Labelled synthetic payment traffic to measure the rules on (issue 5, item 4): ordinary customers,
plus injected account takeovers, payments to mule payees and card-testing bursts. Deterministic: the
same seed and parameters always give the same scenario.

- normal: each customer has a home IP and device, 3 to 6 habitual payees, a usual amount (log-normal
  around 40.00) and a daily rate; pays mostly between 08:00 and 22:00 (one in ten customers often at
  night), sometimes a new payee (8%), from another network (10%) or a new device (2%), and now and then
  (1%) a one-off large payment (5 to 15 times the usual) to a new payee: the honest traffic the rules
  must not stop
- account_takeover: an attacker holding a victim's credentials pays a new payee 5 to 20 times the
  victim's usual amount, one to three times within minutes, from a new IP and device, at any hour (half
  of them at night)
- mule: a customer talked into paying a mule payee (authorised push-payment fraud): their own IP and
  device, daytime, 2 to 10 times their usual amount; the operator knows half the mule payees (deny list)
- card_testing: one TPP submits a burst of tiny payments (0.01 to 2.00) for many customers within a
  minute, each a second after its consent

A warm-up period of ordinary payments comes first: it is the customers' history, not scored.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from kaimen.ledger.core import SORT_CODE_ACCOUNT_NUMBER
from kaimen.risk.context import PaymentContext

NORMAL = "normal"
ACCOUNT_TAKEOVER = "account_takeover"
MULE = "mule"
CARD_TESTING = "card_testing"
LABELS = (NORMAL, ACCOUNT_TAKEOVER, MULE, CARD_TESTING)


@dataclass(frozen=True, slots=True)
class ScenarioParams:
    customers: int = 200
    tpps: int = 4
    warmup_days: int = 60
    days: int = 14
    takeovers: int = 10
    mule_payees: int = 4
    mule_payments: int = 20
    card_testing_bursts: int = 2
    burst_size: int = 150
    start: datetime = field(default_factory=lambda: datetime(2026, 9, 1, tzinfo=UTC))


@dataclass(frozen=True, slots=True)
class LabelledPayment:
    context: PaymentContext
    label: str


@dataclass(frozen=True, slots=True)
class Scenario:
    seed: int
    params: ScenarioParams
    warmup: tuple[PaymentContext, ...]  # the customers' history: executed, not scored
    payments: tuple[LabelledPayment, ...]  # in time order
    denied_payees: frozenset[str]  # the mule payees the operator knows


@dataclass(slots=True)
class _Customer:
    customer_id: str
    client_id: str
    ip: str
    device: str
    payees: list[str]
    usual_minor: int
    per_day: float
    night_owl: bool


def _account(rng: random.Random) -> str:
    return f"{rng.randrange(10**5, 10**6)}{rng.randrange(10**7, 10**8)}"


def _ip(rng: random.Random) -> str:
    return f"203.0.{rng.randrange(256)}.{rng.randrange(1, 255)}"


def _day_time(rng: random.Random, day: datetime) -> datetime:
    """Mostly 08:00-22:00; 5% of payments early or late, 2% at night."""
    roll = rng.random()
    if roll < 0.02:
        hour = rng.randrange(0, 6)
    elif roll < 0.07:
        hour = rng.choice((6, 7, 22, 23))
    else:
        hour = rng.randrange(8, 22)
    return day + timedelta(hours=hour, seconds=rng.randrange(3600))


def _payment(
    rng: random.Random, customer: _Customer, n: int, at: datetime, payee: str, amount: int, **fields: object
) -> PaymentContext:
    values: dict[str, object] = {
        "subject_id": f"pay_{n}",
        "customer_id": customer.customer_id,
        "client_id": customer.client_id,
        "consent_id": f"pcon_{n}",
        "amount_minor": max(1, amount),
        "currency": "GBP",
        "creditor_scheme": SORT_CODE_ACCOUNT_NUMBER,
        "creditor_identification": payee,
        "customer_ip": customer.ip,
        "device": customer.device,
        "at": at,
        "debtor_account_id": f"acc_{customer.customer_id}",
        "consent_created_at": at - timedelta(seconds=rng.randrange(20, 300)),
    }
    values.update(fields)
    return PaymentContext(**values)  # type: ignore[arg-type]


def generate(seed: int, params: ScenarioParams | None = None) -> Scenario:
    params = params or ScenarioParams()
    rng = random.Random(seed)
    clients = [f"client_{n}" for n in range(params.tpps)]
    customers = [
        _Customer(
            customer_id=f"cus_{n}",
            client_id=rng.choice(clients),
            ip=_ip(rng),
            device=f"device-{rng.getrandbits(32):08x}",
            payees=[_account(rng) for _ in range(rng.randrange(3, 7))],
            usual_minor=int(math.exp(rng.gauss(math.log(4_000), 0.6))),
            per_day=rng.uniform(0.3, 2.0),
            night_owl=rng.random() < 0.1,
        )
        for n in range(params.customers)
    ]
    counter = iter(range(10**9))
    warmup: list[PaymentContext] = []
    scored: list[LabelledPayment] = []
    scored_from = params.start + timedelta(days=params.warmup_days)
    for day_number in range(params.warmup_days + params.days):
        day = params.start + timedelta(days=day_number)
        for customer in customers:
            for _ in range(_poisson(rng, customer.per_day)):
                one_off = rng.random() < 0.01
                new = one_off or rng.random() < 0.08
                payee = _account(rng) if new else rng.choice(customer.payees)
                if new:
                    customer.payees.append(payee)
                factor = rng.uniform(5, 15) if one_off else rng.lognormvariate(0, 0.5)
                ip = customer.ip if rng.random() < 0.9 else _ip(rng)
                if rng.random() < 0.02:
                    customer.device = f"device-{rng.getrandbits(32):08x}"
                at = _day_time(rng, day)
                if customer.night_owl and rng.random() < 0.3:
                    at = day + timedelta(hours=rng.randrange(0, 6), seconds=rng.randrange(3600))
                amount = int(customer.usual_minor * factor)
                context = _payment(rng, customer, next(counter), at, payee, amount, customer_ip=ip)
                if day < scored_from:
                    warmup.append(context)
                else:
                    scored.append(LabelledPayment(context, NORMAL))

    def when() -> datetime:
        return scored_from + timedelta(seconds=rng.randrange(params.days * 86_400))

    for victim in rng.sample(customers, params.takeovers):
        at = when()
        if rng.random() < 0.5:
            at = at.replace(hour=rng.randrange(0, 6))
        payee, ip, device = _account(rng), _ip(rng), f"device-{rng.getrandbits(32):08x}"
        for _ in range(rng.randrange(1, 4)):
            amount = int(victim.usual_minor * rng.uniform(5, 20))
            context = _payment(rng, victim, next(counter), at, payee, amount, customer_ip=ip, device=device)
            scored.append(LabelledPayment(context, ACCOUNT_TAKEOVER))
            at += timedelta(seconds=rng.randrange(30, 600))

    mules = [_account(rng) for _ in range(params.mule_payees)]
    for _ in range(params.mule_payments):
        victim = rng.choice(customers)
        at = _day_time(rng, when().replace(hour=0, minute=0, second=0))
        amount = int(victim.usual_minor * rng.uniform(2, 10))
        scored.append(
            LabelledPayment(_payment(rng, victim, next(counter), at, rng.choice(mules), amount), MULE)
        )

    for _ in range(params.card_testing_bursts):
        client_id, at = rng.choice(clients), when()
        for _ in range(params.burst_size):
            victim = rng.choice(customers)
            context = _payment(
                rng,
                victim,
                next(counter),
                at,
                _account(rng),
                rng.randrange(1, 201),
                client_id=client_id,
                customer_ip=_ip(rng),
                device=None,
                consent_created_at=at - timedelta(seconds=1),
            )
            scored.append(LabelledPayment(context, CARD_TESTING))
            at += timedelta(milliseconds=rng.randrange(100, 400))

    scored.sort(key=lambda payment: (payment.context.at or params.start, payment.context.subject_id))
    warmup.sort(key=lambda context: context.at or params.start)
    known = frozenset(mules[: len(mules) // 2])
    return Scenario(seed, params, tuple(warmup), tuple(scored), known)


def _poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method; ``mean`` is small (a few payments a day)."""
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count
