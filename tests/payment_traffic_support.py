"""Payment traffic against a real ``kaimen serve`` (tests/multiprocess_support.py), as TPPs send it:
many Authorised consents prepared in-process, then ``POST /domestic-payments`` from several client
threads, each payment retried until acknowledged.

- Orders: each customer pays from their current account (``kaimen.ledger.history.seed_history``),
  either to a payee at another bank or to another customer's current account here (an "on-us"
  transfer, which locks both accounts). Consents are made with ``DomesticPaymentConsents.create`` and
  ``authorise`` with the digest of what the customer approved, as tests/domestic_payments_support.py
  ``authorised`` does; each with the customer's DPoP-bound token from ``TokenService.issue``.
- Retries (UK OB v3.1.11 Read/Write Data API Profile, "Idempotency": a repeated request with the same
  ``x-idempotency-key`` and body is answered with the resource it created): a connection error, a
  reset or a 5xx is "not acknowledged", and the TPP sends the same body under the same key again, with
  a fresh DPoP proof (RFC 9449 §11.1: a proof is used once) and a fresh ``x-jws-signature``, until it
  gets an answer below 500.
"""

from __future__ import annotations

import json
import queue
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
from joserfc.jwk import ECKey

from kaimen.apis.payments.consent_request import canonical, read_domestic_consent_request
from kaimen.apis.payments.consents import DomesticPaymentConsents
from kaimen.apis.payments.intents import approved_digest
from kaimen.authz.tokens import TokenService
from kaimen.events import EventBus
from kaimen.ledger.history import seed_history
from kaimen.ledger.sandbox import sandbox_core_banking
from kaimen.settings import Settings
from kaimen.store.db import Database
from kaimen.store.types import utcnow
from kaimen.store.watch import build_watcher
from tests.demo_flow_support import dpop_proof
from tests.multiprocess_support import PUBLIC, Instance, Tpp
from tests.payments_support import PISP, sign_with_joserfc
from tests.test_ledger_support import book

PAYMENTS = f"{PISP}/domestic-payments"
# Payees at other banks (credited to the outbound clearing account).
ELSEWHERE = [("08080021325698", "ACME Inc"), ("40051512345674", "Northern Energy")]
RETRY_AFTER = 0.05
AMOUNTS = (100, 999)  # 1.00 to 9.99
TOP_UP = 100_000  # 1000.00: more than a hundred orders of a customer


@dataclass(frozen=True)
class Account:
    customer_id: str
    account_id: str
    identification: str


@dataclass(frozen=True)
class Order:
    """One payment to make: the consent it consumes, the customer's token for it, the exact body and
    the idempotency key every attempt carries."""

    consent_id: str
    debtor: Account
    payee: Account | None  # a customer of this bank, or None for a payee elsewhere
    amount_minor: int
    token: str
    body: bytes
    idempotency_key: str


async def current_accounts(database_url: str, customers: list[str], seed: int) -> list[Account]:
    """Seed ``customers`` (a day of ledger history each) and return their current accounts, each
    credited TOP_UP a minute ago: whatever that day's history left, every order fits."""
    db = Database(database_url)
    try:
        await seed_history(db, customers, seed=seed, days=1)
        core = sandbox_core_banking(db)
        found = []
        for customer in customers:
            current = [a for a in await core.accounts(customer) if a.account_subtype == "CurrentAccount"]
            found.append(Account(customer, current[0].account_id, current[0].identification))
            await book(db, current[0].account_id, TOP_UP, utcnow() - timedelta(minutes=1))
        return found
    finally:
        await db.dispose()


def _document(rng: random.Random, payee: Account | None, amount_minor: int) -> dict[str, Any]:
    """An OBWriteDomesticConsent4 paying ``amount_minor`` pence to ``payee`` (or a payee elsewhere)."""
    identification, name = rng.choice(ELSEWHERE) if payee is None else (payee.identification, "A Friend")
    return {
        "Data": {
            "Initiation": {
                "InstructionIdentification": uuid.uuid4().hex[:20],
                "EndToEndIdentification": uuid.uuid4().hex[:20],
                "InstructedAmount": {"Amount": f"{amount_minor / 100:.2f}", "Currency": "GBP"},
                "CreditorAccount": {
                    "SchemeName": "UK.OBIE.SortCodeAccountNumber",
                    "Identification": identification,
                    "Name": name,
                },
                "RemittanceInformation": {"Reference": f"KILL-{rng.randint(1, 99999)}"},
            }
        },
        "Risk": {"PaymentContextCode": "PartyToParty"},
    }


