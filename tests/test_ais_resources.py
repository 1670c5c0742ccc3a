"""The AIS resources under /open-banking/v3.1/aisp (UK OB v3.1.11, issue 4 item 3) through the whole app
and gateway, on SQLite and PostgreSQL: every endpoint's 200 conforms to the spec file; Basic vs Detail
and credit/debit shaping as the consent's permissions say; only the consent's accounts; unserved
paths answer 404 in the OB error shape."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from kaimen.ledger.core import TransactionQuery
from kaimen.ledger.money import CreditDebit
from kaimen.settings import Settings
from tests.ais_resources_support import (
    ACCOUNT,
    AISP,
    ALICE,
    CONSENT_MISMATCH,
    ENDPOINTS,
    Bank,
    concrete,
    ok,
    open_bank,
    refused,
)
from tests.dpop_support import BASE

TX_DETAIL_ONLY = {"TransactionInformation", "Balance", "MerchantDetails", "CreditorAccount", "DebtorAccount"}


@pytest.fixture
async def bank(make_settings: Callable[..., Settings], database_url: str) -> AsyncIterator[Bank]:
    async with open_bank(make_settings(database_url=database_url)) as opened:
        yield opened


@pytest.mark.parametrize(("spec_path", "suffix"), ENDPOINTS)
async def test_each_endpoint_answers_200_conforming_to_the_spec(
    bank: Bank, spec_path: str, suffix: str | None
) -> None:
    token = await bank.reader()
    path = concrete(spec_path, suffix, bank.chosen[0])
    body = ok(await bank.get(token, path), spec_path)
    assert body["Links"]["Self"].startswith(BASE + AISP + path)
    assert body["Meta"]["TotalPages"] >= 1


async def test_accounts_lists_exactly_the_chosen_accounts(bank: Bank) -> None:
    token = await bank.reader()
    body = ok(await bank.get(token, "/accounts"), "/accounts")
    assert [a["AccountId"] for a in body["Data"]["Account"]] == bank.chosen
    assert body["Links"]["Self"] == f"{BASE}{AISP}/accounts"


async def test_accounts_basic_omit_and_detail_carry_the_identification(bank: Bank) -> None:
    """Accounts, "Permission Codes": .../Account "must not be returned without the ReadAccountsDetail
    permission"; with it, it "must be returned"."""
    basic = await bank.reader(["ReadAccountsBasic"])
    detail = await bank.reader(["ReadAccountsDetail"])
    account_id = bank.chosen[0]
    for path, spec_path in (("/accounts", "/accounts"), (f"/accounts/{account_id}", ACCOUNT)):
        shown = ok(await bank.get(basic, path), spec_path)["Data"]["Account"]
        assert shown and all("Account" not in a for a in shown)
        full = ok(await bank.get(detail, path), spec_path)["Data"]["Account"]
        assert [a["AccountId"] for a in full] == [a["AccountId"] for a in shown]
        expected = {a.account_id: a.identification for a in bank.alice}
        assert all(a["Account"][0]["Identification"] == expected[a["AccountId"]] for a in full)
        assert all(a["Account"][0]["SchemeName"] == "UK.OBIE.SortCodeAccountNumber" for a in full)


async def test_transactions_basic_omit_the_detail_elements(bank: Bank) -> None:
    both = ["ReadTransactionsCredits", "ReadTransactionsDebits"]
    basic = await bank.reader(["ReadAccountsBasic", "ReadTransactionsBasic", *both])
    detail = await bank.reader(["ReadAccountsBasic", "ReadTransactionsDetail", *both])
    path = f"/accounts/{bank.chosen[0]}/transactions"
    plain = ok(await bank.get(basic, path), f"{ACCOUNT}/transactions")["Data"]["Transaction"]
    full = ok(await bank.get(detail, path), f"{ACCOUNT}/transactions")["Data"]["Transaction"]
    assert len(plain) == len(full) == 25
    assert all(not TX_DETAIL_ONLY & entry.keys() for entry in plain)
    assert all("TransactionInformation" in entry for entry in full)
    assert [e["TransactionId"] for e in plain] == [e["TransactionId"] for e in full]


async def test_a_page_encoded_for_detail_is_never_served_to_basic(bank: Bank) -> None:
    """The sandbox ledger answers an unchanged account with the very same page object, and encoded
    bodies are kept per page object *and* grant (kaimen.apis.accounts.ais_resource): Detail read
    first, Basic right after on the same page, still gets no Detail element."""
    both = ["ReadTransactionsCredits", "ReadTransactionsDebits"]
    detail = await bank.reader(["ReadAccountsBasic", "ReadTransactionsDetail", *both])
    basic = await bank.reader(["ReadAccountsBasic", "ReadTransactionsBasic", *both])
    path = f"/accounts/{bank.chosen[0]}/transactions"
    query = TransactionQuery()
    page = await bank.core.transactions(ALICE, [bank.chosen[0]], query)
    assert await bank.core.transactions(ALICE, [bank.chosen[0]], query) is page
    for _ in range(2):
        full = ok(await bank.get(detail, path), f"{ACCOUNT}/transactions")["Data"]["Transaction"]
        plain = ok(await bank.get(basic, path), f"{ACCOUNT}/transactions")["Data"]["Transaction"]
        assert all("TransactionInformation" in entry for entry in full)
        assert all(not TX_DETAIL_ONLY & entry.keys() for entry in plain)
        assert [e["TransactionId"] for e in plain] == [e["TransactionId"] for e in full]


