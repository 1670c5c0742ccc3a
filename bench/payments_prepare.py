"""The payment benchmark's untimed preparation (bench/payments_bench.py): customers with ledger history,
Authorised payment consents made through the services, one customer token per consent, and the raw
``POST /domestic-payments`` requests wrk replays, each signed before the timed run.

- Customers: ``kaimen.ledger.history.seed_history`` (their current accounts, balances and 30 days of
  debits, which the risk engine reads as their history).
- Consents: ``DomesticPaymentConsents.create`` then ``authorise`` with the digest of what the customer
  approved (``approved_digest``), as tests/domestic_payments_support.py ``authorised`` does after the
  TPP's POST; consents made this way are not scored at creation (that is the TPP's POST, not timed).
- Tokens: ``TokenService.issue`` for the customer and the consent, bound to the TPP's DPoP key, as
  tests/payments_support.py ``customer_token`` does.
- Requests: the OBWriteDomestic2 carrying the consent's Initiation and Risk, its ``x-jws-signature``
  (detached PS256 JWS with the UK OB claims in ``crit``, made by joserfc's serializer as
  tests/payments_support.py ``sign_with_joserfc``), an ``x-idempotency-key``, a DPoP proof for POST of
  the payments URL with ``ath``, and the Authorization header. Signing is spread over a process pool.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from joserfc import jws
from joserfc.jwk import RSAKey
from joserfc.registry import HeaderParameter

import token_requests as tr
from kaimen.settings import Settings

PISP = "/open-banking/v3.1/pisp"
PAYMENTS = f"{PISP}/domestic-payments"
INTERACTION_ID = "93bac548-d2de-4546-b106-880a5018460d"
# UK OB v3.1.11 Read/Write Data API Profile, "Message Signing": the three claims, all listed in crit.
IAT = "http://openbanking.org.uk/iat"
ISS = "http://openbanking.org.uk/iss"
TAN = "http://openbanking.org.uk/tan"
CRIT = [IAT, ISS, TAN]
# Payees: one every seeded history pays (a known payee for most customers) and two new ones, so the
# risk engine's new-payee rule fires on some payments and not on others.
PAYEES = [
    ("UK.OBIE.SortCodeAccountNumber", "08080021325698", "ACME Inc"),
    ("UK.OBIE.SortCodeAccountNumber", "40051512345674", "Northern Energy"),
    ("UK.OBIE.SortCodeAccountNumber", "20000055512345", "City Council Tax"),
]
CONTEXTS = [("EcommerceGoods", "5967"), ("BillPayment", "4900"), ("PartyToParty", None)]


def consent_document(rng: random.Random) -> dict[str, Any]:
    """An OBWriteDomesticConsent4: an ordinary amount (5.00 to 80.00) to one of the PAYEES."""
    scheme, identification, name = rng.choice(PAYEES)
    context, merchant = rng.choice(CONTEXTS)
    risk: dict[str, Any] = {"PaymentContextCode": context}
    if merchant is not None:
        risk["MerchantCategoryCode"] = merchant
    return {
        "Data": {
            "Initiation": {
                "InstructionIdentification": uuid.uuid4().hex[:20],
                "EndToEndIdentification": uuid.uuid4().hex[:20],
                "InstructedAmount": {"Amount": f"{rng.randint(500, 8000) / 100:.2f}", "Currency": "GBP"},
                "CreditorAccount": {"SchemeName": scheme, "Identification": identification, "Name": name},
                "RemittanceInformation": {"Reference": f"BENCH-{rng.randint(1, 99999)}"},
            }
        },
        "Risk": risk,
    }


@dataclass(frozen=True)
class Payment:
    """One prepared payment: the consent it consumes, the customer's token, the exact body."""

    consent_id: str
    customer_id: str
    token: str
    body: bytes


async def customer_accounts(database_url: str, customers: Sequence[str], seed: int) -> dict[str, str]:
    """Seed ``customers`` (30 days of history each); returns each one's current account id."""
    from kaimen.ledger.history import seed_history
    from kaimen.ledger.sandbox import sandbox_core_banking
    from kaimen.store.db import Database

    db = Database(database_url)
    try:
        for start in range(0, len(customers), 50):
            await seed_history(db, list(customers[start : start + 50]), seed=seed, days=30)
        core = sandbox_core_banking(db)
        out: dict[str, str] = {}
        for customer in customers:
            accounts = await core.accounts(customer)
            current = [a for a in accounts if a.account_subtype == "CurrentAccount"] or list(accounts)
            out[customer] = current[0].account_id
        return out
    finally:
        await db.dispose()


