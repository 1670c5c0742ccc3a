"""The sandbox ledger's tables, registered on Kaimen's declarative ``Base`` (kaimen.store.models).

Double entry: a posting is one business event (a salary, a card purchase, a transfer); its entries, one
per account touched, sum to zero. Balances are sums of entries, never stored apart from them. A
customer account's entries carry their ordinal in the account (``seq``, unique per account, so two
writers can never both append entry n) and the booked balance after them (``balance_after``, the
OBTransaction6 ``Balance``). The bank's internal accounts (the "world" standing in for outside
parties, outbound clearing) have neither: nobody reads their statement, and no transfer waits on them.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from kaimen.store.models import Base
from kaimen.store.types import UTCDateTime


class LedgerParty(Base):
    """A customer as the bank's core knows them (OBParty2)."""

    __tablename__ = "ledger_parties"

    customer_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    party_id: Mapped[str] = mapped_column(String(40), unique=True)
    party_type: Mapped[str] = mapped_column(String(16))  # Sole | Joint | Delegate
    name: Mapped[str] = mapped_column(String(350))
    full_legal_name: Mapped[str] = mapped_column(String(350))
    email: Mapped[str | None] = mapped_column(String(256), nullable=True)
    mobile: Mapped[str | None] = mapped_column(String(32), nullable=True)
    building_number: Mapped[str | None] = mapped_column(String(16), nullable=True)
    street_name: Mapped[str | None] = mapped_column(String(70), nullable=True)
    town_name: Mapped[str | None] = mapped_column(String(35), nullable=True)
    post_code: Mapped[str | None] = mapped_column(String(16), nullable=True)
    country: Mapped[str] = mapped_column(String(2))


class LedgerAccount(Base):
    """An account: a customer's (``customer_id`` set, OBAccount6) or the bank's own (internal)."""

    __tablename__ = "ledger_accounts"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    customer_id: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)
    # Sort code + account number (UK.OBIE.SortCodeAccountNumber); internal accounts have none.
    identification: Mapped[str | None] = mapped_column(String(14), nullable=True, unique=True)
    currency: Mapped[str] = mapped_column(String(3))
    account_type: Mapped[str] = mapped_column(String(16))
    account_subtype: Mapped[str] = mapped_column(String(16))
    nickname: Mapped[str | None] = mapped_column(String(70), nullable=True)
    product_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    # Arranged overdraft or card limit in minor units (0: none); its type follows the sub-type.
    credit_limit: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[str] = mapped_column(String(16))  # OBAccountStatus1Code
    opening_date: Mapped[date] = mapped_column(Date)
    # A customer account's: moved by the database whenever one of its entries is inserted, updated or
    # deleted (triggers, migration 0018); kaimen.ledger.entry_pages keeps built pages under it.
    entries_version: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))


class LedgerPosting(Base):
    """One business event; ``reference`` is unique, which makes a repeated transfer a no-op."""

    __tablename__ = "ledger_postings"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    reference: Mapped[str] = mapped_column(String(128), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # salary | rent | utility | card | transfer | ...
    amount: Mapped[int] = mapped_column(BigInteger)  # what moved, in minor units (> 0)
    currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class LedgerEntry(Base):
    """One side of a posting on one account; ``id`` is the OBTransaction6 ``TransactionId``."""

    __tablename__ = "ledger_entries"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    posting_id: Mapped[str] = mapped_column(ForeignKey("ledger_postings.id"), index=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("ledger_accounts.id"))
    seq: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Moved by the database on every UPDATE of the row (a trigger, migration 0016): (id, version) names
    # one content of the entry, which kaimen.ledger.entry_pages caches records by.
    version: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    amount: Mapped[int] = mapped_column(BigInteger)  # signed: credit > 0, debit < 0
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(8))  # Booked | Pending
    booked_at: Mapped[datetime] = mapped_column(UTCDateTime())
    value_at: Mapped[datetime] = mapped_column(UTCDateTime())
    balance_after: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    transaction_reference: Mapped[str | None] = mapped_column(String(210), nullable=True)
    information: Mapped[str] = mapped_column(String(500))
    btc_code: Mapped[str | None] = mapped_column(String(35), nullable=True)
    btc_sub_code: Mapped[str | None] = mapped_column(String(35), nullable=True)
    proprietary_code: Mapped[str | None] = mapped_column(String(35), nullable=True)
    merchant_name: Mapped[str | None] = mapped_column(String(350), nullable=True)
    merchant_category_code: Mapped[str | None] = mapped_column(String(4), nullable=True)
    # The other side, as OBCashAccount6: CreditorAccount on a debit, DebtorAccount on a credit.
    counterparty_scheme: Mapped[str | None] = mapped_column(String(40), nullable=True)
    counterparty_identification: Mapped[str | None] = mapped_column(String(256), nullable=True)
    counterparty_name: Mapped[str | None] = mapped_column(String(350), nullable=True)

    __table_args__ = (
        UniqueConstraint("account_id", "seq", name="uq_ledger_entries_account_seq"),
        # A page's order, then what kaimen.ledger.entry_pages reads of it: the first step of a page read
        # never leaves the index (migration 0017).
        Index("ix_ledger_entries_page", "account_id", "booked_at", "seq", "id", "version"),
    )
