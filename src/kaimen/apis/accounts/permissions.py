"""The account-access permission codes (UK OB v3.1.11, OBReadConsent1 ``Data.Permissions``) and the
rules the Account and Transaction API Profile gives them ("Consent Elements", "Permissions").

Which permissions Kaimen accepts follows from which endpoints it serves: the profile's table maps each
permission to its endpoints, and "Account Access Consents with a permission code that is not supported
by the ASPSP (ASPSPs are expected to publish which API endpoints are supported)" must be rejected with
400. Kaimen serves accounts, balances, transactions, the account's product, its parties and the PSU's
party (issue 4, item 3), so it accepts ReadAccountsBasic/Detail, ReadBalances, ReadTransactions*,
ReadProducts, ReadParty and ReadPartyPSU, and refuses beneficiaries, direct debits, standing orders,
scheduled payments, statements and offers, and ReadPAN: that code asks for "PAN in the clear" and Kaimen
holds no PAN to show (DESIGN.md: never a full PAN), so a customer would be asked to grant something
that is never given.
"""

from __future__ import annotations

from collections.abc import Sequence

from kaimen.apis.accounts.errors import FieldExpected, FieldInvalid

PATH = "Data.Permissions"
_ACCOUNT = "/accounts/{AccountId}"

# Account and Transaction API Profile, "Permissions" table: permission -> endpoints it opens.
PERMISSION_ENDPOINTS: dict[str, frozenset[str]] = {
    "ReadAccountsBasic": frozenset({"/accounts", _ACCOUNT}),
    "ReadAccountsDetail": frozenset({"/accounts", _ACCOUNT}),
    "ReadBalances": frozenset({"/balances", f"{_ACCOUNT}/balances"}),
    "ReadBeneficiariesBasic": frozenset({"/beneficiaries", f"{_ACCOUNT}/beneficiaries"}),
    "ReadBeneficiariesDetail": frozenset({"/beneficiaries", f"{_ACCOUNT}/beneficiaries"}),
    "ReadDirectDebits": frozenset({"/direct-debits", f"{_ACCOUNT}/direct-debits"}),
    "ReadOffers": frozenset({"/offers", f"{_ACCOUNT}/offers"}),
    # "All API endpoints where PAN is available as a structured field": none in Kaimen.
    "ReadPAN": frozenset(),
    "ReadParty": frozenset({f"{_ACCOUNT}/party", f"{_ACCOUNT}/parties"}),
    "ReadPartyPSU": frozenset({"/party"}),
    "ReadProducts": frozenset({"/products", f"{_ACCOUNT}/product"}),
    "ReadScheduledPaymentsBasic": frozenset({"/scheduled-payments", f"{_ACCOUNT}/scheduled-payments"}),
    "ReadScheduledPaymentsDetail": frozenset({"/scheduled-payments", f"{_ACCOUNT}/scheduled-payments"}),
    "ReadStandingOrdersBasic": frozenset({"/standing-orders", f"{_ACCOUNT}/standing-orders"}),
    "ReadStandingOrdersDetail": frozenset({"/standing-orders", f"{_ACCOUNT}/standing-orders"}),
    "ReadStatementsBasic": frozenset({"/statements", f"{_ACCOUNT}/statements"}),
    "ReadStatementsDetail": frozenset(
        {"/statements", f"{_ACCOUNT}/statements", f"{_ACCOUNT}/statements/{{StatementId}}/file"}
    ),
    **{
        name: frozenset(
            {
                "/transactions",
                f"{_ACCOUNT}/transactions",
                f"{_ACCOUNT}/statements/{{StatementId}}/transactions",
            }
        )
        for name in (
            "ReadTransactionsBasic",
            "ReadTransactionsCredits",
            "ReadTransactionsDebits",
            "ReadTransactionsDetail",
        )
    },
}
PERMISSIONS: frozenset[str] = frozenset(PERMISSION_ENDPOINTS)

# The AIS endpoints Kaimen serves (issue 4, item 3).
SERVED_ENDPOINTS = frozenset(
    {
        "/accounts",
        _ACCOUNT,
        "/balances",
        f"{_ACCOUNT}/balances",
        "/transactions",
        f"{_ACCOUNT}/transactions",
        f"{_ACCOUNT}/product",
        f"{_ACCOUNT}/parties",
        "/party",
    }
)
SUPPORTED: frozenset[str] = frozenset(
    p for p, ends in PERMISSION_ENDPOINTS.items() if ends & SERVED_ENDPOINTS
)

ACCOUNTS = frozenset({"ReadAccountsBasic", "ReadAccountsDetail"})
TRANSACTION_DEPTH = frozenset({"ReadTransactionsBasic", "ReadTransactionsDetail"})
TRANSACTION_DIRECTION = frozenset({"ReadTransactionsCredits", "ReadTransactionsDebits"})


def checked_permissions(value: object) -> tuple[str, ...]:
    """``Data.Permissions`` as given, once every rule holds; raises the OB refusal of the first that
    does not. A Basic code next to its Detail code is accepted: the profile says it "is not a malformed
    request, and the ASPSP must not reject solely on the basis of duplication"."""
    codes = _known_codes(value)
    _supported(codes)
    _combinations(frozenset(codes))
    return codes


def _known_codes(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(code, str) for code in value):
        raise FieldInvalid("Permissions must be an array of permission codes", path=PATH)
    # Profile: "Account Access Consents with an empty Permissions array" are rejected (schema: minItems 1).
    if not value:
        raise FieldInvalid("Permissions must not be empty", path=PATH)
    for code in value:
        if code not in PERMISSIONS:
            raise FieldInvalid(f"unknown permission code {code[:64]!r}", path=PATH)
    if len(set(value)) != len(value):
        # The same code twice says nothing more; refused so a TPP's request is never ambiguous.
        repeated = next(code for code in value if value.count(code) > 1)
        raise FieldInvalid(f"permission {repeated} is listed more than once", path=PATH)
    return tuple(value)


def _supported(codes: Sequence[str]) -> None:
    for code in codes:
        if code not in SUPPORTED:
            raise FieldInvalid(
                f"permission {code} is not supported: this bank serves " + ", ".join(sorted(SUPPORTED)),
                path=PATH,
            )


def _combinations(codes: frozenset[str]) -> None:
    """Profile, "Permissions": "The permissions array must contain at least ReadAccountsBasic or
    ReadAccountsDetail", and the ASPSP "must reject" a Permissions array that contains
    ReadTransactionsBasic or ReadTransactionsDetail "but does not contain at least one of
    ReadTransactionsCredits and ReadTransactionsDebits", or ReadTransactionsCredits or
    ReadTransactionsDebits "but does not contain at least one of ReadTransactionsBasic and
    ReadTransactionsDetail"."""
    if not codes & ACCOUNTS:
        raise FieldExpected("Permissions must contain ReadAccountsBasic or ReadAccountsDetail", path=PATH)
    if codes & TRANSACTION_DEPTH and not codes & TRANSACTION_DIRECTION:
        raise FieldExpected(
            "ReadTransactionsBasic and ReadTransactionsDetail need ReadTransactionsCredits or "
            "ReadTransactionsDebits",
            path=PATH,
        )
    if codes & TRANSACTION_DIRECTION and not codes & TRANSACTION_DEPTH:
        raise FieldExpected(
            "ReadTransactionsCredits and ReadTransactionsDebits need ReadTransactionsBasic or "
            "ReadTransactionsDetail",
            path=PATH,
        )
