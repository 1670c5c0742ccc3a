"""The Payment Initiation tables (UK OB v3.1.11 Payment Initiation API), registered on Kaimen's
declarative ``Base`` (kaimen.store.models imports this module).

``domestic_payment_consents``: OBWriteDomesticConsentResponse5. ``initiation`` and ``risk`` are
Data.Initiation and Risk exactly as the TPP sent them, as canonical JSON (sorted keys, no
whitespace): the payment must later carry the same Initiation and Risk (UK OB v3.1.11 Payment
Initiation API Profile, "Payment Order Consent": "The Initiation and Risk sections of the ... payment
request must match the corresponding Initiation and Risk sections of the ... consent resource").
``extras`` keeps Data's other members (ReadRefundAccount, Authorisation, SCASupportData) to echo;
ReadRefundAccount also decides whether the payment answers with Data.Refund and Data.Debtor
(kaimen.apis.payments.refund_account).
Amount and currency are also kept as integer minor units, for funds checks and the payment.

``idempotency_keys``: one row per (TPP, endpoint, ``x-idempotency-key``), the primary key being what
makes a key work once across every worker (DESIGN.md: "enforced atomically in the shared store");
``request_digest`` tells a replay of the same body from a reuse with another.

``domestic_payments``: OBWriteDomesticResponse5 (kaimen.apis.payments.payment_record). ``consent_id`` is
unique: one payment per consent, whatever the code above it does (the consent is also consumed by a
conditional UPDATE in the same transaction). ``transaction_id`` is the debtor's ledger entry when the
money moved; ``status_reason`` / ``status_reason_description`` are OBWritePaymentDetailsResponse1
StatusDetail's StatusReason and StatusReasonDescription; ``risk_outcome`` / ``risk_reasons`` keep the
risk decision the payment was made under.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from kaimen.store.models import Base
from kaimen.store.types import UTCDateTime


class DomesticPaymentConsent(Base):
    __tablename__ = "domestic_payment_consents"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)  # Data.ConsentId, maxLength 128
    client_id: Mapped[str] = mapped_column(String(64))  # the TPP that created it
    # AwaitingAuthorisation | Authorised | Rejected | Consumed (kaimen.apis.payments.consents.Status)
    status: Mapped[str] = mapped_column(String(32))
    initiation: Mapped[str] = mapped_column(Text)  # canonical JSON of Data.Initiation as sent
    risk: Mapped[str] = mapped_column(Text)  # canonical JSON of Risk as sent
    extras: Mapped[str] = mapped_column(Text)  # canonical JSON of Data's other members as sent
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    # Data.Authorisation.CompletionDateTime: the authorisation must be done before it.
    authorise_by: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status_updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Set when the customer authorises it: who, and the ledger account the payment will debit.
    customer_id: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)
    debtor_account_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    # Dynamic linking: the SHA-256 of what the customer approved with SCA (the Initiation and the
    # account paid from; kaimen.apis.payments.intents.approved_digest), checked again at payment time.
    approved_digest: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # The risk engine asked for a step-up when the consent was created: the consent page then demands
    # a fresh one-time code before the customer can approve it (kaimen.apis.payments.resource).
    step_up: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class IdempotencyKey(Base):
    __tablename__ = "idempotency_keys"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    endpoint: Mapped[str] = mapped_column(String(64), primary_key=True)  # e.g. domestic-payment-consents
    key: Mapped[str] = mapped_column(String(40), primary_key=True)  # x-idempotency-key, maxLength 40
    request_digest: Mapped[str] = mapped_column(String(64))  # SHA-256 of the canonical body, hex
    resource_id: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class DomesticPayment(Base):
    __tablename__ = "domestic_payments"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # Data.DomesticPaymentId, maxLength 40
    consent_id: Mapped[str] = mapped_column(String(128), unique=True)
    client_id: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[str] = mapped_column(String(40), index=True)
    debtor_account_id: Mapped[str] = mapped_column(String(40))
    # AcceptedCreditSettlementCompleted | AcceptedSettlementCompleted | Pending | Rejected
    status: Mapped[str] = mapped_column(String(40))
    initiation: Mapped[str] = mapped_column(Text)  # canonical JSON of Data.Initiation (the consent's)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status_updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    transaction_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    status_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    status_reason_description: Mapped[str | None] = mapped_column(String(256), nullable=True)
    risk_outcome: Mapped[str] = mapped_column(String(16))
    risk_reasons: Mapped[str] = mapped_column(Text)  # JSON array of str
