"""Domestic payments, exactly once (UK OB v3.1.11 Domestic Payments; DESIGN.md "Data that must never
be lost or leaked").

One write transaction does all of it, or none:

    claim x-idempotency-key ─► consent Authorised → Consumed (conditional UPDATE) ─► risk outcome
    ─► ledger posting (debit the customer, credit the payee or the outbound clearing account)
    ─► the payment row

- The key is claimed first (kaimen.apis.payments.idempotency): a replay, or a racing twin, finds the
  payment the first request created and answers with it as it is now; nothing else runs.
- "Once a domestic-payment has been successfully created using the domestic-payment-consent, the
  Status of the domestic-payment-consent will be set to 'Consumed'" (UK OB v3.1.11 Domestic Payment
  Consents). ``UPDATE ... WHERE status = 'Authorised' AND approved_digest = <checked>``: of two
  payments on one consent, only one changes the row; the other rolls back, its key with it. The
  unique ``domestic_payments.consent_id`` backs this up. A Rejected or Pending payment is a payment
  resource created from the consent too, so the consent is Consumed then as well: a retry needs a new
  consent and a new SCA, never a second attempt under the first approval.
- The risk outcome and the ledger posting decide the payment's status (kaimen.apis.payments.settlement),
  and an operator's answer to a held payment is settled the same way, in a transaction of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import BindParameter, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from kaimen.apis.consent_lifecycle import ConsentChanged, Events, another_clients
from kaimen.apis.payments.consents import PaymentConsent, Status, consent_view
from kaimen.apis.payments.errors import ConsentNotActive
from kaimen.apis.payments.idempotency import KeySweeper, claim, holder
from kaimen.apis.payments.models import DomesticPayment, DomesticPaymentConsent
from kaimen.apis.payments.payment_record import ID_PREFIX, MAX_ID, Payment, PaymentStatus, payment_view
from kaimen.apis.payments.payment_request import DomesticPaymentRequest
from kaimen.apis.payments.risk_check import ALLOW, REJECT, PaymentRiskDecision
from kaimen.apis.payments.settlement import Outcome, settle
from kaimen.events import CONSENT_CONSUMED, PAYMENT_ACCEPTED, PAYMENT_PENDING, PAYMENT_REJECTED
from kaimen.ledger.in_transaction import TransactionalPostings
from kaimen.store.db import Database
from kaimen.store.types import utcnow

ENDPOINT = "domestic-payments"

_EVENTS = {
    PaymentStatus.ACCEPTED_CREDIT_SETTLEMENT_COMPLETED: PAYMENT_ACCEPTED,
    PaymentStatus.ACCEPTED_SETTLEMENT_COMPLETED: PAYMENT_ACCEPTED,
    PaymentStatus.PENDING: PAYMENT_PENDING,
    PaymentStatus.REJECTED: PAYMENT_REJECTED,
}


@dataclass(frozen=True, slots=True)
class _OperatorDecision:
    """An operator's answer to a held payment, in the shape of a risk decision."""

    outcome: str
    reasons: tuple[str, ...]


# The consent consumed by a payment, only if it is still the Authorised consent the customer approved
# (built once: it runs in every payment's transaction).
_CONSUME = (
    update(DomesticPaymentConsent)
    .where(
        DomesticPaymentConsent.id == bindparam("b_consent_id"),
        DomesticPaymentConsent.client_id == bindparam("b_client_id"),
        DomesticPaymentConsent.customer_id == bindparam("b_customer_id"),
        DomesticPaymentConsent.status == Status.AUTHORISED.value,
        # NULL for a consent approved before digests were kept: equal to NULL, as ``==`` None was.
        DomesticPaymentConsent.approved_digest.is_not_distinct_from(bindparam("b_approved_digest")),
    )
    .values(status=Status.CONSUMED.value, status_updated_at=bindparam("b_now"))
    .returning(DomesticPaymentConsent.id)
)


