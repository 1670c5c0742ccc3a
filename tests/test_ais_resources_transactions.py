"""GET /accounts/{AccountId}/transactions and GET /transactions: booking date filters (spec file,
FromBookingDateTimeParam / ToBookingDateTimeParam), intersected with the consent's transaction window;
pages of 25 with Links.Self/First/Prev/Next/Last that keep the filters, and Meta.TotalPages."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest

from kaimen.ledger.core import Transaction, TransactionQuery
from kaimen.settings import Settings
from tests.ais_resources_support import AISP, ALICE, Bank, ok, open_bank, refused
from tests.dpop_support import BASE

SPEC_PATH = "/accounts/{AccountId}/transactions"
INVALID_DATE = "UK.OBIE.Field.InvalidDate"
FROM, TO = "fromBookingDateTime", "toBookingDateTime"


@pytest.fixture
async def bank(make_settings: Callable[..., Settings], database_url: str) -> AsyncIterator[Bank]:
    async with open_bank(make_settings(database_url=database_url)) as opened:
        yield opened


async def _all(bank: Bank, account_ids: list[str]) -> list[Transaction]:
    return list((await bank.core.transactions(ALICE, account_ids, TransactionQuery(page_size=1000))).items)


def _booked(entry: dict[str, str]) -> datetime:
    return datetime.fromisoformat(entry["BookingDateTime"])


def _query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


async def test_pages_link_to_their_neighbours_and_count_the_pages(bank: Bank) -> None:
    """Pagination: Next "must" be given where a next page exists, Prev where a previous one does."""
    token = await bank.reader()
    account_id = bank.chosen[0]
    path = f"/accounts/{account_id}/transactions"
    url = f"{BASE}{AISP}{path}"
    history = await _all(bank, [account_id])
    pages = -(-len(history) // 25)
    assert pages >= 3
    first = ok(await bank.get(token, path), SPEC_PATH)
    assert first["Meta"]["TotalPages"] == pages
    assert first["Links"] == {
        "Self": f"{url}?page=1",
        "First": f"{url}?page=1",
        "Next": f"{url}?page=2",
        "Last": f"{url}?page={pages}",
    }
    second = ok(await bank.get(token, path, {"page": "2"}), SPEC_PATH)
    assert second["Links"]["Prev"] == f"{url}?page=1" and second["Links"]["Next"] == f"{url}?page=3"
    last = ok(await bank.get(token, path, {"page": str(pages)}), SPEC_PATH)
    assert "Next" not in last["Links"] and last["Links"]["Prev"] == f"{url}?page={pages - 1}"
    seen = [e["TransactionId"] for e in first["Data"]["Transaction"] + second["Data"]["Transaction"]]
    for page in range(3, pages + 1):
        body = ok(await bank.get(token, path, {"page": str(page)}), SPEC_PATH)
        seen += [e["TransactionId"] for e in body["Data"]["Transaction"]]
    assert seen == [t.transaction_id for t in history]  # newest first, no entry twice or missed
    beyond = ok(await bank.get(token, path, {"page": str(pages + 1)}), SPEC_PATH)
    assert beyond["Data"]["Transaction"] == [] and beyond["Links"]["Prev"] == f"{url}?page={pages}"


async def test_date_filters_select_the_window_and_the_links_keep_them(bank: Bank) -> None:
    token = await bank.reader()
    account_id = bank.chosen[0]
    path = f"/accounts/{account_id}/transactions"
    low, high = datetime(2026, 9, 1, tzinfo=UTC), datetime(2026, 10, 31, 23, 59, 59, tzinfo=UTC)
    inside = [t.transaction_id for t in await _all(bank, [account_id]) if low <= t.booking_at <= high]
    params = {FROM: "2026-09-01T00:00:00", TO: "2026-10-31T23:59:59"}
    body = ok(await bank.get(token, path, params), SPEC_PATH)
    assert body["Meta"]["TotalPages"] == -(-len(inside) // 25) >= 2
    assert [e["TransactionId"] for e in body["Data"]["Transaction"]] == inside[:25]
    for name in ("Self", "First", "Next", "Last"):
        assert _query(body["Links"][name])[FROM] == [params[FROM]]
        assert _query(body["Links"][name])[TO] == [params[TO]]
    assert _query(body["Links"]["Next"])["page"] == ["2"]
    second = ok(await bank.get(token, path, {**params, "page": "2"}), SPEC_PATH)
    assert [e["TransactionId"] for e in second["Data"]["Transaction"]] == inside[25:50]


async def test_a_date_alone_means_midnight_and_a_zone_is_ignored(bank: Bank) -> None:
    """Spec file: "Time component is optional - set to 00:00:00 for just Date. If the Date Time contains
    a timezone, the ASPSP must ignore the timezone component"."""
    token = await bank.reader()
    path = f"/accounts/{bank.chosen[0]}/transactions"

    async def ids(start: str, end: str) -> list[str]:
        body = ok(await bank.get(token, path, {FROM: start, TO: end}), SPEC_PATH)
        return [e["TransactionId"] for e in body["Data"]["Transaction"]]

    reference = await ids("2026-10-01T00:00:00Z", "2026-10-15T00:00:00Z")
    assert reference
    assert await ids("2026-10-01", "2026-10-15") == reference
    assert await ids("2026-10-01T00:00:00+05:00", "2026-10-15T00:00:00-08:00") == reference
    assert await ids("2026-10-01T00:00:00.000", "2026-10-15T00:00") == reference


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({FROM: "yesterday"}, FROM),
        ({FROM: "2026-02-30"}, FROM),
        ({TO: "2026-10-01T25:00:00"}, TO),
        ({TO: "2026-10-01 10:00:00"}, TO),
        ({FROM: "2026-10-02", TO: "2026-10-01"}, TO),
    ],
)
async def test_an_invalid_date_is_refused(bank: Bank, params: dict[str, str], field: str) -> None:
    token = await bank.reader()
    for path in (f"/accounts/{bank.chosen[0]}/transactions", "/transactions"):
        refused(await bank.get(token, path, params), 400, INVALID_DATE, field)


