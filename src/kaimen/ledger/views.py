"""Rows of the ledger's tables as the frozen records of ``kaimen.ledger.core``."""

from __future__ import annotations

from kaimen.ledger.core import (
    SORT_CODE_ACCOUNT_NUMBER,
    Account,
    AccountSubType,
    AccountType,
    Party,
    PostalAddress,
)
from kaimen.ledger.models import LedgerAccount, LedgerParty

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