# The payments table read and written with Core statements on the transaction's connection (no ORM
# unit of work), built once.
_PAYMENTS = DomesticPayment.__table__
_BY_ID = select(_PAYMENTS).where(DomesticPayment.id == bindparam("b_payment_id"))
_HELD = (
    select(_PAYMENTS)
    .where(DomesticPayment.status == PaymentStatus.PENDING.value)
    .order_by(DomesticPayment.created_at, DomesticPayment.id)
)
# The columns a payment's outcome sets, in :data:`_INSERT` and :data:`_DECIDE` (values: :func:`_decided`).
_OUTCOME: dict[str, BindParameter[Any]] = {
    "status": bindparam("b_status"),
    "transaction_id": bindparam("b_transaction_id"),
    "status_reason": bindparam("b_status_reason"),
    "status_reason_description": bindparam("b_status_reason_description"),
    "risk_outcome": bindparam("b_risk_outcome"),
    "risk_reasons": bindparam("b_risk_reasons"),
}
_INSERT = (
    insert(DomesticPayment)
    .values(
        id=bindparam("b_payment_id"),
        consent_id=bindparam("b_consent_id"),
        client_id=bindparam("b_client_id"),
        customer_id=bindparam("b_customer_id"),
        debtor_account_id=bindparam("b_debtor_account_id"),
        initiation=bindparam("b_initiation"),
        amount_minor=bindparam("b_amount_minor"),
        currency=bindparam("b_currency"),
        created_at=bindparam("b_now"),
        status_updated_at=bindparam("b_now"),
        **_OUTCOME,
    )
    .returning(_PAYMENTS)
)
# A held payment taken while it is Pending (a racing decision waits, then finds it decided), then
# decided.
_TAKE_HELD = (
    update(DomesticPayment)
    .where(
        DomesticPayment.id == bindparam("b_payment_id"),
        DomesticPayment.status == PaymentStatus.PENDING.value,
    )
    .values(status_updated_at=bindparam("b_now"))
    .returning(DomesticPayment.consent_id)
)
_DECIDE = (
    update(DomesticPayment)
    .where(DomesticPayment.id == bindparam("b_payment_id"))
    .values(_OUTCOME)
    .returning(_PAYMENTS)
)
_CONSENT = select(DomesticPaymentConsent.__table__).where(
    DomesticPaymentConsent.id == bindparam("b_consent_id")
)


def _decided(outcome: Outcome, decision: PaymentRiskDecision) -> dict[str, Any]:
    """The values of :data:`_OUTCOME`."""
    return {
        "b_status": outcome.status.value,
        "b_transaction_id": outcome.transaction_id,
        "b_status_reason": outcome.reason.value if outcome.reason else None,
        "b_status_reason_description": outcome.description,
        "b_risk_outcome": decision.outcome,
        "b_risk_reasons": orjson.dumps(list(decision.reasons)).decode(),
    }


