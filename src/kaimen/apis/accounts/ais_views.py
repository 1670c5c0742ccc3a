"""The AIS response bodies (UK OB v3.1.11, account-info-openapi.json) built from the core's frozen
records and shaped by the consent's ``Grant``. Pure functions: no I/O, no clock.

Every body refuses to be built without the permission that opens its endpoint (``Grant.require``),
so a handler that forgot the check still leaks nothing. Optional fields the core does not hold are
left out, never sent as null. Amounts are OBActiveCurrencyAndAmount_SimpleType
(``^\\d{1,13}$|^\\d{1,13}\\.\\d{1,5}$``) from integer minor units, their sign given as
``CreditDebitIndicator``; date-times are ISO 8601 in UTC with the offset written out.

Non-paginated bodies carry ``Links.Self`` and ``Meta.TotalPages`` 1. Read/Write Data API Profile,
"Pagination": the ASPSP "must provide a link to the next page of resources in the Links.Next field"
and "a link to the previous page of resources in the Links.Prev field" where those pages exist, and
"MUST include a "self" link to the resource in the Links.Self field"; First, Last and Meta.TotalPages
are MAY, and Kaimen gives them. The paginated transactions body is in
kaimen.apis.accounts.ais_transaction_views.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time
from typing import Any

from kaimen.apis.accounts.ais_permissions import Endpoint, Grant
from kaimen.ledger.core import Account, Balance, Party, Product
from kaimen.ledger.money import Money

JSON = dict[str, Any]

# ITU-T E.164 country calling codes are prefix-free: these are the one- and two-digit ones, every other
# code has three digits. OB's PhoneNumber wants the code set off by a hyphen: "+44-7700900123".
_SHORT_CALLING_CODES = frozenset(
    "1 7 20 27 30 31 32 33 34 36 39 40 41 43 44 45 46 47 48 49 51 52 53 54 55 56 57 58 "
    "60 61 62 63 64 65 66 81 82 84 86 90 91 92 93 94 95 98".split()
)


def ob_amount(money: Money) -> JSON:
    """OBActiveOrHistoricCurrencyAndAmount: the unsigned decimal string and the ISO 4217 code."""
    return {"Amount": money.ob_amount(), "Currency": money.currency}


def ob_datetime(moment: datetime) -> str:
    """ISODateTime in UTC with its offset, e.g. ``2026-11-25T09:30:00+00:00``."""
    if moment.tzinfo is UTC:  # as the core hands them out: no conversion to make
        return moment.isoformat()
    if moment.tzinfo is None:
        raise ValueError("date-times in OB bodies must be timezone-aware")
    return moment.astimezone(UTC).isoformat()


def ob_date(day: date) -> str:
    """A date where the spec file types the field ``date-time`` (OBAccount6 ``OpeningDate``): its start,
    UTC."""
    return ob_datetime(datetime.combine(day, time(), UTC))


def ob_phone(number: str) -> str | None:
    """PhoneNumber (``\\+[0-9]{1,3}-[0-9()+\\-]{1,30}``) from E.164 (``+447700900123`` →
    ``+44-7700900123``); a number already in that form is kept; None for anything else, so an
    unreadable number is left out rather than sent malformed."""
    if not number.startswith("+"):
        return None
    head, hyphen, rest = number[1:].partition("-")
    if hyphen:
        valid = head.isdigit() and 1 <= len(head) <= 3 and 1 <= len(rest) <= 30
        return number if valid and all(c.isdigit() or c in "()+-" for c in rest) else None
    digits = number[1:]
    if not digits.isdigit() or len(digits) < 4:
        return None
    size = next((n for n in (1, 2) if digits[:n] in _SHORT_CALLING_CODES), 3)
    return f"+{digits[:size]}-{digits[size:]}"


def compact(fields: JSON) -> JSON:
    """``fields`` without the optional ones that hold nothing (None, "", an empty block)."""
    return {name: value for name, value in fields.items() if value not in (None, "", {}, [])}


def _document(data: JSON, self_url: str) -> JSON:
    return {"Data": data, "Links": {"Self": self_url}, "Meta": {"TotalPages": 1}}


def accounts_body(accounts: Sequence[Account], grant: Grant, self_url: str) -> JSON:
    """OBReadAccount6 for GET /accounts and GET /accounts/{AccountId}. Accounts, "Permission Codes":
    OBReadAccount6/Data/Account/Account and .../Servicer "must not be returned without the
    ReadAccountsDetail permission"; with it, .../Account "must be returned (1..n)". Kaimen holds no
    Servicer."""
    grant.require(Endpoint.ACCOUNTS)
    return _document({"Account": [_account(a, grant.account_detail) for a in accounts]}, self_url)


def _account(account: Account, detail: bool) -> JSON:
    body = compact(
        {
            "AccountId": account.account_id,
            "Status": account.status,
            "Currency": account.currency,
            "AccountType": account.account_type.value,
            "AccountSubType": account.account_subtype.value,
            "Nickname": account.nickname,
            "OpeningDate": ob_date(account.opening_date),
        }
    )
    if detail:
        identification = {
            "SchemeName": account.scheme_name,
            "Identification": account.identification,
            "Name": account.name,
        }
        body["Account"] = [compact(identification)]
    return body


def balances_body(balances: Sequence[Balance], grant: Grant, self_url: str) -> JSON:
    """OBReadBalance1 for GET /accounts/{AccountId}/balances and the bulk GET /balances. ReadBalances:
    "Ability to read all balance information"; nothing is shaped by permission. The schema asks for at
    least one balance (``minItems`` 1), so an empty list is refused rather than answered malformed."""
    grant.require(Endpoint.BALANCES)
    if not balances:
        raise ValueError("OBReadBalance1 holds at least one balance")
    return _document({"Balance": [_balance(b) for b in balances]}, self_url)


def _balance(balance: Balance) -> JSON:
    body: JSON = {
        "AccountId": balance.account_id,
        "CreditDebitIndicator": balance.amount.credit_debit.value,
        "Type": balance.type.value,
        "DateTime": ob_datetime(balance.at),
        "Amount": ob_amount(balance.amount),
    }
    if balance.credit_lines:
        body["CreditLine"] = [
            {"Included": line.included, "Type": line.type.value, "Amount": ob_amount(line.amount)}
            for line in balance.credit_lines
        ]
    return body


def product_body(product: Product, grant: Grant, self_url: str) -> JSON:
    """OBReadProduct2 for GET /accounts/{AccountId}/product: ``AccountId`` and ``ProductType``
    (required), ``ProductId``, ``ProductName`` and, for ProductType Other, ``OtherProductType`` with its
    required ``Name`` and ``Description``. Products, "Permission Codes": ReadProducts opens it."""
    grant.require(Endpoint.ACCOUNT_PRODUCT)
    other = product.other_product_type
    entry = compact(
        {
            "ProductName": product.product_name,
            "ProductId": product.product_id,
            "AccountId": product.account_id,
            "ProductType": product.product_type.value,
            "OtherProductType": other and {"Name": other.name, "Description": other.description},
        }
    )
    return _document({"Product": [entry]}, self_url)


def parties_body(parties: Sequence[Party], grant: Grant, self_url: str) -> JSON:
    """OBReadParty3 for GET /accounts/{AccountId}/parties (ReadParty): "may contain multiple parties",
    each with its ``AccountRole``."""
    grant.require(Endpoint.ACCOUNT_PARTIES)
    return _document({"Party": [_party(p) for p in parties]}, self_url)


def party_body(party: Party | None, grant: Grant, self_url: str) -> JSON:
    """OBReadParty2 for GET /party (ReadPartyPSU): the PSU who authorised the consent; the response
    "must contain at most one party", so a bank holding none answers an empty ``Data``."""
    grant.require(Endpoint.PARTY)
    return _document({} if party is None else {"Party": _party(party)}, self_url)


def _party(party: Party) -> JSON:
    address = party.address
    return compact(
        {
            "PartyId": party.party_id,
            "PartyType": party.party_type,
            "Name": party.name,
            "FullLegalName": party.full_legal_name,
            "AccountRole": party.account_role,
            "EmailAddress": party.email,
            "Mobile": party.mobile and ob_phone(party.mobile),
            "Address": address
            and [
                compact(
                    {
                        "AddressType": address.address_type,
                        "StreetName": address.street_name,
                        "BuildingNumber": address.building_number,
                        "PostCode": address.post_code,
                        "TownName": address.town_name,
                        "Country": address.country,
                    }
                )
            ],
        }
    )
