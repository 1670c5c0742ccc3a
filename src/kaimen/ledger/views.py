"""Rows of the ledger's tables as the frozen records of ``kaimen.ledger.core``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row

from kaimen.ledger.codes import ISSUER
from kaimen.ledger.core import (
    SORT_CODE_ACCOUNT_NUMBER,
    Account,
    AccountSubType,
    AccountType,
    BankTransactionCode,
    CounterpartyAccount,
    EntryStatus,
    Merchant,
    Party,
    PostalAddress,
    ProprietaryBankTransactionCode,
    Transaction,
)
from kaimen.ledger.models import LedgerAccount, LedgerEntry, LedgerParty
from kaimen.ledger.money import Money

PRINCIPAL = "UK.OBIE.Principal"  # OBExternalAccountRole1Code of a sole account holder


def account_view(row: LedgerAccount, holder_name: str | None) -> Account:
    assert row.customer_id is not None and row.identification is not None and row.product_id is not None
    return Account(
        account_id=row.id,
        customer_id=row.customer_id,
        status=row.status,
        currency=row.currency,
        account_type=AccountType(row.account_type),
        account_subtype=AccountSubType(row.account_subtype),
        nickname=row.nickname,
        opening_date=row.opening_date,
        scheme_name=SORT_CODE_ACCOUNT_NUMBER,
        identification=row.identification,
        name=holder_name,
        product_id=row.product_id,
    )


def transaction_view(row: LedgerEntry | Row[Any]) -> Transaction:
    """From an entry, or a row of its table's columns (the same attribute names)."""
    counterparty = None
    if row.counterparty_scheme or row.counterparty_identification or row.counterparty_name:
        counterparty = CounterpartyAccount(
            row.counterparty_scheme, row.counterparty_identification, row.counterparty_name
        )
    return Transaction(
        account_id=row.account_id,
        transaction_id=row.id,
        transaction_reference=row.transaction_reference,
        amount=Money(row.amount, row.currency),
        status=EntryStatus(row.status),
        booking_at=row.booked_at,
        value_at=row.value_at,
        information=row.information,
        bank_transaction_code=(
            BankTransactionCode(row.btc_code, row.btc_sub_code) if row.btc_code and row.btc_sub_code else None
        ),
        proprietary_code=(
            ProprietaryBankTransactionCode(row.proprietary_code, ISSUER) if row.proprietary_code else None
        ),
        merchant=(
            Merchant(row.merchant_name, row.merchant_category_code)
            if row.merchant_name and row.merchant_category_code
            else None
        ),
        balance=Money(row.balance_after, row.currency) if row.balance_after is not None else None,
        creditor_account=counterparty if row.amount < 0 else None,
        debtor_account=counterparty if row.amount > 0 else None,
    )


def party_view(row: LedgerParty, account_role: str | None = None) -> Party:
    address = None
    if row.street_name or row.town_name or row.post_code:
        address = PostalAddress(
            address_type="Residential",
            building_number=row.building_number,
            street_name=row.street_name,
            town_name=row.town_name,
            post_code=row.post_code,
            country=row.country,
        )
    return Party(
        party_id=row.party_id,
        party_type=row.party_type,
        name=row.name,
        full_legal_name=row.full_legal_name,
        email=row.email,
        mobile=row.mobile,
        address=address,
        account_role=account_role,
    )
