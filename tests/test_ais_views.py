"""AIS permissions and response bodies (UK OB v3.1.11): which endpoint each permission opens, Basic vs
Detail shaping, credit/debit filtering, amounts from minor units, pagination links; every body checked
against the spec file's response schema, by hand-made records and by a seeded sandbox ledger."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from kaimen.apis.accounts.ais_permissions import Endpoint, Grant, PermissionNotGranted
from kaimen.apis.accounts.ais_transaction_views import transactions_body
from kaimen.apis.accounts.ais_views import (
    accounts_body,
    balances_body,
    ob_amount,
    ob_date,
    ob_datetime,
    ob_phone,
    parties_body,
    party_body,
    product_body,
)
from kaimen.apis.accounts.permissions import SERVED_ENDPOINTS
from kaimen.ledger.core import (
    BalanceType,
    EntryStatus,
    OtherProductType,
    Party,
    PostalAddress,
    Product,
    ProductType,
    TransactionPage,
    TransactionQuery,
)
from kaimen.ledger.history import seed_history
from kaimen.ledger.money import CreditDebit, Money
from kaimen.ledger.sandbox import sandbox_core_banking
from kaimen.store.db import Database
from tests.ais_views_support import (
    AT,
    assert_conforms,
    make_account,
    make_balance,
    make_transaction,
)

BASE = "https://bank.example/open-banking/v3.1/aisp"
BASIC = "ReadAccountsBasic"
DETAIL = "ReadAccountsDetail"
TX_BASIC, TX_DETAIL = "ReadTransactionsBasic", "ReadTransactionsDetail"
CREDITS, DEBITS = "ReadTransactionsCredits", "ReadTransactionsDebits"
EVERYTHING = Grant.of(
    [DETAIL, "ReadBalances", TX_DETAIL, CREDITS, DEBITS, "ReadProducts", "ReadParty", "ReadPartyPSU"]
)
BASIC_ONLY = Grant.of([BASIC, "ReadBalances", TX_BASIC, CREDITS, DEBITS, "ReadProducts"])
# OBReadTransaction6/Data/Transaction elements that "must not be returned without the
# ReadTransactionsDetail permission" (Transactions, "Permission Codes").
DETAIL_ONLY_TRANSACTION_FIELDS = {
    "TransactionInformation",
    "Balance",
    "MerchantDetails",
    "CreditorAgent",
    "CreditorAccount",
    "DebtorAgent",
    "DebtorAccount",
}


def page_url(path: str) -> Callable[[int], str]:
    """The URL of page n of ``path``: what the resource hands ``transactions_body`` as ``links``."""
    return lambda n: f"{BASE}{path}?page={n}"


# --- Grant: which endpoint each permission opens ---------------------------------------------------


@pytest.mark.parametrize(
    ("codes", "opened"),
    [
        ([BASIC], {Endpoint.ACCOUNTS, Endpoint.ACCOUNT}),
        ([DETAIL], {Endpoint.ACCOUNTS, Endpoint.ACCOUNT}),
        (
            [BASIC, "ReadBalances"],
            {Endpoint.ACCOUNTS, Endpoint.ACCOUNT, Endpoint.BALANCES, Endpoint.ACCOUNT_BALANCES},
        ),
        (
            [BASIC, TX_BASIC, CREDITS],
            {Endpoint.ACCOUNTS, Endpoint.ACCOUNT, Endpoint.TRANSACTIONS, Endpoint.ACCOUNT_TRANSACTIONS},
        ),
        (
            [BASIC, TX_DETAIL, DEBITS],
            {Endpoint.ACCOUNTS, Endpoint.ACCOUNT, Endpoint.TRANSACTIONS, Endpoint.ACCOUNT_TRANSACTIONS},
        ),
        # A depth without a direction, or a direction without a depth, opens no transactions.
        ([BASIC, TX_DETAIL], {Endpoint.ACCOUNTS, Endpoint.ACCOUNT}),
        ([BASIC, CREDITS, DEBITS], {Endpoint.ACCOUNTS, Endpoint.ACCOUNT}),
        ([BASIC, "ReadProducts"], {Endpoint.ACCOUNTS, Endpoint.ACCOUNT, Endpoint.ACCOUNT_PRODUCT}),
        # ReadParty opens the account's parties, ReadPartyPSU the PSU's own party: never the other.
        ([BASIC, "ReadParty"], {Endpoint.ACCOUNTS, Endpoint.ACCOUNT, Endpoint.ACCOUNT_PARTIES}),
        ([BASIC, "ReadPartyPSU"], {Endpoint.ACCOUNTS, Endpoint.ACCOUNT, Endpoint.PARTY}),
        (["ReadBalances"], {Endpoint.BALANCES, Endpoint.ACCOUNT_BALANCES}),
        (["ReadPAN", "ReadBeneficiariesDetail", "ReadStatementsDetail"], set()),
    ],
)
def test_each_permission_opens_exactly_the_endpoints_of_the_profile_table(
    codes: list[str], opened: set[Endpoint]
) -> None:
    grant = Grant.of(codes)
    assert {e for e in Endpoint if grant.allows(e)} == opened
    for endpoint in set(Endpoint) - opened:
        with pytest.raises(PermissionNotGranted) as refused:
            grant.require(endpoint)
        assert refused.value.status == 403
        assert refused.value.ob_code == "UK.OBIE.Resource.ConsentMismatch"


def test_every_endpoint_the_grant_knows_is_one_kaimen_serves() -> None:
    assert {e.value for e in Endpoint} == SERVED_ENDPOINTS


def test_an_unknown_permission_code_is_refused() -> None:
    with pytest.raises(ValueError, match="ReadEverything"):
        Grant.of([BASIC, "ReadEverything"])


@pytest.mark.parametrize(
    ("codes", "account_detail", "transaction_detail"),
    [
        ([BASIC, TX_BASIC, CREDITS], False, False),
        ([DETAIL, TX_DETAIL, CREDITS], True, True),
        # Both levels held: "the most detailed level ... must be used".
        ([BASIC, DETAIL, TX_BASIC, TX_DETAIL, CREDITS], True, True),
        ([DETAIL, TX_BASIC, DEBITS], True, False),
    ],
)
def test_detail_wins_over_basic(codes: list[str], account_detail: bool, transaction_detail: bool) -> None:
    grant = Grant.of(codes)
    assert (grant.account_detail, grant.transaction_detail) == (account_detail, transaction_detail)


@pytest.mark.parametrize(
    ("directions", "wanted"),
    [([CREDITS], CreditDebit.CREDIT), ([DEBITS], CreditDebit.DEBIT), ([CREDITS, DEBITS], None)],
)
def test_the_transaction_filter_is_the_one_direction_granted(
    directions: list[str], wanted: CreditDebit | None
) -> None:
    grant = Grant.of([BASIC, TX_BASIC, *directions])
    assert grant.transaction_filter == wanted
    assert TransactionQuery(credit_debit=grant.transaction_filter).credit_debit == wanted


def test_no_transaction_permission_never_reads_as_no_filter() -> None:
    with pytest.raises(PermissionNotGranted):
        _ = Grant.of([BASIC, TX_DETAIL]).transaction_filter


# --- formats -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("minor", "amount", "indicator"),
    [
        (123456, "1234.56", "Credit"),
        (-123456, "1234.56", "Debit"),
        (5, "0.05", "Credit"),
        (-70, "0.70", "Debit"),
        (0, "0.00", "Credit"),
        (100_000_000_001, "1000000000.01", "Credit"),
    ],
)
def test_amounts_are_decimal_strings_from_minor_units(minor: int, amount: str, indicator: str) -> None:
    assert ob_amount(Money(minor, "GBP")) == {"Amount": amount, "Currency": "GBP"}
    body = balances_body([make_balance(minor)], EVERYTHING, f"{BASE}/accounts/acc_1/balances")
    (balance,) = body["Data"]["Balance"]
    assert balance["Amount"] == {"Amount": amount, "Currency": "GBP"}
    assert balance["CreditDebitIndicator"] == indicator


def test_date_times_are_utc_with_the_offset_written_out() -> None:
    taipei = datetime(2026, 11, 26, 1, 30, 15, tzinfo=timezone(timedelta(hours=8)))
    assert ob_datetime(taipei) == "2026-11-25T17:30:15+00:00"
    assert ob_date(date(2020, 1, 15)) == "2020-01-15T00:00:00+00:00"
    with pytest.raises(ValueError, match="timezone-aware"):
        ob_datetime(datetime(2026, 11, 25, 9, 30))


@pytest.mark.parametrize(
    ("number", "ob"),
    [
        ("+447700900123", "+44-7700900123"),
        ("+12125550123", "+1-2125550123"),
        ("+79161234567", "+7-9161234567"),
        ("+353861234567", "+353-861234567"),
        ("+886912345678", "+886-912345678"),
        ("+44-7700900123", "+44-7700900123"),
        ("07700 900123", None),
        ("+44 7700 900123", None),
        ("+4412-", None),
    ],
)
def test_phone_numbers_take_the_ob_form(number: str, ob: str | None) -> None:
    assert ob_phone(number) == ob


# --- accounts ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/accounts", "/accounts/{AccountId}"])
def test_accounts_with_detail_carry_the_identification_block(path: str) -> None:
    body = accounts_body([make_account()], Grant.of([DETAIL]), f"{BASE}/accounts")
    assert_conforms(path, body)
    assert body == {
        "Data": {
            "Account": [
                {
                    "AccountId": "acc_1",
                    "Status": "Enabled",
                    "Currency": "GBP",
                    "AccountType": "Personal",
                    "AccountSubType": "CurrentAccount",
                    "Nickname": "Bills",
                    "OpeningDate": "2020-01-15T00:00:00+00:00",
                    "Account": [
                        {
                            "SchemeName": "UK.OBIE.SortCodeAccountNumber",
                            "Identification": "80200110203345",
                            "Name": "Alice Chen",
                        }
                    ],
                }
            ]
        },
        "Links": {"Self": f"{BASE}/accounts"},
        "Meta": {"TotalPages": 1},
    }


@pytest.mark.parametrize("path", ["/accounts", "/accounts/{AccountId}"])
def test_accounts_basic_omit_the_identification_block(path: str) -> None:
    accounts = [make_account(), make_account("acc_2", nickname=None, name=None)]
    body = accounts_body(accounts, Grant.of([BASIC]), f"{BASE}/accounts")
    assert_conforms(path, body)
    first, second = body["Data"]["Account"]
    assert "Account" not in first and "Account" not in second and "Servicer" not in first
    assert first["AccountId"] == "acc_1" and first["Nickname"] == "Bills"
    # A Nickname the core does not hold is left out, not sent as null.
    assert second == {
        "AccountId": "acc_2",
        "Status": "Enabled",
        "Currency": "GBP",
        "AccountType": "Personal",
        "AccountSubType": "CurrentAccount",
        "OpeningDate": "2020-01-15T00:00:00+00:00",
    }


def test_detail_without_a_holder_name_still_identifies_the_account() -> None:
    body = accounts_body([make_account(name=None)], Grant.of([BASIC, DETAIL]), f"{BASE}/accounts")
    assert_conforms("/accounts", body)
    assert body["Data"]["Account"][0]["Account"] == [
        {"SchemeName": "UK.OBIE.SortCodeAccountNumber", "Identification": "80200110203345"}
    ]


# --- balances ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/balances", "/accounts/{AccountId}/balances"])
def test_balances_in_the_ob_shape(path: str) -> None:
    balances = [
        make_balance(-2_550, BalanceType.INTERIM_AVAILABLE, limit=150_000),
        make_balance(123_456, BalanceType.INTERIM_BOOKED),
    ]
    body = balances_body(balances, Grant.of([BASIC, "ReadBalances"]), f"{BASE}{path}")
    assert_conforms(path, body)
    assert body["Data"]["Balance"] == [
        {
            "AccountId": "acc_1",
            "CreditDebitIndicator": "Debit",
            "Type": "InterimAvailable",
            "DateTime": "2026-11-25T09:30:00+00:00",
            "Amount": {"Amount": "25.50", "Currency": "GBP"},
            "CreditLine": [
                {"Included": False, "Type": "Pre-Agreed", "Amount": {"Amount": "1500.00", "Currency": "GBP"}}
            ],
        },
        {
            "AccountId": "acc_1",
            "CreditDebitIndicator": "Credit",
            "Type": "InterimBooked",
            "DateTime": "2026-11-25T09:30:00+00:00",
            "Amount": {"Amount": "1234.56", "Currency": "GBP"},
        },
    ]


def test_balances_need_read_balances_and_at_least_one_balance() -> None:
    with pytest.raises(PermissionNotGranted):
        balances_body([make_balance(1)], Grant.of([DETAIL]), f"{BASE}/balances")
    with pytest.raises(ValueError, match="at least one"):
        balances_body([], Grant.of([BASIC, "ReadBalances"]), f"{BASE}/balances")


# --- transactions ------------------------------------------------------------------------------------

MIXED = (
    make_transaction("t1", -1_999),
    make_transaction("t2", 250_000),
    make_transaction("t3", -45),
    make_transaction("t4", 1),
)
COMBINATIONS = [
    (depth, directions)
    for depth in ([TX_BASIC], [TX_DETAIL], [TX_BASIC, TX_DETAIL])
    for directions in ([CREDITS], [DEBITS], [CREDITS, DEBITS])
]


@pytest.mark.parametrize("path", ["/transactions", "/accounts/{AccountId}/transactions"])
@pytest.mark.parametrize(("depth", "directions"), COMBINATIONS)
def test_transactions_are_shaped_by_every_permission_combination(
    path: str, depth: list[str], directions: list[str]
) -> None:
    grant = Grant.of([BASIC, *depth, *directions])
    page = TransactionPage(MIXED, total=4, page=1, page_size=25)
    body = transactions_body(page, grant, f"{BASE}{path}", page_url(path))
    assert_conforms(path, body)
    entries = body["Data"]["Transaction"]
    wanted = {"Credit": CREDITS in directions, "Debit": DEBITS in directions}
    expected_ids = [t.transaction_id for t in MIXED if wanted[t.credit_debit.value]]
    assert [e["TransactionId"] for e in entries] == expected_ids
    assert {e["CreditDebitIndicator"] for e in entries} == {k for k, on in wanted.items() if on}
    detail = TX_DETAIL in depth
    for entry in entries:
        shown = DETAIL_ONLY_TRANSACTION_FIELDS & set(entry)
        if detail:
            counterparty = "CreditorAccount" if entry["CreditDebitIndicator"] == "Debit" else "DebtorAccount"
            assert shown == {"TransactionInformation", "Balance", "MerchantDetails", counterparty}
        else:
            assert shown == set()
        # What Basic keeps is kept at every level.
        assert {"AccountId", "TransactionId", "TransactionReference", "Amount", "BookingDateTime"} <= set(
            entry
        )
        assert {"BankTransactionCode", "ProprietaryBankTransactionCode", "ValueDateTime"} <= set(entry)


def test_a_detailed_debit_in_full() -> None:
    grant = Grant.of([DETAIL, TX_DETAIL, DEBITS])
    page = TransactionPage((make_transaction("t1", -123_456),), total=1, page=1, page_size=25)
    path = "/accounts/{AccountId}/transactions"
    body = transactions_body(page, grant, f"{BASE}/accounts/acc_1/transactions", page_url("/x"))
    assert_conforms(path, body)
    assert body["Data"]["Transaction"] == [
        {
            "AccountId": "acc_1",
            "TransactionId": "t1",
            "TransactionReference": "REF-t1",
            "CreditDebitIndicator": "Debit",
            "Status": "Booked",
            "BookingDateTime": "2026-11-25T09:30:00+00:00",
            "ValueDateTime": "2026-11-25T09:30:00+00:00",
            "Amount": {"Amount": "1234.56", "Currency": "GBP"},
            "BankTransactionCode": {"Code": "ReceivedCreditTransfer", "SubCode": "DomesticCreditTransfer"},
            "ProprietaryBankTransactionCode": {"Code": "FPS", "Issuer": "Kaimen"},
            "TransactionInformation": "Entry t1",
            "Balance": {
                "CreditDebitIndicator": "Credit",
                "Type": "InterimBooked",
                "Amount": {"Amount": "1265.44", "Currency": "GBP"},
            },
            "MerchantDetails": {"MerchantName": "Corner Shop", "MerchantCategoryCode": "5411"},
            "CreditorAccount": {
                "SchemeName": "UK.OBIE.SortCodeAccountNumber",
                "Identification": "60161331926819",
                "Name": "J Smith",
            },
        }
    ]
    assert body["Links"] == {
        "Self": f"{BASE}/accounts/acc_1/transactions",
        "First": f"{BASE}/x?page=1",
        "Last": f"{BASE}/x?page=1",
    }
    assert body["Meta"] == {"TotalPages": 1}


def test_a_pending_entry_has_no_balance_and_absent_parts_are_left_out() -> None:
    pending = make_transaction(
        "t9",
        -500,
        status=EntryStatus.PENDING,
        balance=None,
        merchant=None,
        transaction_reference=None,
        bank_transaction_code=None,
        proprietary_code=None,
        creditor_account=None,
        information="",
    )
    page = TransactionPage((pending,), total=1, page=1, page_size=25)
    body = transactions_body(
        page, Grant.of([BASIC, TX_DETAIL, DEBITS]), f"{BASE}/transactions", page_url("/t")
    )
    assert_conforms("/transactions", body)
    assert body["Data"]["Transaction"] == [
        {
            "AccountId": "acc_1",
            "TransactionId": "t9",
            "CreditDebitIndicator": "Debit",
            "Status": "Pending",
            "BookingDateTime": "2026-11-25T09:30:00+00:00",
            "ValueDateTime": "2026-11-25T09:30:00+00:00",
            "Amount": {"Amount": "5.00", "Currency": "GBP"},
        }
    ]


@pytest.mark.parametrize(
    ("page", "links"),
    [
        (1, {"First": 1, "Next": 2, "Last": 3}),
        (2, {"First": 1, "Prev": 1, "Next": 3, "Last": 3}),
        (3, {"First": 1, "Prev": 2, "Last": 3}),
    ],
)
def test_pages_link_to_their_neighbours_and_count_the_pages(page: int, links: dict[str, int]) -> None:
    path = "/accounts/{AccountId}/transactions"
    items = tuple(make_transaction(f"t{n}", -100 - n) for n in range(2))
    body = transactions_body(
        TransactionPage(items, total=5, page=page, page_size=2),
        Grant.of([BASIC, TX_BASIC, DEBITS]),
        f"{BASE}/accounts/acc_1/transactions?page={page}",
        page_url("/accounts/acc_1/transactions"),
        first_available=datetime(2026, 8, 28, tzinfo=UTC),
        last_available=AT,
    )
    assert_conforms(path, body)
    assert body["Links"] == {
        "Self": f"{BASE}/accounts/acc_1/transactions?page={page}",
        **{name: f"{BASE}/accounts/acc_1/transactions?page={n}" for name, n in links.items()},
    }
    assert body["Meta"] == {
        "TotalPages": 3,
        "FirstAvailableDateTime": "2026-08-28T00:00:00+00:00",
        "LastAvailableDateTime": "2026-11-25T09:30:00+00:00",
    }


def test_an_empty_result_is_one_empty_page() -> None:
    body = transactions_body(
        TransactionPage((), total=0, page=1, page_size=25),
        Grant.of([BASIC, TX_BASIC, CREDITS]),
        f"{BASE}/transactions",
        page_url("/transactions"),
    )
    assert_conforms("/transactions", body)
    assert body["Data"] == {"Transaction": []}
    assert body["Meta"] == {"TotalPages": 1}
    assert set(body["Links"]) == {"Self", "First", "Last"}


def test_transactions_need_a_depth_and_a_direction() -> None:
    page = TransactionPage(MIXED, total=4, page=1, page_size=25)
    for codes in ([DETAIL, TX_DETAIL], [DETAIL, CREDITS, DEBITS], [DETAIL]):
        with pytest.raises(PermissionNotGranted):
            transactions_body(page, Grant.of(codes), f"{BASE}/transactions", page_url("/transactions"))


# --- product and parties -----------------------------------------------------------------------------


def test_the_product_of_an_account() -> None:
    other = OtherProductType("Easy access savings", "Instant-access savings account, variable rate.")
    product = Product("acc_1", "KSB-SAV-EASY", "Kaimen Easy Saver", ProductType.OTHER, other)
    path = "/accounts/{AccountId}/product"
    body = product_body(product, Grant.of([BASIC, "ReadProducts"]), f"{BASE}/accounts/acc_1/product")
    assert_conforms(path, body)
    assert body["Data"] == {
        "Product": [
            {
                "ProductName": "Kaimen Easy Saver",
                "ProductId": "KSB-SAV-EASY",
                "AccountId": "acc_1",
                "ProductType": "Other",
                "OtherProductType": {
                    "Name": "Easy access savings",
                    "Description": "Instant-access savings account, variable rate.",
                },
            }
        ]
    }
    current = Product(
        "acc_2", "KSB-PCA-EVERYDAY", "Kaimen Everyday Account", ProductType.PERSONAL_CURRENT_ACCOUNT, None
    )
    body = product_body(current, Grant.of([BASIC, "ReadProducts"]), f"{BASE}/accounts/acc_2/product")
    assert_conforms(path, body)
    assert body["Data"]["Product"][0]["ProductType"] == "PersonalCurrentAccount"
    assert "OtherProductType" not in body["Data"]["Product"][0]
    with pytest.raises(PermissionNotGranted):
        product_body(current, Grant.of([DETAIL]), f"{BASE}/accounts/acc_2/product")


ALICE = Party(
    party_id="pty_alice",
    party_type="Sole",
    name="Alice Chen",
    full_legal_name="Alice Mei Chen",
    email="alice.chen@example.com",
    mobile="+447700900123",
    address=PostalAddress("Residential", "12", "Acacia Avenue", "London", "NW1 1AB", "GB"),
)
ALICE_OB = {
    "PartyId": "pty_alice",
    "PartyType": "Sole",
    "Name": "Alice Chen",
    "FullLegalName": "Alice Mei Chen",
    "EmailAddress": "alice.chen@example.com",
    "Mobile": "+44-7700900123",
    "Address": [
        {
            "AddressType": "Residential",
            "StreetName": "Acacia Avenue",
            "BuildingNumber": "12",
            "PostCode": "NW1 1AB",
            "TownName": "London",
            "Country": "GB",
        }
    ],
}


def test_the_parties_of_an_account_need_read_party() -> None:
    path = "/accounts/{AccountId}/parties"
    principal = replace(ALICE, account_role="UK.OBIE.Principal")
    body = parties_body([principal], Grant.of([BASIC, "ReadParty"]), f"{BASE}/accounts/acc_1/parties")
    assert_conforms(path, body)
    assert body["Data"] == {"Party": [ALICE_OB | {"AccountRole": "UK.OBIE.Principal"}]}
    with pytest.raises(PermissionNotGranted):
        parties_body([principal], Grant.of([BASIC, "ReadPartyPSU"]), f"{BASE}/accounts/acc_1/parties")


def test_the_psu_party_needs_read_party_psu() -> None:
    body = party_body(ALICE, Grant.of([BASIC, "ReadPartyPSU"]), f"{BASE}/party")
    assert_conforms("/party", body)
    assert body == {
        "Data": {"Party": ALICE_OB},
        "Links": {"Self": f"{BASE}/party"},
        "Meta": {"TotalPages": 1},
    }
    bare = Party("pty_bob", "Sole", "Bob Lin", "Bob Lin", None, "0770", None)
    body = party_body(bare, Grant.of([BASIC, "ReadPartyPSU"]), f"{BASE}/party")
    assert_conforms("/party", body)
    assert body["Data"]["Party"] == {
        "PartyId": "pty_bob",
        "PartyType": "Sole",
        "Name": "Bob Lin",
        "FullLegalName": "Bob Lin",
    }
    assert party_body(None, Grant.of([BASIC, "ReadPartyPSU"]), f"{BASE}/party")["Data"] == {}
    with pytest.raises(PermissionNotGranted):
        party_body(ALICE, Grant.of([BASIC, "ReadParty"]), f"{BASE}/party")


# --- a seeded sandbox ledger, read through CoreBanking -----------------------------------------------


@pytest.fixture
async def db(sqlite_url: str) -> AsyncIterator[Database]:
    database = Database(sqlite_url)
    await seed_history(database, ["cus_alice", "cus_bob"], seed=11, today=date(2026, 11, 26), names={})
    try:
        yield database
    finally:
        await database.dispose()


@pytest.mark.parametrize("grant", [EVERYTHING, BASIC_ONLY], ids=["detail", "basic"])
async def test_every_body_from_the_seeded_ledger_conforms(db: Database, grant: Grant) -> None:
    core = sandbox_core_banking(db)
    accounts = await core.accounts("cus_alice")
    assert len(accounts) >= 2
    body = accounts_body(accounts, grant, f"{BASE}/accounts")
    assert_conforms("/accounts", body)
    assert all(("Account" in a) is grant.account_detail for a in body["Data"]["Account"])
    balances = []
    for account in accounts:
        own = await core.balances("cus_alice", account.account_id)
        balances += own
        assert_conforms("/accounts/{AccountId}/balances", balances_body(own, grant, f"{BASE}/b"))
        if grant.allows(Endpoint.ACCOUNT_PRODUCT):
            product = await core.product("cus_alice", account.account_id)
            assert_conforms("/accounts/{AccountId}/product", product_body(product, grant, f"{BASE}/p"))
        if grant.allows(Endpoint.ACCOUNT_PARTIES):
            parties = await core.account_parties("cus_alice", account.account_id)
            assert_conforms("/accounts/{AccountId}/parties", parties_body(parties, grant, f"{BASE}/q"))
    assert_conforms("/balances", balances_body(balances, grant, f"{BASE}/balances"))
    if grant.allows(Endpoint.PARTY):
        body = party_body(await core.party("cus_alice"), grant, f"{BASE}/party")
        assert_conforms("/party", body)
        assert body["Data"]["Party"]["Mobile"].startswith("+44-7700900")
    ids = [a.account_id for a in accounts]
    query = TransactionQuery(credit_debit=grant.transaction_filter, page=2, page_size=25)
    page = await core.transactions("cus_alice", ids, query)
    assert page.total > 50
    body = transactions_body(page, grant, f"{BASE}/transactions?page=2", page_url("/transactions"))
    assert_conforms("/transactions", body)
    entries = body["Data"]["Transaction"]
    assert len(entries) == 25
    assert body["Links"]["Prev"] == f"{BASE}/transactions?page=1"
    assert body["Meta"]["TotalPages"] == page.total_pages
    for entry, record in zip(entries, page.items, strict=True):
        assert entry["TransactionId"] == record.transaction_id
        assert entry["Amount"] == {
            "Amount": _decimal(record.amount.minor),
            "Currency": record.amount.currency,
        }
        assert bool(DETAIL_ONLY_TRANSACTION_FIELDS & set(entry)) is grant.transaction_detail


@pytest.mark.parametrize(("code", "side"), [(CREDITS, "Credit"), (DEBITS, "Debit")])
async def test_the_seeded_ledger_shows_only_the_granted_direction(db: Database, code: str, side: str) -> None:
    core = sandbox_core_banking(db)
    grant = Grant.of([DETAIL, TX_DETAIL, code])
    ids = [a.account_id for a in await core.accounts("cus_bob")]
    page = await core.transactions(
        "cus_bob", ids, TransactionQuery(credit_debit=grant.transaction_filter, page_size=200)
    )
    body = transactions_body(page, grant, f"{BASE}/transactions", page_url("/transactions"))
    assert_conforms("/transactions", body)
    sides = {e["CreditDebitIndicator"] for e in body["Data"]["Transaction"]}
    assert sides == {side}
    # The whole of an unfiltered page, shaped for one direction, keeps exactly that direction's entries.
    everything = await core.transactions("cus_bob", ids, TransactionQuery(page_size=200))
    shaped = transactions_body(everything, grant, f"{BASE}/transactions", page_url("/transactions"))
    assert [e["TransactionId"] for e in shaped["Data"]["Transaction"]] == [
        t.transaction_id for t in everything.items if t.credit_debit.value == side
    ]


def _decimal(minor: int) -> str:
    """The expected OB amount, computed independently of Money: pence as a two-place decimal."""
    text = str(abs(minor)).rjust(3, "0")
    return f"{text[:-2]}.{text[-2:]}"