@pytest.mark.parametrize("page", ["0", "-1", "two", "1.5", "100001"])
async def test_an_invalid_page_is_refused(bank: Bank, page: str) -> None:
    token = await bank.reader()
    refused(await bank.get(token, "/transactions", {"page": page}), 400, "UK.OBIE.Field.Invalid", "page")


async def test_the_consents_window_bounds_every_query(bank: Bank) -> None:
    """The TPP never reads outside TransactionFromDateTime / TransactionToDateTime, whatever it asks."""
    window = ("2026-10-01T00:00:00+00:00", "2026-10-20T00:00:00+00:00")
    token = await bank.reader(TransactionFromDateTime=window[0], TransactionToDateTime=window[1])
    low, high = (datetime.fromisoformat(at) for at in window)
    inside = [t.transaction_id for t in await _all(bank, bank.chosen) if low <= t.booking_at <= high]
    assert inside
    body = ok(await bank.get(token, "/transactions"), "/transactions")
    assert [e["TransactionId"] for e in body["Data"]["Transaction"]] == inside[:25]
    assert body["Meta"]["TotalPages"] == -(-len(inside) // 25)
    wider = ok(
        await bank.get(token, "/transactions", {FROM: "2026-01-01", TO: "2026-12-31"}), "/transactions"
    )
    assert wider["Data"] == body["Data"]
    narrower = ok(await bank.get(token, "/transactions", {FROM: "2026-10-10"}), "/transactions")
    assert all(_booked(e) >= datetime(2026, 10, 10, tzinfo=UTC) for e in narrower["Data"]["Transaction"])
    assert all(_booked(e) <= high for e in narrower["Data"]["Transaction"])
    outside = ok(await bank.get(token, "/transactions", {TO: "2026-09-01"}), "/transactions")
    assert outside["Data"]["Transaction"] == [] and outside["Meta"]["TotalPages"] == 1
