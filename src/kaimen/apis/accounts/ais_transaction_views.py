"""The transactions body (OBReadTransaction6, account-info-openapi.json) of GET
/accounts/{AccountId}/transactions and the bulk GET /transactions, shaped by the consent's ``Grant``
as the rest of kaimen.apis.accounts.ais_views: pure functions, no I/O, no clock. A page is most of an
AIS call's body, so the bodies of entries read lately are kept (``_BUILT``)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime

from kaimen.apis.accounts.ais_permissions import Endpoint, Grant
from kaimen.apis.accounts.ais_views import JSON, compact, ob_datetime
from kaimen.ledger.core import BalanceType, CounterpartyAccount, Transaction, TransactionPage
from kaimen.store.bounded import BoundedDict

_INTERIM_BOOKED = BalanceType.INTERIM_BOOKED.value

# Transaction bodies built lately, Basic ([False]) and Detail ([True]), by the whole (immutable) record:
# equal records make equal bodies, and a record that differs in any field is a new key. A TPP polls the
# same recent pages again and again, and building these was a third of a page's time
# (bench/profile_accounts.py). The bodies are shared: nothing may change one after it is built (they go
# to orjson and nowhere else). Full, the Detail table holds about 20 MB per worker (10,000 bodies of
# fully detailed card payments, measured with tracemalloc); Basic bodies are smaller.
_BUILT = (BoundedDict[JSON](10_000), BoundedDict[JSON](10_000))


def transactions_body(
    page: TransactionPage,
    grant: Grant,
    self_url: str,
    links: Callable[[int], str],
    *,
    first_available: datetime | None = None,
    last_available: datetime | None = None,
) -> JSON:
    """OBReadTransaction6 for GET /accounts/{AccountId}/transactions and the bulk GET /transactions, one
    page of it. ``links(n)`` is the URL of page n (First, Prev, Next, Last); ``first_available`` and
    ``last_available`` fill ``Meta.FirstAvailableDateTime`` / ``LastAvailableDateTime`` when the
    caller knows the span of history on offer.

    The page should come from a query built with ``grant.transaction_filter``, so that its total counts
    only what the TPP may see; an entry of a direction not granted is dropped here all the same."""
    grant.require(Endpoint.TRANSACTIONS)
    shown = grant.transaction_directions
    detail = grant.transaction_detail
    built, build = _BUILT[detail].built, functools.partial(_transaction, detail=detail)
    entries = [built(t, build) for t in page.items if t.credit_debit in shown]
    last = page.total_pages
    nav: JSON = {"Self": self_url, "First": links(1)}
    if page.page > 1:
        nav["Prev"] = links(min(page.page - 1, last))
    if page.page < last:
        nav["Next"] = links(page.page + 1)
    nav["Last"] = links(last)
    meta = compact(
        {
            "TotalPages": last,
            "FirstAvailableDateTime": first_available and ob_datetime(first_available),
            "LastAvailableDateTime": last_available and ob_datetime(last_available),
        }
    )
    return {"Data": {"Transaction": entries}, "Links": nav, "Meta": meta}


def _transaction(entry: Transaction, detail: bool) -> JSON:
    """Transactions, "Permission Codes": these "must not be returned without the
    ReadTransactionsDetail permission": TransactionInformation, Balance, MerchantDetails,
    CreditorAgent, CreditorAccount, DebtorAgent, DebtorAccount (OBReadTransaction6/Data/Transaction/…).
    Kaimen holds no agents; the other five are given with Detail where the entry has them.

    Built field by field rather than through ``compact`` (25 of these make up most of a page's body):
    an optional field the entry does not hold is left out all the same."""
    amount = entry.amount
    body: JSON = {"AccountId": entry.account_id, "TransactionId": entry.transaction_id}
    if entry.transaction_reference:
        body["TransactionReference"] = entry.transaction_reference
    body["CreditDebitIndicator"] = amount.credit_debit.value
    body["Status"] = entry.status.value
    booked = body["BookingDateTime"] = ob_datetime(entry.booking_at)
    body["ValueDateTime"] = booked if entry.value_at == entry.booking_at else ob_datetime(entry.value_at)
    body["Amount"] = {"Amount": amount.ob_amount(), "Currency": amount.currency}
    code, proprietary = entry.bank_transaction_code, entry.proprietary_code
    if code is not None:
        body["BankTransactionCode"] = {"Code": code.code, "SubCode": code.sub_code}
    if proprietary is not None:
        body["ProprietaryBankTransactionCode"] = {"Code": proprietary.code, "Issuer": proprietary.issuer}
    if not detail:
        return body
    if entry.information:
        body["TransactionInformation"] = entry.information
    balance, merchant = entry.balance, entry.merchant
    if balance is not None:
        body["Balance"] = {
            "CreditDebitIndicator": balance.credit_debit.value,
            "Type": _INTERIM_BOOKED,
            "Amount": {"Amount": balance.ob_amount(), "Currency": balance.currency},
        }
    if merchant is not None:
        body["MerchantDetails"] = {
            "MerchantName": merchant.name,
            "MerchantCategoryCode": merchant.category_code,
        }
    for name, account in (
        ("CreditorAccount", entry.creditor_account),
        ("DebtorAccount", entry.debtor_account),
    ):
        block = _cash_account(account)
        if block:
            body[name] = block
    return body


def _cash_account(account: CounterpartyAccount | None) -> JSON | None:
    """OBCashAccount6: every element optional."""
    if account is None:
        return None
    return compact(
        {
            "SchemeName": account.scheme_name,
            "Identification": account.identification,
            "Name": account.name,
        }
    )
