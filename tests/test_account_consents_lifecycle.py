"""The consent lifecycle the authorization flow, the dashboard and the AIS resources drive
(kaimen.apis.accounts.consents): conditional status changes, their events, expiry on every use."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from kaimen.apis.accounts.consents import AccountAccessConsents, Status
from kaimen.settings import Settings
from tests.account_consents_support import CONSENTS, Tpp, assert_consent_response, consent_body, new_tpp
from tests.dpop_support import running

NAMES = ("consent.authorised", "consent.rejected", "consent.revoked", "consent.deleted")


class World:
    def __init__(self, app: Any, http: httpx.AsyncClient) -> None:
        self.app = app
        self.http = http
        self.events: list[tuple[str, str, str | None, str]] = []
        for name in NAMES:
            app.components.events.subscribe(name, self._record)

    def _record(self, name: str, payload: Any) -> None:
        self.events.append((name, payload.consent_id, payload.customer_id, payload.status))

    @property
    def consents(self) -> AccountAccessConsents:
        consents: AccountAccessConsents = self.app.components.consents
        return consents

    async def status(self, tpp: Tpp, consent_id: str) -> str:
        body = assert_consent_response(await tpp.call("GET", f"{CONSENTS}/{consent_id}"), 200)
        status: str = body["Data"]["Status"]
        return status


@pytest.fixture
async def world(make_settings: Callable[..., Settings], database_url: str) -> AsyncIterator[World]:
    async with running(make_settings(database_url=database_url)) as (app, http):
        yield World(app, http)


async def test_concurrent_authorisations_exactly_one_wins(world: World) -> None:
    alice = await new_tpp(world.app, world.http, "alice")
    consent_id = await alice.consent_id(consent_body())
    results = await asyncio.gather(
        *(world.consents.authorise(consent_id, f"cust-{i}", [f"acc-{i}"]) for i in range(8))
    )
    assert sorted(results) == [False] * 7 + [True]
    winner = results.index(True)
    consent = await world.consents.active(consent_id)
    assert consent is not None
    assert (consent.customer_id, consent.account_ids) == (f"cust-{winner}", (f"acc-{winner}",))
    assert world.events == [("consent.authorised", consent_id, f"cust-{winner}", "Authorised")]
    assert await world.status(alice, consent_id) == "Authorised"


async def test_the_same_customer_twice_at_once_still_authorises_once(world: World) -> None:
    alice = await new_tpp(world.app, world.http, "alice")
    consent_id = await alice.consent_id(consent_body())
    results = await asyncio.gather(
        *(world.consents.authorise(consent_id, "cust-1", ["acc-1"]) for _ in range(4))
    )
    assert sorted(results) == [False, False, False, True]
    assert [e[0] for e in world.events] == ["consent.authorised"]


async def test_status_update_time_moves_with_the_status(world: World) -> None:
    alice = await new_tpp(world.app, world.http, "alice")
    created = (await alice.create(consent_body())).json()["Data"]
    consent_id = created["ConsentId"]
    assert await world.consents.authorise(consent_id, "cust-1", ["acc-2", "acc-1", "acc-1"])
    read = assert_consent_response(await alice.call("GET", f"{CONSENTS}/{consent_id}"), 200)["Data"]
    assert read["Status"] == "Authorised"
    assert read["CreationDateTime"] == created["CreationDateTime"]
    assert datetime.fromisoformat(read["StatusUpdateDateTime"]) > datetime.fromisoformat(
        created["StatusUpdateDateTime"]
    )
    consent = await world.consents.active(consent_id)
    assert consent is not None and consent.account_ids == ("acc-1", "acc-2")


async def test_reject_then_no_authorisation(world: World) -> None:
    alice = await new_tpp(world.app, world.http, "alice")
    consent_id = await alice.consent_id(consent_body())
    assert await world.consents.reject(consent_id)
    assert not await world.consents.reject(consent_id)
    assert not await world.consents.authorise(consent_id, "cust-1", ["acc-1"])
    assert await world.status(alice, consent_id) == "Rejected"
    assert await world.consents.get_for_authorisation(consent_id, alice.client_id) is None
    assert await world.consents.active(consent_id) is None
    assert world.events == [("consent.rejected", consent_id, None, "Rejected")]


async def test_get_for_authorisation_admits_only_its_own_awaiting_or_authorised(world: World) -> None:
    alice = await new_tpp(world.app, world.http, "alice")
    mallory = await new_tpp(world.app, world.http, "mallory")
    consent_id = await alice.consent_id(consent_body(["ReadAccountsDetail", "ReadBalances"]))
    found = await world.consents.get_for_authorisation(consent_id, alice.client_id)
    assert found is not None
    assert (found.status, found.permissions) == (
        Status.AWAITING_AUTHORISATION,
        ("ReadAccountsDetail", "ReadBalances"),
    )
    assert await world.consents.get_for_authorisation(consent_id, mallory.client_id) is None
    assert await world.consents.get_for_authorisation("aac-unknown", alice.client_id) is None
    assert await world.consents.authorise(consent_id, "cust-1", ["acc-1"])
    again = await world.consents.get_for_authorisation(consent_id, alice.client_id)  # re-authentication
    assert again is not None and again.status is Status.AUTHORISED
    assert await world.consents.revoke(consent_id, "cust-1")
    assert await world.consents.get_for_authorisation(consent_id, alice.client_id) is None


async def test_reauthorise_by_the_same_customer_only(world: World) -> None:
    alice = await new_tpp(world.app, world.http, "alice")
    consent_id = await alice.consent_id(consent_body())
    assert not await world.consents.reauthorise(consent_id, "cust-1", ["acc-1"])  # not authorised yet
    assert await world.consents.authorise(consent_id, "cust-1", ["acc-1"])
    assert not await world.consents.reauthorise(consent_id, "cust-2", ["acc-9"])
    assert await world.consents.reauthorise(consent_id, "cust-1", ["acc-3"])
    consent = await world.consents.active(consent_id)
    assert consent is not None and consent.account_ids == ("acc-3",)
    with pytest.raises(ValueError, match="at least one account"):
        await world.consents.authorise(consent_id, "cust-1", [])


async def test_revoke_by_the_customer_who_authorised_it(world: World) -> None:
    alice = await new_tpp(world.app, world.http, "alice")
    consent_id = await alice.consent_id(consent_body())
    assert not await world.consents.revoke(consent_id, "cust-1")  # awaiting: nothing to revoke
    assert await world.consents.authorise(consent_id, "cust-1", ["acc-1"])
    assert not await world.consents.revoke(consent_id, "cust-2")  # another customer's form post
    assert await world.consents.active(consent_id) is not None
    assert await world.consents.revoke(consent_id, "cust-1")
    assert await world.consents.active(consent_id) is None
    assert await world.status(alice, consent_id) == "Revoked"
    assert not await world.consents.reauthorise(consent_id, "cust-1", ["acc-1"])
    assert [e[0] for e in world.events] == ["consent.authorised", "consent.revoked"]


async def test_deleted_consent_can_no_longer_be_authorised_or_used(world: World) -> None:
    alice = await new_tpp(world.app, world.http, "alice")
    consent_id = await alice.consent_id(consent_body())
    assert await world.consents.authorise(consent_id, "cust-1", ["acc-1"])
    deleted = await alice.call("DELETE", f"{CONSENTS}/{consent_id}")
    assert deleted.status_code == 204
    assert await world.consents.active(consent_id) is None
    assert not await world.consents.reauthorise(consent_id, "cust-1", ["acc-1"])
    assert world.events[-1] == ("consent.deleted", consent_id, "cust-1", "Authorised")


async def test_expiry_is_enforced_on_every_use_and_the_status_is_kept(world: World) -> None:
    alice = await new_tpp(world.app, world.http, "alice")
    soon = datetime.now(UTC) + timedelta(seconds=3)
    used = await alice.consent_id(consent_body(ExpirationDateTime=soon.isoformat()))
    waiting = await alice.consent_id(consent_body(ExpirationDateTime=soon.isoformat()))
    assert await world.consents.authorise(used, "cust-1", ["acc-1"])
    assert await world.consents.active(used) is not None
    await asyncio.sleep(max(0.0, (soon - datetime.now(UTC)).total_seconds()) + 0.1)
    assert await world.consents.active(used) is None
    assert await world.consents.get_for_authorisation(used, alice.client_id) is None
    assert not await world.consents.reauthorise(used, "cust-1", ["acc-1"])
    assert await world.consents.get_for_authorisation(waiting, alice.client_id) is None
    assert not await world.consents.authorise(waiting, "cust-1", ["acc-1"])
    # v3.1.11 has no Expired status: the TPP still reads its consent, status as it was.
    assert await world.status(alice, used) == "Authorised"
    assert await world.status(alice, waiting) == "AwaitingAuthorisation"