async def authorised_orders(
    settings: Settings, client_id: str, jkt: str, accounts: list[Account], count: int, seed: int
) -> list[Order]:
    """``count`` Authorised consents, debtors round-robin over ``accounts``, every third one paying
    the next customer's account at this bank; amounts 1.00 to 9.99."""
    rng = random.Random(seed)
    db = Database(settings.sqlalchemy_url)
    consents = DomesticPaymentConsents(db, EventBus())
    tokens = TokenService(db, build_watcher(settings, db), settings)
    orders = []
    try:
        for n in range(count):
            debtor = accounts[n % len(accounts)]
            payee = accounts[(n + 1) % len(accounts)] if n % 3 == 0 else None
            amount = rng.randint(*AMOUNTS)
            document = _document(rng, payee, amount)
            request = read_domestic_consent_request(json.dumps(document).encode())
            consent, _ = await consents.create(client_id, uuid.uuid4().hex, request)
            initiation = document["Data"]["Initiation"]
            digest = approved_digest(canonical(initiation), debtor.account_id)
            assert await consents.authorise(consent.consent_id, debtor.customer_id, debtor.account_id, digest)
            issued = await tokens.issue(
                client_id=client_id,
                customer_id=debtor.customer_id,
                scope="openid payments",
                jkt=jkt,
                grant_id=uuid.uuid4().hex,
                consent_id=consent.consent_id,
                details={},
                refresh=False,
            )
            body = {
                "Data": {"ConsentId": consent.consent_id, "Initiation": initiation},
                "Risk": document["Risk"],
            }
            orders.append(
                Order(
                    consent.consent_id,
                    debtor,
                    payee,
                    amount,
                    issued.access_token,
                    json.dumps(body).encode(),
                    uuid.uuid4().hex,
                )
            )
        return orders
    finally:
        await db.dispose()


@dataclass
class Tally:
    """What the TPP saw. ``acknowledged``: ConsentId -> the 201 body that acknowledged its payment;
    ``unacknowledged``: attempts that got no answer below 500, by why (the exception's name or the
    status); ``retried``: ConsentId -> how many of its attempts those were; ``refused``: answers below
    500 other than 201 (never expected)."""

    acknowledged: dict[str, dict[str, Any]] = field(default_factory=dict)
    unacknowledged: Counter[str] = field(default_factory=Counter)
    retried: Counter[str] = field(default_factory=Counter)
    refused: list[str] = field(default_factory=list)
    in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @contextmanager
    def sending(self) -> Iterator[None]:
        with self.lock:
            self.in_flight += 1
        try:
            yield
        finally:
            with self.lock:
                self.in_flight -= 1

    def answered(self, consent_id: str, response: httpx.Response) -> None:
        with self.lock:
            if response.status_code == 201:
                self.acknowledged[consent_id] = response.json()
            else:
                self.refused.append(f"{response.status_code} {response.text[:300]}")

    def failed(self, consent_id: str, why: str) -> None:
        with self.lock:
            self.unacknowledged[why] += 1
            self.retried[consent_id] += 1


class PaymentTraffic:
    """``clients`` threads, each with its own kept-alive connection, submitting ``orders`` until every
    one is acknowledged or ``within`` seconds have passed."""

    def __init__(
        self, at: Instance, tpp: Tpp, key: ECKey, tan: str, orders: list[Order], clients: int, within: float
    ) -> None:
        self.at, self.tpp, self.key, self.tan = at, tpp, key, tan
        self.orders = orders
        self.tally = Tally()
        self.deadline = time.monotonic() + within
        self.queue: queue.SimpleQueue[Order] = queue.SimpleQueue()
        for order in orders:
            self.queue.put(order)
        self.threads = [threading.Thread(target=self._client, daemon=True) for _ in range(clients)]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def join(self) -> None:
        for thread in self.threads:
            thread.join(max(0.0, self.deadline - time.monotonic()) + 5)

    def acknowledged(self) -> int:
        with self.tally.lock:
            return len(self.tally.acknowledged)

    def attempt(self, http: httpx.Client, order: Order) -> httpx.Response:
        headers = {
            "Authorization": f"DPoP {order.token}",
            "DPoP": dpop_proof(self.key, "POST", PUBLIC + PAYMENTS, order.token),
            "x-jws-signature": sign_with_joserfc(
                order.body, self.tpp.key, iss=self.tpp.client_id, tan=self.tan
            ),
            "x-idempotency-key": order.idempotency_key,
            "x-fapi-interaction-id": str(uuid.uuid4()),
            "Content-Type": "application/json",
        }
        return http.post(self.at.url(PAYMENTS), content=order.body, headers=headers)

    def _client(self) -> None:
        with httpx.Client(timeout=20) as http:
            while time.monotonic() < self.deadline:
                try:
                    order = self.queue.get_nowait()
                except queue.Empty:
                    return
                self._until_acknowledged(http, order)

    def _until_acknowledged(self, http: httpx.Client, order: Order) -> None:
        while time.monotonic() < self.deadline:
            answer = self._send(http, order)
            if isinstance(answer, httpx.Response):
                self.tally.answered(order.consent_id, answer)
                return
            self.tally.failed(order.consent_id, answer)
            time.sleep(RETRY_AFTER)

    def _send(self, http: httpx.Client, order: Order) -> httpx.Response | str:
        """The answer, when below 500; else one word for why there was none."""
        with self.tally.sending():
            try:
                response = self.attempt(http, order)
            except httpx.TransportError as error:
                return type(error).__name__
        return response if response.status_code < 500 else str(response.status_code)
