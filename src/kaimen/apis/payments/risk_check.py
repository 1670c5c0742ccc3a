"""The risk check a domestic payment passes before any money moves: the seam between the Payment API
and the risk engine (kaimen.risk, built separately; DESIGN.md: "risk/ scores every payment:
allow | step-up | hold | reject").

    PaymentRisk.assess_payment(PaymentRiskContext) -> a decision with ``outcome`` and ``reasons``
    ConsentRisk.assess_consent(ConsentRiskContext) -> the same, when a consent is created (issue 5,
    item 4: the engine "scores every payment consent at creation"); ``reject`` creates the consent
    as Rejected (the spec file's OBWriteDomesticConsentResponse5 Status enum has it), so it can
    never be authorised; ``step_up`` or ``hold`` marks it for step-up: the consent page then demands a
    fresh one-time code before the customer can approve it (issue 5 item 4); ``allow`` changes nothing

What each outcome does to the payment (kaimen.apis.payments.settlement):

    allow    posted to the ledger; AcceptedSettlementCompleted / AcceptedCreditSettlementCompleted
    reject   created with Status Rejected, nothing posted; /payment-details gives StatusDetail
             (StatusReason ProprietaryRejection, a fixed StatusReasonDescription: the reasons are the
             operator's, kept in risk_reasons, never shown to the TPP): a payment the
             bank's checks refuse is still a payment resource with a status (UK OB v3.1.11 Domestic
             Payments, POST status list: "Rejected: Payment initiation or individual transaction
             included in the payment initiation has been rejected"), not an HTTP refusal
    hold     created with Status Pending ("Payment initiation or individual transaction included in
    step_up  the payment initiation is pending. Further checks and status update will be performed"),
             nothing posted; step-up at payment time cannot reach the customer (SCA happened at the
             consent), so it waits as a hold does, for the operator (releasing a held payment is the
             risk engine's command, not built here)
    other    an outcome this code does not know is treated as ``hold``: never move money on doubt

The engine is called outside the database transaction (it may read or write its own tables); an
exception from it fails the request with a 500 and nothing is written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

ALLOW = "allow"
STEP_UP = "step_up"
HOLD = "hold"
REJECT = "reject"
OUTCOMES = frozenset({ALLOW, STEP_UP, HOLD, REJECT})


@dataclass(frozen=True, slots=True, kw_only=True)
class PaymentRiskContext:
    """What the Payment API knows of a payment when it is submitted. Money in integer minor units,
    time in UTC (STYLE.md). The names are kaimen.risk.context.PaymentContext's, so an adapter to that
    engine copies them across; ``interaction_id`` and ``risk`` are extra."""

    subject_id: str  # the DomesticPaymentId this payment will have if it is created
    customer_id: str
    client_id: str  # the TPP
    consent_id: str
    consent_created_at: datetime  # consent age = at - consent_created_at
    debtor_account_id: str  # the ledger account the customer chose at SCA
    amount_minor: int
    currency: str
    creditor_scheme: str  # Initiation.CreditorAccount.SchemeName
    creditor_identification: str  # Initiation.CreditorAccount.Identification
    creditor_name: str  # Initiation.CreditorAccount.Name
    customer_ip: str | None  # x-fapi-customer-ip-address as the gateway read it (None: unattended)
    device: str | None  # x-customer-user-agent, as the TPP sent it, if it did
    payment_context_code: str | None  # Risk.PaymentContextCode
    merchant_category_code: str | None  # Risk.MerchantCategoryCode
    risk: Mapping[str, Any]  # the whole OBRisk1 block as sent
    interaction_id: str  # x-fapi-interaction-id: ties the decision to the call's audit record
    at: datetime  # when the payment was submitted


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsentRiskContext:
    """What the Payment API knows of a consent when a TPP creates it: no customer yet (the engine then
    skips the customer's rules). Names as kaimen.risk.context.ConsentContext's."""

    subject_id: str  # the ConsentId
    customer_id: None
    client_id: str
    consent_id: str
    amount_minor: int
    currency: str
    creditor_scheme: str
    creditor_identification: str
    creditor_name: str | None
    customer_ip: str | None
    device: str | None
    payment_context_code: str | None
    merchant_category_code: str | None
    at: datetime


class PaymentRiskDecision(Protocol):
    """Any object with these two attributes (the engine's own decision type will do)."""

    @property
    def outcome(self) -> str: ...  # "allow" | "step_up" | "hold" | "reject"

    @property
    def reasons(self) -> Sequence[str]: ...  # readable, for the operator only (never the TPP)


class PaymentRisk(Protocol):
    async def assess_payment(self, context: PaymentRiskContext) -> PaymentRiskDecision: ...

    async def assess_consent(self, context: ConsentRiskContext) -> PaymentRiskDecision: ...


@dataclass(frozen=True, slots=True)
class RiskDecision:
    outcome: str
    reasons: tuple[str, ...] = ()


class NoRiskChecks:
    """Allows every payment and consent: NOT a risk engine. Wired only when KAIMEN_RISK__ENABLED is
    false (create_app's ``payment_risk``)."""

    async def assess_payment(self, context: PaymentRiskContext) -> PaymentRiskDecision:
        return RiskDecision(ALLOW, ("risk checks are turned off",))

    async def assess_consent(self, context: ConsentRiskContext) -> PaymentRiskDecision:
        return RiskDecision(ALLOW, ("risk checks are turned off",))
