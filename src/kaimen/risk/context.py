"""What a caller tells the risk engine about one payment consent or payment.

Build a :class:`ConsentContext` when a domestic payment consent is created (or authorised) and a
:class:`PaymentContext` when the payment is submitted (``POST /domestic-payments``). Amounts are integer
minor units; times are aware UTC datetimes. The engine also takes any object with these attributes
(:class:`ConsentLike`, :class:`PaymentLike`, e.g. kaimen.apis.payments.risk_check.PaymentRiskContext)
and copies them into its own dataclass.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsentContext:
    """A domestic payment consent, as the risk engine scores it.

    - ``subject_id``: the ConsentId (the decision is recorded under it)
    - ``customer_id``: the bank's customer, or None when not known yet (a consent is created by the
      TPP before any customer authorises it); rules about the customer are then not evaluated
    - ``client_id``: the TPP's OAuth client
    - ``consent_id``: the ConsentId
    - ``amount_minor``, ``currency``: Initiation.InstructedAmount (minor units, ISO 4217)
    - ``creditor_scheme``, ``creditor_identification``, ``creditor_name``: Initiation.CreditorAccount
    - ``customer_ip``: x-fapi-customer-ip-address, None when the customer is not present
    - ``device``: the customer's device or user agent as the TPP reports it, if it does
    - ``payment_context_code``: Risk.PaymentContextCode (BillPayment, EcommerceGoods, PartyToParty, ...)
    - ``merchant_category_code``: Risk.MerchantCategoryCode (ISO 18245)
    - ``at``: when it happens; None means the engine's clock
    """

    subject_id: str
    customer_id: str | None
    client_id: str
    consent_id: str
    amount_minor: int
    currency: str
    creditor_scheme: str
    creditor_identification: str
    creditor_name: str | None = None
    customer_ip: str | None = None
    device: str | None = None
    payment_context_code: str | None = None
    merchant_category_code: str | None = None
    at: datetime | None = None

    def __post_init__(self) -> None:
        if self.amount_minor < 0:
            raise ValueError("amount_minor must not be negative")
        if self.at is not None and self.at.tzinfo is None:
            raise ValueError("at must be timezone-aware")


@dataclass(frozen=True, slots=True, kw_only=True)
class PaymentContext(ConsentContext):
    """A domestic payment at submission: the consent's fields plus

    - ``subject_id``: the DomesticPaymentId (or the ConsentId when the id is not made yet)
    - ``debtor_account_id``: the ledger account the payment debits (the AccountId)
    - ``consent_created_at``: when the consent was created (its age is a signal), if known
    """

    debtor_account_id: str | None = None
    consent_created_at: datetime | None = None


def normalise_identification(value: str) -> str:
    """An account identification compared as the bank compares it: no spaces or hyphens, upper case
    (``40-12-76 12345678`` and ``40127612345678`` are one account)."""
    return "".join(value.split()).replace("-", "").upper()


class ConsentLike(Protocol):
    """Any object carrying :class:`ConsentContext`'s fields (read-only attributes will do)."""

    @property
    def subject_id(self) -> str: ...
    @property
    def customer_id(self) -> str | None: ...
    @property
    def client_id(self) -> str: ...
    @property
    def consent_id(self) -> str: ...
    @property
    def amount_minor(self) -> int: ...
    @property
    def currency(self) -> str: ...
    @property
    def creditor_scheme(self) -> str: ...
    @property
    def creditor_identification(self) -> str: ...
    @property
    def creditor_name(self) -> str | None: ...
    @property
    def customer_ip(self) -> str | None: ...
    @property
    def device(self) -> str | None: ...
    @property
    def payment_context_code(self) -> str | None: ...
    @property
    def merchant_category_code(self) -> str | None: ...
    @property
    def at(self) -> datetime | None: ...


class PaymentLike(ConsentLike, Protocol):
    """Any object carrying :class:`PaymentContext`'s fields."""

    @property
    def debtor_account_id(self) -> str | None: ...
    @property
    def consent_created_at(self) -> datetime | None: ...


def consent_context(value: ConsentLike) -> ConsentContext:
    if type(value) is ConsentContext:
        return value
    return ConsentContext(**{field.name: getattr(value, field.name) for field in fields(ConsentContext)})


def payment_context(value: PaymentLike) -> PaymentContext:
    if isinstance(value, PaymentContext):
        return value
    return PaymentContext(**{field.name: getattr(value, field.name) for field in fields(PaymentContext)})
