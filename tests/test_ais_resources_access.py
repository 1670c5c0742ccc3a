"""Who may read the AIS resources (issue 4 item 3): the PSU's token, its consent Authorised, unexpired
and its own, checked on every call; only the accounts chosen in that consent, any other AccountId
refused with one and the same 403 whether it exists, is another customer's or is malformed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kaimen.apis.accounts.consent_request import read_consent_request
from kaimen.settings import Settings
from kaimen.store.types import utcnow
from tests.ais_resources_support import (
    BOB,
    CONSENT_MISMATCH,
    ENDPOINTS,
    INVALID_STATUS,
    Bank,
    concrete,
    ok,
    open_bank,
    refused,
)
from tests.dpop_support import tpp

PER_ACCOUNT = [(spec_path, suffix) for spec_path, suffix in ENDPOINTS if suffix is not None]


@pytest.fixture
async def bank(make_settings: Callable[..., Settings], database_url: str) -> AsyncIterator[Bank]:
    async with open_bank(make_settings(database_url=database_url)) as opened:
        yield opened


async def _refused_everywhere(bank: Bank, token: str, code: str, path: str | None = None) -> None:
    for spec_path, suffix in ENDPOINTS:
        response = await bank.get(token, concrete(spec_path, suffix, bank.chosen[0]))
        refused(response, 403, code, path)


async def test_a_client_credentials_token_reads_nothing(bank: Bank) -> None:
    """Grants Types: the AIS resources are read with the token the PSU authorised, not the TPP's own."""
    tpps_own = await bank.token(await bank.consent(), customer=None)
    await _refused_everywhere(bank, tpps_own, CONSENT_MISMATCH, "Authorization")


async def test_a_customer_token_without_a_consent_reads_nothing(bank: Bank) -> None:
    await _refused_everywhere(bank, await bank.token(None), CONSENT_MISMATCH, "Authorization")


async def test_a_consent_not_yet_authorised_or_unknown_reads_nothing(bank: Bank) -> None:
    request = read_consent_request(b'{"Data":{"Permissions":["ReadAccountsBasic"]},"Risk":{}}', utcnow())
    waiting = await bank.consents.create(bank.tpp.client.client_id, request)
    await _refused_everywhere(bank, await bank.token(waiting.consent_id), INVALID_STATUS)
    await _refused_everywhere(bank, await bank.token("aac-never-issued"), INVALID_STATUS)


async def test_a_consent_of_another_client_or_customer_reads_nothing(bank: Bank) -> None:
    consent_id = await bank.consent()
    other = await tpp(bank.app, "mallory")
    stolen = await bank.token(consent_id, client_id=other.client.client_id)
    await _refused_everywhere(bank, stolen, CONSENT_MISMATCH)
    await _refused_everywhere(bank, await bank.token(consent_id, customer=BOB), CONSENT_MISMATCH)


async def test_any_account_not_chosen_gets_the_one_same_refusal(bank: Bank) -> None:
    """Object-level authorisation: another customer's account, the same customer's account not chosen,
    an id that exists nowhere and malformed ones answer identically, on every per-account endpoint."""
    token = await bank.reader()
    others = [bank.bob[0].account_id, bank.not_chosen, "acc-does-not-exist", "x" * 300, "%00",
              "acc%27%20OR%201=1", "%E9%96%8B"]  # fmt: skip
    for spec_path, suffix in PER_ACCOUNT:
        ok(await bank.get(token, concrete(spec_path, suffix, bank.chosen[1])), spec_path)
        answers = [
            refused(
                await bank.get(token, concrete(spec_path, suffix, other)), 403, CONSENT_MISMATCH, "AccountId"
            )
            for other in others
        ]
        assert all(answer == answers[0] for answer in answers), answers


async def test_a_chosen_account_the_customer_no_longer_holds_is_refused_the_same_way(bank: Bank) -> None:
    """The core reads with the token's customer only: a consent naming Bob's account (never possible
    through the consent page) still reads nothing of Bob's, and answers as for any other account."""
    bobs = bank.bob[0].account_id
    token = await bank.token(await bank.consent(accounts=[*bank.chosen, bobs]))
    for spec_path, suffix in PER_ACCOUNT:
        mixed = refused(await bank.get(token, concrete(spec_path, suffix, bobs)), 403, CONSENT_MISMATCH)
        plain = await bank.get(await bank.reader(), concrete(spec_path, suffix, bobs))
        assert mixed == refused(plain, 403, CONSENT_MISMATCH, "AccountId")
    listed = ok(await bank.get(token, "/accounts"), "/accounts")["Data"]["Account"]
    assert [a["AccountId"] for a in listed] == bank.chosen
    balances = ok(await bank.get(token, "/balances"), "/balances")["Data"]["Balance"]
    assert {b["AccountId"] for b in balances} == set(bank.chosen)


@pytest.mark.parametrize("ending", ["revoked", "deleted"])
async def test_a_revoked_or_deleted_consent_stops_access_at_once(bank: Bank, ending: str) -> None:
    consent_id = await bank.consent()
    token = await bank.token(consent_id)
    ok(await bank.get(token, "/accounts"), "/accounts")
    tokens_gone = asyncio.Event()

    def on_revoked(_name: str, payload: Any) -> None:
        if payload.consent_id == consent_id:
            tokens_gone.set()

    bank.app.components.events.subscribe("token.revoked", on_revoked)
    if ending == "revoked":
        assert await bank.consents.revoke(consent_id, "cus_alice")
    else:
        assert await bank.consents.delete(consent_id, bank.tpp.client.client_id)
    # The very next call is refused: by the consent check, or by the token revocation that follows it.
    assert (await bank.get(token, "/accounts")).status_code in (401, 403)
    # A token minted after the consent's tokens were revoked still carries the consent: the consent
    # check alone refuses it, on every endpoint.
    await asyncio.wait_for(tokens_gone.wait(), 5)
    await _refused_everywhere(bank, await bank.token(consent_id), INVALID_STATUS)


async def test_an_expired_consent_stops_access_at_once(bank: Bank) -> None:
    """Expiry is read on every call (no Expired status in v3.1.11: the consent stays Authorised)."""
    soon = datetime.now(UTC) + timedelta(seconds=2)
    consent_id = await bank.consent(ExpirationDateTime=soon.isoformat())
    token = await bank.token(consent_id)
    ok(await bank.get(token, f"/accounts/{bank.chosen[0]}"), "/accounts/{AccountId}")
    await asyncio.sleep(max(0.0, (soon - datetime.now(UTC)).total_seconds()) + 0.05)
    await _refused_everywhere(bank, token, INVALID_STATUS)
