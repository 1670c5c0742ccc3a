"""A domestic payment as Kaimen keeps it (the spec file's OBWriteDomesticResponse5): the statuses it
can have, the ``Payment`` every reader gets (the TPP's endpoints, the operator's commands, the event
payload), and the one mapping from a ``domestic_payments`` row to it.

DomesticPaymentIds are ``dp-`` and 192 random bits (35 characters; the spec's maxLength is 40).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import orjson
from sqlalchemy import Row

from kaimen.ledger.money import Money

ID_PREFIX = "dp-"
MAX_ID = 40  # OBWriteDomesticResponse5 Data.DomesticPaymentId maxLength


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


@dataclass(frozen=True, slots=True)
class Payment:
    payment_id: str
    consent_id: str
    client_id: str
    customer_id: str
    debtor_account_id: str  # the customer's ledger account it pays from (never shown to the TPP as such)
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


def new_payment_id() -> str:
    return ID_PREFIX + secrets.token_urlsafe(24)


def payment_view(row: Row[Any]) -> Payment:
    """A payment read as a row of every column of ``domestic_payments``."""
    return Payment(
        payment_id=row.id,
        consent_id=row.consent_id,
        client_id=row.client_id,
        customer_id=row.customer_id,
        debtor_account_id=row.debtor_account_id,
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