class DomesticPayments:
    def __init__(self, db: Database, postings: TransactionalPostings, events: Events) -> None:
        self.db = db
        self.postings = postings
        self.events = events
        self.sweeper = KeySweeper(db)

    async def replay(self, client_id: str, key: str, order: DomesticPaymentRequest) -> Payment | None:
        """The payment a replay of ``key`` with this body names, as it is now; None for a new key."""
        held = await holder(
            self.db, client_id=client_id, endpoint=ENDPOINT, key=key, digest=order.digest, now=utcnow()
        )
        if held is None:
            return None
        async with self.db.read() as session:
            row = (await session.execute(_BY_ID, {"b_payment_id": held})).first()
        return payment_view(row) if row is not None else None

    async def submit(
        self,
        client_id: str,
        key: str,
        order: DomesticPaymentRequest,
        consent: PaymentConsent,
        decision: PaymentRiskDecision | None,
        payment_id: str,
    ) -> Payment:
        """Create the payment ``payment_id`` (see the module's docstring), or answer with the one
        ``key`` made. ``decision`` is None only for a consent already Consumed when it was checked:
        then this is a racing twin of the payment that consumed it, or a refusal."""
        now = utcnow()
        async with self.db.transaction() as conn:
            held = await claim(
                conn,
                client_id=client_id,
                endpoint=ENDPOINT,
                key=key,
                digest=order.digest,
                new_resource_id=payment_id,
                now=now,
            )
            if not held.fresh:
                existing = (await conn.execute(_BY_ID, {"b_payment_id": held.resource_id})).first()
                if existing is None:  # never: the key and its payment are written in one transaction
                    raise LookupError("an idempotency key names a payment that does not exist")
                return payment_view(existing)
            if decision is None or not await self._consume(conn, consent, now):
                raise ConsentNotActive("the consent is not Authorised: it has been consumed")
            outcome = await settle(self.postings, conn, held.resource_id, consent, decision)
            values = {
                "b_payment_id": held.resource_id,
                "b_consent_id": consent.consent_id,
                "b_client_id": client_id,
                "b_customer_id": consent.customer_id,
                "b_debtor_account_id": consent.debtor_account_id,
                "b_initiation": consent.initiation_json,
                "b_amount_minor": consent.amount.minor,
                "b_currency": consent.amount.currency,
                "b_now": now,
                **_decided(outcome, decision),
            }
            payment = payment_view((await conn.execute(_INSERT, values)).one())
        await self.sweeper.claimed(now)
        self.events.emit(
            CONSENT_CONSUMED,
            ConsentChanged(consent.consent_id, client_id, consent.customer_id, Status.CONSUMED.value),
        )
        self.events.emit(_EVENTS[payment.status], payment)
        return payment

    async def get(self, payment_id: str, client_id: str) -> Payment | None:
        """The payment, to the TPP that created it only; None for anyone else and for unknown ids."""
        if not payment_id.startswith(ID_PREFIX) or len(payment_id) > MAX_ID:
            return None
        async with self.db.read() as session:
            row = (await session.execute(_BY_ID, {"b_payment_id": payment_id})).first()
        return payment_view(row) if row is not None and row.client_id == client_id else None

    async def held_by_another(self, payment_id: str, client_id: str) -> bool:
        """Whether ``payment_id`` names a payment another client than ``client_id`` created (one bit,
        nothing of the payment: for the refusal's status, kaimen.apis.payments.errors)."""
        if not payment_id.startswith(ID_PREFIX) or len(payment_id) > MAX_ID:
            return False
        return await another_clients(self.db, DomesticPayment, payment_id, client_id)

    # --- the operator's review of held payments (issue 5 item 4: kaimen risk held | release | reject) --

    async def held(self) -> list[Payment]:
        """Every payment the risk checks held (Status Pending), oldest first."""
        async with self.db.read() as session:
            rows = (await session.execute(_HELD)).all()
        return [payment_view(row) for row in rows]

    async def release(self, payment_id: str) -> Payment | None:
        """An operator approved a held payment: post it now, in one transaction, as an allowed payment
        would have been (funds are checked again: it may still be Rejected). None when the payment is
        not Pending (unknown, already released or rejected): of two releases racing, one posts."""
        decision = _OperatorDecision(ALLOW, ("released by the bank after review",))
        return await self._decide(payment_id, decision)

    async def reject_held(self, payment_id: str, reason: str) -> Payment | None:
        """An operator refused a held payment: Rejected, nothing posted; None when it is not Pending."""
        decision = _OperatorDecision(REJECT, (reason or "refused by the bank after review",))
        return await self._decide(payment_id, decision)

    async def _decide(self, payment_id: str, decision: _OperatorDecision) -> Payment | None:
        async with self.db.transaction() as conn:
            taken = await conn.execute(_TAKE_HELD, {"b_payment_id": payment_id, "b_now": utcnow()})
            consent_id = taken.scalar_one_or_none()
            if consent_id is None:
                return None
            consent_row = (await conn.execute(_CONSENT, {"b_consent_id": consent_id})).one()
            outcome = await settle(self.postings, conn, payment_id, consent_view(consent_row), decision)
            decided = await conn.execute(_DECIDE, {"b_payment_id": payment_id, **_decided(outcome, decision)})
            payment = payment_view(decided.one())
        self.events.emit(_EVENTS[payment.status], payment)
        return payment

    async def _consume(self, conn: AsyncConnection, consent: PaymentConsent, now: datetime) -> bool:
        result = await conn.execute(
            _CONSUME,
            {
                "b_consent_id": consent.consent_id,
                "b_client_id": consent.client_id,
                "b_customer_id": consent.customer_id,
                "b_approved_digest": consent.approved_digest,
                "b_now": now,
            },
        )
        return result.first() is not None