async def authorised_payments(
    settings: Settings, client_id: str, jkt: str, accounts: dict[str, str], count: int, seed: int
) -> list[Payment]:
    """``count`` Authorised consents, spread over the customers round-robin, each with its token."""
    from kaimen.apis.payments.consent_request import canonical, read_domestic_consent_request
    from kaimen.apis.payments.consents import DomesticPaymentConsents
    from kaimen.apis.payments.intents import approved_digest
    from kaimen.authz.tokens import TokenService
    from kaimen.events import EventBus
    from kaimen.store.db import Database
    from kaimen.store.types import utcnow
    from kaimen.store.watch import build_watcher

    rng = random.Random(seed)
    customers = list(accounts)
    db = Database(settings.sqlalchemy_url)
    consents = DomesticPaymentConsents(db, EventBus())
    tokens = TokenService(db, build_watcher(settings, db), settings)

    async def one(n: int) -> Payment:
        customer = customers[n % len(customers)]
        document = consent_document(rng)
        request = read_domestic_consent_request(json.dumps(document).encode(), utcnow())
        consent, _ = await consents.create(client_id, uuid.uuid4().hex, request)
        initiation = document["Data"]["Initiation"]
        digest = approved_digest(canonical(initiation), accounts[customer])
        if not await consents.authorise(consent.consent_id, customer, accounts[customer], digest):
            raise RuntimeError(f"consent {consent.consent_id} could not be authorised")
        issued = await tokens.issue(
            client_id=client_id,
            customer_id=customer,
            scope="openid payments",
            jkt=jkt,
            grant_id=uuid.uuid4().hex,
            consent_id=consent.consent_id,
            details={},
            refresh=False,
        )
        body = {"Data": {"ConsentId": consent.consent_id, "Initiation": initiation}, "Risk": document["Risk"]}
        return Payment(consent.consent_id, customer, issued.access_token, json.dumps(body).encode())

    made: list[Payment] = []
    try:
        for start in range(0, count, 32):
            made += await asyncio.gather(*(one(n) for n in range(start, min(count, start + 32))))
        return made
    finally:
        await db.dispose()


def customer_ip(customer_id: str) -> str:
    """The customer's own address, the same on each of their payments (the engine's new-IP rule
    then fires on none but a first payment)."""
    n = int(customer_id.rsplit("-", 1)[-1])
    return f"198.51.{100 + n // 250}.{n % 250 + 1}"


def raw_post(path: str, host: str, headers: dict[str, str], body: bytes) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}", "Content-Type: application/json"]
    lines += [f"Content-Length: {len(body)}", *(f"{name}: {value}" for name, value in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


# --- made in the process pool -------------------------------------------------------------------

_OB_REGISTRY = jws.JWSRegistry(
    header_registry={
        IAT: HeaderParameter("iat", lambda v: None),
        ISS: HeaderParameter("iss", "str"),
        TAN: HeaderParameter("tan", "str"),
    },
    algorithms=["PS256"],
    strict_check_header=False,
)
_OB_REGISTRY.max_header_length = 4096
_signer: tr.Signer | None = None
_iss_tan: tuple[str, str] = ("", "")


def _init_worker(keys: tr.Keys, iss: str, tan: str) -> None:
    global _signer, _iss_tan
    _signer, _iss_tan = tr.Signer(keys), (iss, tan)


def message_signature(body: bytes, key: RSAKey, iss: str, tan: str) -> str:
    """The detached x-jws-signature of ``body`` (RFC 7515 Appendix F, no b64 header)."""
    header = {"alg": "PS256", "kid": key.kid, "typ": "JOSE", "cty": "application/json",
              IAT: int(time.time()), ISS: iss, TAN: tan, "crit": CRIT}  # fmt: skip
    return jws.detach_content(jws.serialize_compact(header, body, key, registry=_OB_REGISTRY))


def _sign(batch: list[tuple[bytes, str]]) -> list[tuple[str, str]]:
    """(x-jws-signature, DPoP proof) for each (body, access token)."""
    assert _signer is not None
    iss, tan = _iss_tan
    return [
        (message_signature(body, _signer.client_key, iss, tan), _signer.proof("POST", PAYMENTS, token))
        for body, token in batch
    ]


class PaymentSigner:
    """Signs the payments' headers on every core (between timed runs only)."""

    def __init__(self, keys: tr.Keys, iss: str, tan: str, workers: int | None = None) -> None:
        self.pool = ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(keys, iss, tan))

    def close(self) -> None:
        self.pool.shutdown()

    def requests(self, payments: Sequence[Payment], host: str) -> list[bytes]:
        pairs = [(p.body, p.token) for p in payments]
        batches = [pairs[i : i + 50] for i in range(0, len(pairs), 50)]
        signed: list[tuple[str, str]] = []
        for part in self.pool.map(_sign, batches):
            signed += part
        return list(_raw(payments, signed, host))


def _raw(payments: Sequence[Payment], signed: Iterable[tuple[str, str]], host: str) -> Iterable[bytes]:
    for payment, (signature, proof) in zip(payments, signed, strict=True):
        headers = {
            "Authorization": f"DPoP {payment.token}",
            "DPoP": proof,
            "x-jws-signature": signature,
            "x-idempotency-key": uuid.uuid4().hex,
            "x-fapi-interaction-id": INTERACTION_ID,
            "x-fapi-customer-ip-address": customer_ip(payment.customer_id),
        }
        yield raw_post(PAYMENTS, host, headers, payment.body)
