"""``CoreBanking``: what the Account, Funds and Payment APIs ask of the bank's core, and the frozen
records it answers with. Field names follow UK OB v3.1.11 (OBAccount6, OBReadBalance1, OBTransaction6,
OBParty2, OBReadProduct2); shaping them into response bodies belongs to the APIs.

A transaction and the small records inside it are named tuples: a transactions page builds them by
the dozen, and a frozen dataclass of Transaction's 14 fields cost six times as much to build.

Every read is scoped to a customer: an account of another customer raises ``AccountNotFound``, exactly
as an account that does not exist, so no caller can tell the two apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import NamedTuple, Protocol

from kaimen.ledger.money import CreditDebit, Money

SORT_CODE_ACCOUNT_NUMBER = "UK.OBIE.SortCodeAccountNumber"  # OBExternalAccountIdentification4Code
MAX_PAGE_SIZE = 1000


class AccountType(StrEnum):
    """OBExternalAccountType1Code."""

    PERSONAL = "Personal"
    BUSINESS = "Business"


class AccountSubType(StrEnum):
    """OBExternalAccountSubType1Code (the ones the sandbox ledger opens)."""

    CURRENT_ACCOUNT = "CurrentAccount"
    SAVINGS = "Savings"
    CREDIT_CARD = "CreditCard"


class BalanceType(StrEnum):
    """OBBalanceType1Code (the ones the sandbox ledger reports)."""

    INTERIM_AVAILABLE = "InterimAvailable"
    INTERIM_BOOKED = "InterimBooked"
    CLOSING_BOOKED = "ClosingBooked"


class CreditLineType(StrEnum):
    """OBReadBalance1 ``CreditLine.Type``."""

    PRE_AGREED = "Pre-Agreed"  # an arranged overdraft
    CREDIT = "Credit"  # a credit card's limit


class EntryStatus(StrEnum):
    """OBEntryStatus1Code."""

    BOOKED = "Booked"
    PENDING = "Pending"


class ProductType(StrEnum):
    """OBReadProduct2 ``ProductType``."""

    PERSONAL_CURRENT_ACCOUNT = "PersonalCurrentAccount"
    OTHER = "Other"


@dataclass(frozen=True, slots=True)
class Account:
    """OBAccount6: ``AccountId``, ``Status``, ``Currency``, ``AccountType``, ``AccountSubType``,
    ``Nickname``, ``OpeningDate`` and one ``Account`` entry (``SchemeName``, ``Identification`` = sort
    code + account number, 14 digits, ``Name`` = the holder)."""

    account_id: str
    customer_id: str
    status: str  # OBAccountStatus1Code
    currency: str
    account_type: AccountType
    account_subtype: AccountSubType
    nickname: str | None
    opening_date: date
    scheme_name: str
    identification: str
    name: str | None
    product_id: str


@dataclass(frozen=True, slots=True)
class CreditLine:
    """OBReadBalance1 ``CreditLine``: ``Included`` says whether ``Amount`` is inside the balance."""

    included: bool
    type: CreditLineType
    amount: Money


@dataclass(frozen=True, slots=True)
class Balance:
    """OBReadBalance1 ``Balance``: ``Type``, ``DateTime``, ``Amount`` (signed here: its sign is the
    ``CreditDebitIndicator``) and ``CreditLine``."""

    account_id: str
    type: BalanceType
    amount: Money
    at: datetime
    credit_lines: tuple[CreditLine, ...]


class CounterpartyAccount(NamedTuple):
    """OBCashAccount6 (``CreditorAccount`` / ``DebtorAccount``): every field optional, as in the spec."""

    scheme_name: str | None
    identification: str | None
    name: str | None


class BankTransactionCode(NamedTuple):
    """OBBankTransactionCodeStructure1: ISO 20022 family (``Code``) and sub-family (``SubCode``)."""

    code: str
    sub_code: str


class ProprietaryBankTransactionCode(NamedTuple):
    """ProprietaryBankTransactionCodeStructure1: the bank's own code and its ``Issuer``."""

    code: str
    issuer: str


class Merchant(NamedTuple):
    """OBMerchantDetails1: ``MerchantName`` and ISO 18245 ``MerchantCategoryCode``."""

    name: str
    category_code: str


class Transaction(NamedTuple):
    """OBTransaction6. ``amount`` is signed (its sign is the ``CreditDebitIndicator``); ``balance`` is
    the booked balance after the entry (``Balance``, type InterimBooked), absent while pending;
    ``creditor_account`` is set on debits, ``debtor_account`` on credits, where the other side is an
    account."""

    account_id: str
    transaction_id: str
    transaction_reference: str | None
    amount: Money
    status: EntryStatus
    booking_at: datetime
    value_at: datetime
    information: str
    bank_transaction_code: BankTransactionCode | None
    proprietary_code: ProprietaryBankTransactionCode | None
    merchant: Merchant | None
    balance: Money | None
    creditor_account: CounterpartyAccount | None
    debtor_account: CounterpartyAccount | None

    @property
    def credit_debit(self) -> CreditDebit:
        return self.amount.credit_debit


