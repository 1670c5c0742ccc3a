"""Helpers of the domestic payment tests: an Authorised consent made through the service (the
customer's approval with SCA is tests/test_payments_flow_e2e.py's), the payment body that matches it,
POST /domestic-payments with the customer's token, and the ledger's totals."""

from __future__ import annotations

import copy
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from kaimen.apis.payments.consent_request import canonical
from kaimen.apis.payments.intents import approved_digest
from kaimen.ledger.models import LedgerAccount, LedgerEntry, LedgerPosting
from kaimen.settings import Settings
from kaimen.store.types import utcnow
from tests.account_consents_support import INTERACTION_ID
from tests.dpop_support import BASE, proof, running
from tests.payments_support import CONSENTS, PISP, PaymentBank, PaymentTpp, assert_valid, consent_body, encode
from tests.test_ledger_support import book, open_account

PAYMENTS = f"{PISP}/domestic-payments"
MEDIA_TYPE = "application/json; charset=utf-8"


@dataclass
class Authorised:
    consent_id: str
    token: str  # the customer's access token for this consent
    account_id: str  # the ledger account the customer chose
    consent: dict[str, Any]  # the OBWriteDomesticConsent4 sent

    def payment(self) -> dict[str, Any]:
        """The OBWriteDomestic2 that matches the consent."""
        return payment_body(self.consent_id, self.consent)


def payment_body(consent_id: str, consent: dict[str, Any]) -> dict[str, Any]:
    sent = copy.deepcopy(consent)
    return {"Data": {"ConsentId": consent_id, "Initiation": sent["Data"]["Initiation"]}, "Risk": sent["Risk"]}


async def authorised(
    bank: PaymentBank,
    tpp: PaymentTpp,
    *,
    customer: str = "cus_alice",
    balance: int = 100_000,
    credit_limit: int = 0,
    consent: dict[str, Any] | None = None,
    account_id: str | None = None,
) -> Authorised:
    """A consent the customer authorised, paying from a fresh account holding ``balance`` (minor
    units), with the digest of what they approved, and the token they authorised for it."""
    db = bank.app.components.db
    if account_id is None:
        account = await open_account(db, customer, credit_limit=credit_limit)
        account_id = account.id
        if balance:
            await book(db, account_id, balance, utcnow() - timedelta(days=1))
    sent = consent or consent_body()
    response = await tpp.post(sent)
    assert response.status_code == 201, response.text
    consent_id: str = response.json()["Data"]["ConsentId"]
    digest = approved_digest(canonical(sent["Data"]["Initiation"]), account_id)
    assert await bank.app.components.payment_consents.authorise(consent_id, customer, account_id, digest)
    token = await bank.customer_token(tpp, consent_id, customer)
    return Authorised(consent_id, token, account_id, sent)


async def pay(
    tpp: PaymentTpp,
    body: Any,
    *,
    token: str,
    content: bytes | None = None,
    signature: str | None = "sign",
    idempotency_key: str | None = None,
    extra: dict[str, str] | None = None,
) -> httpx.Response:
    """POST /domestic-payments with the customer's token, signed by ``tpp`` unless ``signature`` says
    otherwise (None: no header; other text: that header)."""
    content = encode(body) if content is None else content
    headers = {
        "authorization": f"DPoP {token}",
        "dpop": proof(method="POST", url=BASE + PAYMENTS, token=token),
        "x-fapi-interaction-id": INTERACTION_ID,
        "content-type": "application/json",
        "x-idempotency-key": idempotency_key if idempotency_key is not None else uuid.uuid4().hex,
    }
    if signature == "sign":
        headers["x-jws-signature"] = tpp.sign(content)
    elif signature is not None:
        headers["x-jws-signature"] = signature
    headers.update(extra or {})
    return await tpp.bank.http.post(PAYMENTS, content=content, headers=headers)


async def assert_payment(bank: PaymentBank, response: httpx.Response, status: int) -> dict[str, Any]:
    """A conforming, signed OBWriteDomesticResponse5."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == MEDIA_TYPE
    assert response.headers["x-fapi-interaction-id"] == INTERACTION_ID
    body: dict[str, Any] = response.json()
    assert_valid("OBWriteDomesticResponse5", body)
    await bank.assert_signed(response)
    return body


async def assert_details(bank: PaymentBank, response: httpx.Response) -> dict[str, Any]:
    """A conforming, signed OBWritePaymentDetailsResponse1."""
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert_valid("OBWritePaymentDetailsResponse1", body)
    await bank.assert_signed(response)
    return body


async def consent_status(bank: PaymentBank, tpp: PaymentTpp, consent_id: str) -> str:
    response = await tpp.get(f"{CONSENTS}/{consent_id}")
    assert response.status_code == 200, response.text
    status: str = response.json()["Data"]["Status"]
    return status


async def postings_for(bank: PaymentBank, reference: str | None = None) -> list[LedgerPosting]:
    """The ledger postings payments made (``kind`` payment or transfer), or the one under ``reference``."""
    async with bank.app.components.db.read() as session:
        query = select(LedgerPosting).where(LedgerPosting.kind.in_(["payment", "transfer"]))
        if reference is not None:
            query = query.where(LedgerPosting.reference == reference)
        return list((await session.execute(query)).scalars())


async def ledger_sum(bank: PaymentBank) -> tuple[int, int]:
    """(sum of all entries, sum of debits + credits per posting that is not zero): double entry means
    (0, 0)."""
    async with bank.app.components.db.read() as session:
        total = int(await session.scalar(select(func.coalesce(func.sum(LedgerEntry.amount), 0))) or 0)
        unbalanced = len(
            (
                await session.execute(
                    select(LedgerEntry.posting_id)
                    .group_by(LedgerEntry.posting_id)
                    .having(func.sum(LedgerEntry.amount) != 0)
                )
            ).all()
        )
    return total, unbalanced


async def booked(bank: PaymentBank, account_id: str) -> int:
    """The account's booked balance: the sum of its booked entries."""
    async with bank.app.components.db.read() as session:
        value = await session.scalar(
            select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(LedgerEntry.account_id == account_id)
        )
        assert await session.get(LedgerAccount, account_id) is not None
    return int(value or 0)


@asynccontextmanager
async def without_risk_engine(settings_of: Callable[..., Settings], database_url: str) -> AsyncIterator[Any]:
    """The app with KAIMEN_RISK__ENABLED=false: these tests are about the payment mechanics (every
    payment allowed unless a test says otherwise); the engine's rules have their own tests
    (tests/test_risk_*.py) and tests/test_payments_risk_engine.py checks it is what the app uses."""
    async with running(settings_of(database_url=database_url, risk={"enabled": False})) as started:
        yield started


@pytest.fixture
async def server(
    make_settings: Callable[..., Settings], database_url: str
) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    """conftest's ``server`` without the risk engine (see ``without_risk_engine``), for the modules
    that import it (listed in their ``__all__``)."""
    async with without_risk_engine(make_settings, database_url) as started:
        yield started
