"""The funds-confirmation consents as the authorization flow's IntentKind (kaimen.apis.funds.intents,
kaimen.authz.ports), and the lifecycle the flow and the dashboard drive (kaimen.apis.funds.consents):
conditional status changes, exactly once under concurrency, their events, expiry."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from kaimen.apis.funds.models import FundsConfirmationConsent
from kaimen.settings import Settings
from kaimen.store.types import utcnow
from tests.funds_support import (
    ALICE,
    BOB,
    CONSENTS,
    FundsBank,
    assert_consent,
    new_funds_tpp,
    open_funds_bank,
)

NAMES = ("consent.authorised", "consent.rejected", "consent.revoked", "consent.deleted")


@pytest.fixture
async def bank(make_settings: Callable[..., Settings], database_url: str) -> AsyncIterator[FundsBank]:
    async with open_funds_bank(make_settings(database_url=database_url)) as opened:
        yield opened


def _record(bank: FundsBank) -> list[tuple[str, str, str | None, str]]:
    events: list[tuple[str, str, str | None, str]] = []
    for name in NAMES:
        bank.app.components.events.subscribe(
            name, lambda n, p: events.append((n, p.consent_id, p.customer_id, p.status))
        )
    return events


async def _status(bank: FundsBank, consent_id: str) -> str:
    body = assert_consent(await bank.tpp.call("GET", f"{CONSENTS}/{consent_id}"), 200)
    status: str = body["Data"]["Status"]
    return status


async def test_for_authorisation_is_the_clients_own_unexpired_awaiting_or_authorised_consent(
    bank: FundsBank,
) -> None:
    consent_id = await bank.consent_id(ExpirationDateTime="2099-01-01T00:00:00+01:00")
    intent = await bank.intents.for_authorisation(consent_id, bank.tpp.client_id)
    assert intent is not None
    assert (intent.intent_id, intent.status, intent.permissions, intent.account_ids) == (
        consent_id, "AwaitingAuthorisation", (), ()
    )  # fmt: skip
    assert intent.expires_at is not None and intent.expires_at.isoformat() == "2098-12-31T23:00:00+00:00"
    mallory = await new_funds_tpp(bank.app, bank.http, "mallory")
    assert await bank.intents.for_authorisation(consent_id, mallory.client_id) is None
    assert await bank.intents.for_authorisation("fcc-unknown", bank.tpp.client_id) is None
    assert await bank.intents.for_authorisation("x" * 300, bank.tpp.client_id) is None
    assert await bank.intents.approve(intent, ALICE, [bank.alice.account_id])
    # CoF profile, "Consent Re-authentication": an Authorised, unexpired consent "can be
    # re-authenticated"; the account chosen before comes with it, and it stays the client's own.
    again = await bank.intents.for_authorisation(consent_id, bank.tpp.client_id)
    assert again is not None
    assert (again.intent_id, again.status, again.account_ids) == (
        consent_id, "Authorised", (bank.alice.account_id,)
    )  # fmt: skip
    assert await bank.intents.for_authorisation(consent_id, mallory.client_id) is None


async def test_reauthentication_by_the_customer_who_authorised_it(bank: FundsBank) -> None:
    """CoF profile, "Consent Re-authentication": the status stays Authorised; only the customer who
    authorised the consent can authenticate it again, and only on the account it names."""
    consent_id = await bank.authorised()
    events = _record(bank)
    again = await bank.intents.for_authorisation(consent_id, bank.tpp.client_id)
    assert again is not None
    assert not await bank.intents.approve(again, BOB, [bank.bob.account_id])  # not offered
    assert not await bank.intents.approve(again, ALICE, [bank.alice_eur.account_id])  # not offered
    assert await bank.intents.approve(again, ALICE, [bank.alice.account_id])
    assert events == [("consent.authorised", consent_id, ALICE, "Authorised")]
    assert await _status(bank, consent_id) == "Authorised"
    consent = await bank.consents.active(consent_id)
    assert consent is not None and (consent.customer_id, consent.account_id) == (ALICE, bank.alice.account_id)


async def test_reauthorise_needs_the_same_customer_and_an_authorised_unexpired_consent(
    bank: FundsBank,
) -> None:
    waiting = await bank.consent_id()
    assert not await bank.consents.reauthorise(waiting, ALICE, bank.alice.account_id)  # not authorised
    consent_id = await bank.authorised(ExpirationDateTime=(utcnow() + timedelta(days=1)).isoformat())
    assert not await bank.consents.reauthorise(consent_id, BOB, bank.bob.account_id)  # another customer
    consent = await bank.consents.active(consent_id)
    assert consent is not None and consent.customer_id == ALICE
    async with bank.app.components.db.write() as session:
        await session.execute(
            update(FundsConfirmationConsent)
            .where(FundsConfirmationConsent.id == consent_id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert not await bank.consents.reauthorise(consent_id, ALICE, bank.alice.account_id)  # expired
    assert await bank.intents.for_authorisation(consent_id, bank.tpp.client_id) is None


async def test_a_denied_reauthentication_leaves_the_consent_authorised(bank: FundsBank) -> None:
    consent_id = await bank.authorised()
    events = _record(bank)
    again = await bank.intents.for_authorisation(consent_id, bank.tpp.client_id)
    assert again is not None
    assert not await bank.intents.reject(again)
    assert await _status(bank, consent_id) == "Authorised"
    assert events == []


async def test_a_revoked_consent_is_not_reauthenticated(bank: FundsBank) -> None:
    consent_id = await bank.authorised()
    assert await bank.consents.revoke(consent_id, ALICE)
    assert await bank.intents.for_authorisation(consent_id, bank.tpp.client_id) is None
    assert not await bank.consents.reauthorise(consent_id, ALICE, bank.alice.account_id)


async def test_an_expired_consent_is_neither_offered_nor_approved(bank: FundsBank) -> None:
    consent_id = await bank.consent_id(ExpirationDateTime=(utcnow() + timedelta(days=1)).isoformat())
    intent = await bank.intents.for_authorisation(consent_id, bank.tpp.client_id)
    assert intent is not None
    async with bank.app.components.db.write() as session:
        await session.execute(
            update(FundsConfirmationConsent)
            .where(FundsConfirmationConsent.id == consent_id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert await bank.intents.for_authorisation(consent_id, bank.tpp.client_id) is None
    assert not await bank.intents.approve(intent, ALICE, [bank.alice.account_id])
    assert await _status(bank, consent_id) == "AwaitingAuthorisation"


async def test_offers_only_the_account_the_debtor_account_names(bank: FundsBank) -> None:
    """The customer's account whose SchemeName and Identification are the consent's DebtorAccount."""
    consent_id = await bank.consent_id(bank.alice)
    intent = await bank.intents.for_authorisation(consent_id, bank.tpp.client_id)
    assert intent is not None
    assert bank.intents.offers(intent, bank.alice)
    assert not bank.intents.offers(intent, bank.alice_eur)
    assert not bank.intents.offers(intent, bank.bob)
    assert not bank.intents.offers(intent, dataclasses.replace(bank.alice, scheme_name="UK.OBIE.BBAN"))
    assert not bank.intents.offers(
        intent, dataclasses.replace(bank.alice, identification=bank.bob.identification)
    )


async def test_approve_needs_exactly_one_offered_account_of_the_customer(bank: FundsBank) -> None:
    events = _record(bank)
    consent_id = await bank.consent_id(bank.alice)
    intent = await bank.intents.for_authorisation(consent_id, bank.tpp.client_id)
    assert intent is not None
    assert not await bank.intents.approve(intent, ALICE, [])
    assert not await bank.intents.approve(intent, ALICE, [bank.alice.account_id, bank.alice_eur.account_id])
    assert not await bank.intents.approve(intent, ALICE, [bank.alice.account_id, bank.alice.account_id])
    assert not await bank.intents.approve(intent, ALICE, [bank.alice_eur.account_id])  # not offered
    assert not await bank.intents.approve(intent, BOB, [bank.alice.account_id])  # not Bob's
    assert not await bank.intents.approve(intent, ALICE, ["acc-does-not-exist"])
    assert await _status(bank, consent_id) == "AwaitingAuthorisation"
    assert events == []
    assert await bank.intents.approve(intent, ALICE, [bank.alice.account_id])
    assert await _status(bank, consent_id) == "Authorised"
    active = await bank.consents.active(consent_id)
    assert active is not None and (active.customer_id, active.account_id) == (ALICE, bank.alice.account_id)
    assert events == [("consent.authorised", consent_id, ALICE, "Authorised")]
    assert not await bank.intents.approve(intent, ALICE, [bank.alice.account_id])  # once
    assert not await bank.intents.reject(intent)  # already authorised: nothing to reject


async def test_concurrent_approvals_exactly_one_wins(bank: FundsBank) -> None:
    events = _record(bank)
    consent_id = await bank.consent_id(bank.alice)
    intent = await bank.intents.for_authorisation(consent_id, bank.tpp.client_id)
    assert intent is not None
    results = await asyncio.gather(
        *(bank.intents.approve(intent, ALICE, [bank.alice.account_id]) for _ in range(8))
    )
    assert sorted(results) == [False] * 7 + [True]
    assert [e[0] for e in events] == ["consent.authorised"]


async def test_concurrent_approve_and_reject_one_wins(bank: FundsBank) -> None:
    consent_id = await bank.consent_id(bank.alice)
    intent = await bank.intents.for_authorisation(consent_id, bank.tpp.client_id)
    assert intent is not None
    approved, rejected = await asyncio.gather(
        bank.intents.approve(intent, ALICE, [bank.alice.account_id]), bank.intents.reject(intent)
    )
    assert approved != rejected
    assert await _status(bank, consent_id) == ("Authorised" if approved else "Rejected")


async def test_reject_awaiting_only(bank: FundsBank) -> None:
    events = _record(bank)
    consent_id = await bank.consent_id()
    intent = await bank.intents.for_authorisation(consent_id, bank.tpp.client_id)
    assert intent is not None
    assert await bank.intents.reject(intent)
    assert not await bank.intents.reject(intent)
    assert not await bank.intents.approve(intent, ALICE, [bank.alice.account_id])
    assert await _status(bank, consent_id) == "Rejected"
    assert await bank.intents.for_authorisation(consent_id, bank.tpp.client_id) is None
    assert events == [("consent.rejected", consent_id, None, "Rejected")]


async def test_for_customer_lists_the_customers_authorised_unexpired_consents(bank: FundsBank) -> None:
    first = await bank.authorised()
    second = await bank.authorised(bank.alice_eur)
    await bank.consent_id()  # awaiting: not listed
    bobs = await bank.authorised(bank.bob, BOB)
    revoked = await bank.authorised()
    assert await bank.consents.revoke(revoked, ALICE)
    expired = await bank.authorised(ExpirationDateTime=(utcnow() + timedelta(days=1)).isoformat())
    async with bank.app.components.db.write() as session:
        await session.execute(
            update(FundsConfirmationConsent)
            .where(FundsConfirmationConsent.id == expired)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    listed = await bank.consents.for_customer(ALICE)
    assert [c.consent_id for c in listed] == [first, second]
    assert [(c.account_id, c.status.value) for c in listed] == [
        (bank.alice.account_id, "Authorised"), (bank.alice_eur.account_id, "Authorised")
    ]  # fmt: skip
    assert [c.consent_id for c in await bank.consents.for_customer(BOB)] == [bobs]
    assert await bank.consents.for_customer("cus_nobody") == []


async def test_revoke_by_the_customer_who_authorised_it_only(bank: FundsBank) -> None:
    events = _record(bank)
    waiting = await bank.consent_id()
    assert not await bank.consents.revoke(waiting, ALICE)  # nothing to revoke yet
    consent_id = await bank.authorised()
    assert not await bank.consents.revoke(consent_id, BOB)  # another customer's form post
    assert not await bank.consents.revoke("x" * 300, ALICE)
    assert await _status(bank, consent_id) == "Authorised"
    assert await bank.consents.revoke(consent_id, ALICE)
    assert not await bank.consents.revoke(consent_id, ALICE)
    assert await _status(bank, consent_id) == "Revoked"
    assert await bank.consents.active(consent_id) is None
    assert [(e[0], e[2], e[3]) for e in events] == [
        ("consent.authorised", ALICE, "Authorised"), ("consent.revoked", ALICE, "Revoked")
    ]  # fmt: skip


def test_the_adapter_has_every_member_of_the_ports() -> None:
    """kaimen.authz.ports.IntentKind and IntentView, member for member."""
    from kaimen.apis.funds.intents import FundsIntent, FundsIntents
    from kaimen.authz.ports import IntentKind, IntentView

    def members(protocol: Any) -> set[str]:
        return {n for n in vars(protocol) if not n.startswith("_")}

    assert members(IntentKind) <= set(dir(FundsIntents))
    assert members(IntentView) <= {f.name for f in dataclasses.fields(FundsIntent)}