@dataclass(frozen=True, slots=True)
class TransactionQuery:
    """The ``fromBookingDateTime`` / ``toBookingDateTime`` window (both inclusive, aware datetimes),
    an optional credits-only or debits-only filter (ReadTransactionsCredits / ReadTransactionsDebits),
    and the page wanted (1-based)."""

    from_booking: datetime | None = None
    to_booking: datetime | None = None
    credit_debit: CreditDebit | None = None
    page: int = 1
    page_size: int = 25

    def __post_init__(self) -> None:
        if self.page < 1 or not 1 <= self.page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page must be >= 1 and page_size within 1..{MAX_PAGE_SIZE}")
        for moment in (self.from_booking, self.to_booking):
            if moment is not None and moment.tzinfo is None:
                raise ValueError("booking date-times must be timezone-aware")


@dataclass(frozen=True, slots=True)
class TransactionPage:
    """One page of transactions, newest first (``BookingDateTime`` descending), and how many match."""

    items: tuple[Transaction, ...]
    total: int
    page: int
    page_size: int

    @property
    def total_pages(self) -> int:
        """``Meta.TotalPages``: at least 1, an empty result being one empty page."""
        return max(1, -(-self.total // self.page_size))


@dataclass(frozen=True, slots=True)
class PostalAddress:
    """OBParty2 ``Address``."""

    address_type: str  # OBAddressTypeCode
    building_number: str | None
    street_name: str | None
    town_name: str | None
    post_code: str | None
    country: str  # ISO 3166-1 alpha-2


@dataclass(frozen=True, slots=True)
class Party:
    """OBParty2: ``PartyId``, ``PartyType``, ``Name``, ``FullLegalName``, ``EmailAddress``, ``Mobile``,
    ``Address``; ``AccountRole`` only when read as a party of an account."""

    party_id: str
    party_type: str  # OBExternalPartyType1Code
    name: str
    full_legal_name: str
    email: str | None
    mobile: str | None
    address: PostalAddress | None
    account_role: str | None = None


@dataclass(frozen=True, slots=True)
class OtherProductType:
    """OBReadProduct2 ``OtherProductType`` (``Name``, ``Description``), for ``ProductType`` Other."""

    name: str
    description: str


@dataclass(frozen=True, slots=True)
class Product:
    """OBReadProduct2 ``Product``: ``ProductId``, ``ProductName``, ``ProductType``."""

    account_id: str
    product_id: str
    product_name: str
    product_type: ProductType
    other_product_type: OtherProductType | None


@dataclass(frozen=True, slots=True)
class TransferRequest:
    """A transfer out of a customer's account. ``reference`` is the caller's posting reference: the
    same reference always answers with the first posting, never a second one. ``creditor`` is the
    payee as the payment names it (OBWriteDomestic2 ``CreditorAccount``): an account of this bank is
    credited directly, any other goes out through the bank's clearing account. ``information`` is the
    debtor's ``TransactionInformation``; ``remittance_reference`` becomes ``TransactionReference``."""

    reference: str
    customer_id: str
    debtor_account_id: str
    creditor: CounterpartyAccount
    amount: Money
    information: str
    remittance_reference: str | None = None


@dataclass(frozen=True, slots=True)
class Posting:
    """A posted transfer: the debtor's ``TransactionId`` and when it was booked."""

    posting_id: str
    reference: str
    debtor_account_id: str
    transaction_id: str
    amount: Money
    status: EntryStatus
    booked_at: datetime


class CoreBanking(Protocol):
    """The bank's core as Kaimen's APIs see it. Reads raise ``AccountNotFound`` for any account that
    is not the customer's; ``post_transfer`` raises a ``PostingRefused`` and writes nothing when it
    refuses."""

    async def accounts(self, customer_id: str) -> list[Account]:
        """The customer's accounts (GET /accounts), in a stable order."""
        ...

    async def account(self, customer_id: str, account_id: str) -> Account:
        """One of the customer's accounts (GET /accounts/{AccountId})."""
        ...

    async def balances(self, customer_id: str, account_id: str) -> list[Balance]:
        """InterimAvailable, InterimBooked and ClosingBooked (GET /accounts/{AccountId}/balances)."""
        ...

    async def transactions(
        self, customer_id: str, account_ids: Sequence[str], query: TransactionQuery
    ) -> TransactionPage:
        """Transactions of one or more of the customer's accounts, newest first, one page of them
        (GET /accounts/{AccountId}/transactions and the bulk GET /transactions)."""
        ...

    async def party(self, customer_id: str) -> Party:
        """The customer as a party (GET /party); ``PartyNotFound`` when the bank holds none."""
        ...

    async def account_parties(self, customer_id: str, account_id: str) -> list[Party]:
        """The parties of an account, with their ``AccountRole`` (GET /accounts/{AccountId}/parties)."""
        ...

    async def product(self, customer_id: str, account_id: str) -> Product:
        """The product an account is held under (GET /accounts/{AccountId}/product)."""
        ...

    async def funds_available(self, customer_id: str, account_id: str, amount: Money) -> bool:
        """Whether ``amount`` can be debited now (InterimAvailable incl. any credit line)."""
        ...

    async def post_transfer(self, request: TransferRequest) -> Posting:
        """Debit the debtor, credit the creditor, in one database transaction; idempotent on
        ``request.reference``."""
        ...