@pytest.mark.parametrize(
    ("code", "side"), [("ReadTransactionsCredits", "Credit"), ("ReadTransactionsDebits", "Debit")]
)
async def test_one_direction_shows_only_it_and_counts_only_it(bank: Bank, code: str, side: str) -> None:
    token = await bank.reader(["ReadAccountsBasic", "ReadTransactionsBasic", code])
    body = ok(await bank.get(token, "/transactions"), "/transactions")
    entries = body["Data"]["Transaction"]
    everything = await bank.core.transactions(
        ALICE, bank.chosen, TransactionQuery(credit_debit=CreditDebit(side), page_size=1000)
    )
    assert entries and {e["CreditDebitIndicator"] for e in entries} == {side}
    assert body["Meta"]["TotalPages"] == -(-everything.total // 25)
    assert [e["TransactionId"] for e in entries] == [t.transaction_id for t in everything.items[:25]]


async def test_bulk_balances_and_transactions_cover_only_the_consents_accounts(bank: Bank) -> None:
    token = await bank.reader()
    balances = ok(await bank.get(token, "/balances"), "/balances")["Data"]["Balance"]
    assert {b["AccountId"] for b in balances} == set(bank.chosen)
    assert len(balances) == 3 * len(bank.chosen)  # InterimAvailable, InterimBooked, ClosingBooked
    everything = await bank.core.transactions(ALICE, bank.chosen, TransactionQuery(page_size=1000))
    seen: list[str] = []
    for page in range(1, -(-everything.total // 25) + 1):
        body = ok(await bank.get(token, "/transactions", {"page": str(page)}), "/transactions")
        seen += [e["TransactionId"] for e in body["Data"]["Transaction"]]
        assert {e["AccountId"] for e in body["Data"]["Transaction"]} <= set(bank.chosen)
    assert seen == [t.transaction_id for t in everything.items]
    assert bank.not_chosen not in {t.account_id for t in everything.items}


async def test_bulk_balances_without_any_account_left_answer_404(bank: Bank) -> None:
    """The consent names no account the customer still holds: OBReadBalance1 cannot be empty."""
    token = await bank.token(await bank.consent(accounts=["acc-closed-long-ago"]))
    refused(await bank.get(token, "/balances"), 404, "UK.OBIE.Resource.NotFound")
    assert ok(await bank.get(token, "/accounts"), "/accounts")["Data"]["Account"] == []
    assert ok(await bank.get(token, "/transactions"), "/transactions")["Data"]["Transaction"] == []


async def test_the_product_parties_and_party_are_the_customers(bank: Bank) -> None:
    token = await bank.reader()
    account = bank.alice[0]
    product = ok(await bank.get(token, f"/accounts/{account.account_id}/product"), f"{ACCOUNT}/product")
    assert product["Data"]["Product"][0]["ProductId"] == account.product_id
    assert product["Data"]["Product"][0]["AccountId"] == account.account_id
    party = await bank.core.party(ALICE)
    parties = ok(await bank.get(token, f"/accounts/{account.account_id}/parties"), f"{ACCOUNT}/parties")
    assert [(p["PartyId"], p["AccountRole"]) for p in parties["Data"]["Party"]] == [
        (party.party_id, "UK.OBIE.Principal")
    ]
    psu = ok(await bank.get(token, "/party"), "/party")["Data"]["Party"]
    assert (psu["PartyId"], psu["Name"]) == (party.party_id, party.name)
    assert "AccountRole" not in psu


async def test_an_endpoint_the_permissions_do_not_open_is_refused(bank: Bank) -> None:
    """Profile, "Permissions": each permission opens its endpoints and no others."""
    token = await bank.reader(["ReadAccountsBasic"])
    ok(await bank.get(token, "/accounts"), "/accounts")
    for spec_path, suffix in ENDPOINTS[2:]:
        response = await bank.get(token, concrete(spec_path, suffix, bank.chosen[0]))
        refused(response, 403, CONSENT_MISMATCH)


async def test_unserved_aisp_paths_answer_404_in_the_ob_shape(bank: Bank) -> None:
    token = await bank.reader()
    account_id = bank.chosen[0]
    for path in ("/beneficiaries", f"/accounts/{account_id}/beneficiaries", f"/accounts/{account_id}/party",
                 "/statements", f"/accounts/{account_id}/transactions/extra", "/products"):  # fmt: skip
        refused(await bank.get(token, path), 404, "UK.OBIE.Resource.NotFound")
