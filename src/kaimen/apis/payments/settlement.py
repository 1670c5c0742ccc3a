"""What a decision does to a domestic payment: the status it takes and, when money moves, the ledger
posting, on the connection of the transaction that writes the payment (kaimen.apis.payments.payments:
a new payment, and a held one an operator decides).

- The ledger posts in the caller's transaction (kaimen.ledger.in_transaction); it refuses before
  writing anything when funds available including any credit line would go below zero, and the payment
  is then Rejected with the reason (StatusDetail, /payment-details).
- A decision of the risk checks or of an operator reaches the TPP as a fixed StatusReasonDescription
  per outcome (:data:`REJECTED_BY_CHECKS`, :data:`HELD_FOR_REVIEW`), never as its reasons.
- StatusReason (OBWritePaymentDetailsResponse1 StatusDetail.StatusReason enum: Cancelled,
  PendingFailingSettlement, PendingSettlement, Proprietary, ProprietaryRejection, Suspended,
  Unmatched): ``ProprietaryRejection`` for a rejection by the bank's own checks, ``Proprietary`` for a
  hold (none of the settlement codes describes a review by the bank).
- Status (the spec file's OBWriteDomesticResponse5 Data.Status enum; status definitions from the
  Domestic Payments resource page): the posting settles the debtor's side at once, so
  ``AcceptedSettlementCompleted`` ("Settlement on the debtor's account has been completed") when the
  payee banks elsewhere and the money waits in the outbound clearing account; when the payee's account
  is at this bank both sides are booked together, ``AcceptedCreditSettlementCompleted`` ("Settlement
  on the creditor's account has been completed"). ``Pending`` and ``Rejected`` per
  kaimen.apis.payments.risk_check.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from kaimen.apis.payments.consents import PaymentConsent
from kaimen.apis.payments.payment_record import PaymentStatus, StatusReason
from kaimen.apis.payments.risk_check import ALLOW, REJECT, PaymentRiskDecision
from kaimen.ledger.core import CounterpartyAccount, TransferRequest
from kaimen.ledger.errors import AccountNotFound, InsufficientFunds, PostingRefused
from kaimen.ledger.in_transaction import TransactionalPostings

_INFORMATION_LENGTH = 500
# What the TPP reads in /payment-details (StatusReasonDescription, maxLength 256) when the bank's checks
# or its operator decided: one fixed text per outcome, never the decision's reasons. Those describe
# the payer (their spending percentiles and counts), the bank's rules (thresholds) and its operators'
# notes (deny list entries, review notes): the PISP is not the payer's bank and must not learn them.
# They stay in ``risk_reasons`` for the operator (``kaimen risk held``, ``kaimen payments trail``).
REJECTED_BY_CHECKS = "rejected by the bank's checks"
HELD_FOR_REVIEW = "held for review by the bank"


@dataclass(frozen=True, slots=True)
class Outcome:
    status: PaymentStatus
    transaction_id: str | None = None
    reason: StatusReason | None = None
    description: str | None = None


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


async def settle(
    postings: TransactionalPostings,
    conn: AsyncConnection,
    payment_id: str,
    consent: PaymentConsent,
    decision: PaymentRiskDecision,
) -> Outcome:
    if decision.outcome == REJECT:
        return Outcome(
            PaymentStatus.REJECTED, reason=StatusReason.PROPRIETARY_REJECTION, description=REJECTED_BY_CHECKS
        )
    if decision.outcome != ALLOW:  # hold, step_up, or anything unknown: no money moves
        return Outcome(PaymentStatus.PENDING, reason=StatusReason.PROPRIETARY, description=HELD_FOR_REVIEW)
    try:
        posted = await postings.post_in(conn, transfer_request(payment_id, consent))
    except InsufficientFunds:
        return Outcome(
            PaymentStatus.REJECTED,
            reason=StatusReason.PROPRIETARY_REJECTION,
            description="insufficient funds in the debtor account",
        )
    except (AccountNotFound, PostingRefused):
        return Outcome(
            PaymentStatus.REJECTED,
            reason=StatusReason.PROPRIETARY_REJECTION,
            description="the debtor account cannot make this payment",
        )
    status = (
        PaymentStatus.ACCEPTED_CREDIT_SETTLEMENT_COMPLETED
        if posted.creditor_at_this_bank
        else PaymentStatus.ACCEPTED_SETTLEMENT_COMPLETED
    )
    return Outcome(status, transaction_id=posted.posting.transaction_id)
