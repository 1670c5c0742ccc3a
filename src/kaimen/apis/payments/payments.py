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
- The ledger posts in the same transaction (kaimen.ledger.in_transaction); it refuses before writing
  anything when funds available including any credit line would go below zero, and the payment is then
  created Rejected with the reason (StatusDetail, /payment-details).
- Status (the spec file's OBWriteDomesticResponse5 Data.Status enum; status definitions from the
  Domestic Payments resource page): the posting settles the debtor's side at once, so
  ``AcceptedSettlementCompleted`` ("Settlement on the debtor's account has been completed") when the
  payee banks elsewhere and the money waits in the outbound clearing account; when the payee's account
  is at this bank both sides are booked together, ``AcceptedCreditSettlementCompleted`` ("Settlement
  on the creditor's account has been completed"). ``Pending`` and ``Rejected`` per
  kaimen.apis.payments.risk_check.

DomesticPaymentIds are ``dp-`` and 192 random bits (35 characters; the spec's maxLength is 40).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import orjson
from sqlalchemy import BindParameter, Row, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from kaimen.apis.consent_lifecycle import ConsentChanged, Events
from kaimen.apis.payments.consents import PaymentConsent, Status, consent_view
from kaimen.apis.payments.errors import ConsentNotActive
from kaimen.apis.payments.idempotency import KeySweeper, claim, holder
from kaimen.apis.payments.models import DomesticPayment, DomesticPaymentConsent
from kaimen.apis.payments.payment_request import DomesticPaymentRequest
from kaimen.apis.payments.risk_check import ALLOW, REJECT, PaymentRiskDecision
from kaimen.events import CONSENT_CONSUMED, PAYMENT_ACCEPTED, PAYMENT_PENDING, PAYMENT_REJECTED
from kaimen.ledger.core import CounterpartyAccount, TransferRequest
from kaimen.ledger.errors import AccountNotFound, InsufficientFunds, PostingRefused
from kaimen.ledger.in_transaction import TransactionalPostings
from kaimen.ledger.money import Money
from kaimen.store.db import Database
from kaimen.store.types import utcnow

ID_PREFIX = "dp-"
ENDPOINT = "domestic-payments"
MAX_ID = 40  # OBWriteDomesticResponse5 Data.DomesticPaymentId maxLength
_REASON_LENGTH = 256  # StatusReasonDescription maxLength
_INFORMATION_LENGTH = 500


class PaymentStatus(StrEnum):
    """The statuses Kaimen gives a domestic payment (OBWriteDomesticResponse5 Data.Status)."""

    ACCEPTED_CREDIT_SETTLEMENT_COMPLETED = "AcceptedCreditSettlementCompleted"
    ACCEPTED_SETTLEMENT_COMPLETED = "AcceptedSettlementCompleted"
    PENDING = "Pending"
    REJECTED = "Rejected"


class StatusReason(StrEnum):
    """OBWritePaymentDetailsResponse1 StatusDetail.StatusReason (the ones Kaimen gives)."""

    PROPRIETARY = "Proprietary"
    PROPRIETARY_REJECTION = "ProprietaryRejection"


_EVENTS = {
    PaymentStatus.ACCEPTED_CREDIT_SETTLEMENT_COMPLETED: PAYMENT_ACCEPTED,
    PaymentStatus.ACCEPTED_SETTLEMENT_COMPLETED: PAYMENT_ACCEPTED,
    PaymentStatus.PENDING: PAYMENT_PENDING,
    PaymentStatus.REJECTED: PAYMENT_REJECTED,
}


@dataclass(frozen=True, slots=True)
class Payment:
    payment_id: str
    consent_id: str
    client_id: str
    customer_id: str
    status: PaymentStatus
    initiation: dict[str, Any]
    amount: Money
    created_at: datetime
    status_updated_at: datetime
    transaction_id: str | None  # the debtor's ledger entry, once posted
    status_reason: StatusReason | None
    status_reason_description: str | None
    risk_outcome: str
    risk_reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Outcome:
    status: PaymentStatus
    transaction_id: str | None = None
    reason: StatusReason | None = None
    description: str | None = None


@dataclass(frozen=True, slots=True)
class _OperatorDecision:
    """An operator's answer to a held payment, in the shape of a risk decision."""

    outcome: str
    reasons: tuple[str, ...]


def new_payment_id() -> str:
    return ID_PREFIX + secrets.token_urlsafe(24)


def _view(row: Row[Any]) -> Payment:
    """A payment read as a row of every column of ``domestic_payments`` (:data:`_PAYMENTS`)."""
    return Payment(
        payment_id=row.id,
        consent_id=row.consent_id,
        client_id=row.client_id,
        customer_id=row.customer_id,
        status=PaymentStatus(row.status),
        initiation=orjson.loads(row.initiation),
        amount=Money(row.amount_minor, row.currency),
        created_at=row.created_at,
        status_updated_at=row.status_updated_at,
        transaction_id=row.transaction_id,
        status_reason=StatusReason(row.status_reason) if row.status_reason else None,
        status_reason_description=row.status_reason_description,
        risk_outcome=row.risk_outcome,
        risk_reasons=tuple(orjson.loads(row.risk_reasons)),
    )


def _described(reasons: tuple[str, ...], fallback: str) -> str:
    return ("; ".join(reasons) or fallback)[:_REASON_LENGTH]


def transfer_request(payment_id: str, consent: PaymentConsent) -> TransferRequest:
    """The ledger transfer a payment makes: its posting reference is the DomesticPaymentId, so the
    ledger itself never posts one payment twice."""
    initiation = consent.initiation
    creditor = initiation["CreditorAccount"]
    remittance = initiation.get("RemittanceInformation", {})
    reference = remittance.get("Reference")
    information = " ".join(part for part in (creditor["Name"], reference) if part)
    assert consent.customer_id is not None and consent.debtor_account_id is not None  # Authorised
    return TransferRequest(
        reference=payment_id,
        customer_id=consent.customer_id,
        debtor_account_id=consent.debtor_account_id,
        creditor=CounterpartyAccount(creditor["SchemeName"], creditor["Identification"], creditor["Name"]),
        amount=consent.amount,
        information=information[:_INFORMATION_LENGTH],
        remittance_reference=reference,
    )


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


def _decided(outcome: _Outcome, decision: PaymentRiskDecision) -> dict[str, Any]:
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
        return _view(row) if row is not None else None

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
                return _view(existing)
            if decision is None or not await self._consume(conn, consent, now):
                raise ConsentNotActive("the consent is not Authorised: it has been consumed")
            outcome = await self._settle(conn, held.resource_id, consent, decision)
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
            payment = _view((await conn.execute(_INSERT, values)).one())
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
        return _view(row) if row is not None and row.client_id == client_id else None

    # --- the operator's review of held payments (issue 5 item 4: kaimen risk held | release | reject) --

    async def held(self) -> list[Payment]:
        """Every payment the risk checks held (Status Pending), oldest first."""
        async with self.db.read() as session:
            rows = (await session.execute(_HELD)).all()
        return [_view(row) for row in rows]

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
            outcome = await self._settle(conn, payment_id, consent_view(consent_row), decision)
            decided = await conn.execute(_DECIDE, {"b_payment_id": payment_id, **_decided(outcome, decision)})
            payment = _view(decided.one())
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

    async def _settle(
        self, conn: AsyncConnection, payment_id: str, consent: PaymentConsent, decision: PaymentRiskDecision
    ) -> _Outcome:
        reasons = tuple(decision.reasons)
        if decision.outcome == REJECT:
            return _Outcome(
                PaymentStatus.REJECTED,
                reason=StatusReason.PROPRIETARY_REJECTION,
                description=_described(reasons, "refused by the bank's risk checks"),
            )
        if decision.outcome != ALLOW:  # hold, step_up, or anything unknown: no money moves
            return _Outcome(
                PaymentStatus.PENDING,
                reason=StatusReason.PROPRIETARY,
                description=_described(reasons, "held for review by the bank"),
            )
        try:
            posted = await self.postings.post_in(conn, transfer_request(payment_id, consent))
        except InsufficientFunds:
            return _Outcome(
                PaymentStatus.REJECTED,
                reason=StatusReason.PROPRIETARY_REJECTION,
                description="insufficient funds in the debtor account",
            )
        except (AccountNotFound, PostingRefused):
            return _Outcome(
                PaymentStatus.REJECTED,
                reason=StatusReason.PROPRIETARY_REJECTION,
                description="the debtor account cannot make this payment",
            )
        status = (
            PaymentStatus.ACCEPTED_CREDIT_SETTLEMENT_COMPLETED
            if posted.creditor_at_this_bank
            else PaymentStatus.ACCEPTED_SETTLEMENT_COMPLETED
        )
        return _Outcome(status, transaction_id=posted.posting.transaction_id)
