"""What an authorised account-access consent lets a TPP read: the ``Grant`` the AIS resources consult
before they ask the core for anything, and again when they shape a body (UK OB v3.1.11).

The rules, from the Account and Transaction API Profile, "Consent Elements" > "Permissions" (its
table maps each permission to the endpoints it opens; ``permissions.PERMISSION_ENDPOINTS`` holds it):

- ReadAccountsBasic / ReadAccountsDetail open ``/accounts`` and ``/accounts/{AccountId}``;
  ReadBalances ``/balances`` and ``/accounts/{AccountId}/balances``; ReadProducts
  ``/accounts/{AccountId}/product``; ReadParty ``/accounts/{AccountId}/parties``; ReadPartyPSU
  ``/party``. Resources "Parties", "Permission Codes": "The ReadParty permission is required to access
  GET /accounts/{AccountId}/party or GET /accounts/{AccountId}/parties" and "The ReadPartyPSU
  permission is required to access GET /party".
- The transaction endpoints need a depth (ReadTransactionsBasic or ReadTransactionsDetail) and a
  direction (ReadTransactionsCredits and/or ReadTransactionsDebits): the profile makes the consent
  "must reject" one without the other, and the Grant fails closed on such a set as well.
- "When a permission is granted for a "Detail" permission code (e.g., ReadAccountsDetail) it implies
  that access is also granted to the corresponding "Basic" permission code", and where both are held
  "the most detailed level (ReadAccountsDetail) must be used" (Resources "Accounts" and "Transactions",
  "Permission Codes"). What Detail adds is listed where the body is shaped (``ais_views``).
- ReadTransactionsCredits: "Ability to read only credit transactions"; ReadTransactionsDebits: "Ability
  to read only debit transactions" (profile table; the Transactions resource page states the same two
  rules with Credits and Debits swapped, an evident slip that the profile's table corrects).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from kaimen.apis.accounts.permissions import (
    PERMISSION_ENDPOINTS,
    PERMISSIONS,
    TRANSACTION_DEPTH,
    TRANSACTION_DIRECTION,
)
from kaimen.errors import Forbidden
from kaimen.ledger.money import CreditDebit

ACCOUNTS_DETAIL = "ReadAccountsDetail"
TRANSACTIONS_DETAIL = "ReadTransactionsDetail"
_DIRECTIONS = {"ReadTransactionsCredits": CreditDebit.CREDIT, "ReadTransactionsDebits": CreditDebit.DEBIT}


class Endpoint(StrEnum):
    """The AIS endpoints Kaimen serves (issue 4, item 3), spelt as the profile's permission table and
    the spec file's ``paths`` spell them."""

    ACCOUNTS = "/accounts"
    ACCOUNT = "/accounts/{AccountId}"
    BALANCES = "/balances"
    ACCOUNT_BALANCES = "/accounts/{AccountId}/balances"
    TRANSACTIONS = "/transactions"
    ACCOUNT_TRANSACTIONS = "/accounts/{AccountId}/transactions"
    ACCOUNT_PRODUCT = "/accounts/{AccountId}/product"
    ACCOUNT_PARTIES = "/accounts/{AccountId}/parties"
    PARTY = "/party"


_TRANSACTION_ENDPOINTS = frozenset({Endpoint.TRANSACTIONS, Endpoint.ACCOUNT_TRANSACTIONS})


class PermissionNotGranted(Forbidden):
    """403: the consent's permissions do not open this endpoint. Same status and code as a token whose
    scope does not admit the call (kaimen.apis.accounts.errors.ClientCredentialsRequired)."""

    title = "The consent does not grant access to this resource"
    ob_code = "UK.OBIE.Resource.ConsentMismatch"


@dataclass(frozen=True, slots=True)
class Grant:
    """The permission codes of one authorised consent (OBReadConsent1 ``Data.Permissions``)."""

    permissions: frozenset[str]

    def __post_init__(self) -> None:
        unknown = self.permissions - PERMISSIONS
        if unknown:
            raise ValueError(f"unknown permission codes: {', '.join(sorted(unknown))}")

    @classmethod
    def of(cls, codes: Iterable[str]) -> Grant:
        return cls(frozenset(codes))

    def allows(self, endpoint: Endpoint) -> bool:
        """Whether the TPP may read ``endpoint`` at all."""
        if endpoint in _TRANSACTION_ENDPOINTS:
            return bool(self.permissions & TRANSACTION_DEPTH and self.permissions & TRANSACTION_DIRECTION)
        return any(endpoint in PERMISSION_ENDPOINTS[code] for code in self.permissions)

    def require(self, endpoint: Endpoint) -> None:
        """Pass if ``allows(endpoint)``, else raise ``PermissionNotGranted``."""
        if not self.allows(endpoint):
            raise PermissionNotGranted(f"the consent's permissions do not open GET {endpoint}")

    @property
    def account_detail(self) -> bool:
        """ReadAccountsDetail held: OBAccount6 carries its ``Account`` (identification) block."""
        return ACCOUNTS_DETAIL in self.permissions

    @property
    def transaction_detail(self) -> bool:
        """ReadTransactionsDetail held: OBTransaction6 carries the Detail-only elements."""
        return TRANSACTIONS_DETAIL in self.permissions

    @property
    def transaction_directions(self) -> frozenset[CreditDebit]:
        """The entries the TPP may see: credits, debits or both (empty: no transactions at all)."""
        return frozenset(side for code, side in _DIRECTIONS.items() if code in self.permissions)

    @property
    def transaction_filter(self) -> CreditDebit | None:
        """``TransactionQuery.credit_debit`` for this grant: the one direction granted, or None when both
        are. Raises ``PermissionNotGranted`` when the transaction endpoints are closed, so a missing
        direction can never read as "no filter"."""
        self.require(Endpoint.TRANSACTIONS)
        directions = self.transaction_directions
        if len(directions) == 1:
            (only,) = directions
            return only
        return None
