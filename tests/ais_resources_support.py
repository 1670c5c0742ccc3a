"""Helpers of the AIS resource tests: the whole app on a fresh database, a sandbox ledger seeded for two
customers, consents made through the consent service, DPoP-bound customer tokens minted directly, and
DPoP-signed GETs (the proof's htu without the query, RFC 9449 §4.2)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from typing import Any

import httpx
import orjson

from kaimen.apis.accounts.consent_request import read_consent_request
from kaimen.apis.accounts.consents import AccountAccessConsents
from kaimen.ledger.core import Account, CoreBanking
from kaimen.ledger.history import seed_history
from kaimen.settings import Settings
from kaimen.store.types import utcnow
from tests.account_consents_support import ALL_SUPPORTED, assert_ob_error
from tests.ais_views_support import MEDIA_TYPE, assert_conforms
from tests.dpop_support import BASE, ec_key, proof, running, tpp

AISP = "/open-banking/v3.1/aisp"
ALICE, BOB = "cus_alice", "cus_bob"
# Seed 1 gives Alice three accounts (current, savings, credit card): two are chosen, one is not.
SEED = 1
TODAY = date(2026, 11, 26)
CONSENT_MISMATCH = "UK.OBIE.Resource.ConsentMismatch"
INVALID_STATUS = "UK.OBIE.Resource.InvalidConsentStatus"
EVERYTHING = ALL_SUPPORTED

ACCOUNT = "/accounts/{AccountId}"
# The spec file's path, and the suffix to GET under /accounts/{AccountId} (None: no AccountId).
ENDPOINTS = [
    ("/accounts", None),
    (ACCOUNT, ""),
    (f"{ACCOUNT}/balances", "/balances"),
    (f"{ACCOUNT}/transactions", "/transactions"),
    (f"{ACCOUNT}/product", "/product"),
    (f"{ACCOUNT}/parties", "/parties"),
    ("/party", None),
    ("/balances", None),
    ("/transactions", None),
]


def concrete(spec_path: str, suffix: str | None, account_id: str) -> str:
    return spec_path if suffix is None else f"/accounts/{account_id}{suffix}"


class Bank:
    """The running app, its ledger, and a TPP (``tpp``) Alice grants access to."""

    def __init__(self, app: Any, http: httpx.AsyncClient, tpp: Any) -> None:
        self.app = app
        self.http = http
        self.tpp = tpp
        self.alice: list[Account] = []
        self.bob: list[Account] = []

    @property
    def consents(self) -> AccountAccessConsents:
        consents: AccountAccessConsents = self.app.components.consents
        return consents

    @property
    def core(self) -> CoreBanking:
        core: CoreBanking = self.app.components.core_banking
        return core

    @property
    def chosen(self) -> list[str]:
        """The two accounts Alice chooses: her current account and her savings."""
        return [self.alice[0].account_id, self.alice[1].account_id]

    @property
    def not_chosen(self) -> str:
        return self.alice[2].account_id

    async def consent(
        self,
        permissions: list[str] | None = None,
        *,
        customer: str = ALICE,
        accounts: list[str] | None = None,
        client_id: str | None = None,
        **data: Any,
    ) -> str:
        """An Authorised consent: created through the service, then authorised by ``customer``."""
        body = {"Data": {"Permissions": permissions or EVERYTHING, **data}, "Risk": {}}
        request = read_consent_request(orjson.dumps(body), utcnow())
        consent = await self.consents.create(client_id or self.tpp.client.client_id, request)
        assert await self.consents.authorise(consent.consent_id, customer, accounts or self.chosen)
        return consent.consent_id

    async def token(
        self, consent_id: str | None, *, customer: str | None = ALICE, client_id: str | None = None
    ) -> str:
        """A DPoP-bound access token, as the token endpoint would issue it after the PSU's approval."""
        issued = await self.app.components.authz.tokens.issue(
            client_id=client_id or self.tpp.client.client_id,
            customer_id=customer,
            scope="openid accounts" if customer else "accounts",
            jkt=ec_key().thumbprint(),
            grant_id=uuid.uuid4().hex,
            consent_id=consent_id,
            details={},
            refresh=False,
        )
        token: str = issued.access_token
        return token

    async def reader(self, permissions: list[str] | None = None, **data: Any) -> str:
        """A token on a fresh consent of Alice's for her two chosen accounts."""
        return await self.token(await self.consent(permissions, **data))

    async def get(self, token: str, path: str, params: dict[str, str] | None = None) -> httpx.Response:
        """GET ``AISP + path`` with the token and a fresh DPoP proof and interaction id."""
        headers = {
            "authorization": f"DPoP {token}",
            "dpop": proof(method="GET", url=BASE + AISP + path, token=token),
            "x-fapi-interaction-id": str(uuid.uuid4()),
        }
        return await self.http.get(AISP + path, params=params, headers=headers)


def ok(response: httpx.Response, spec_path: str) -> dict[str, Any]:
    """A 200 whose body conforms to the spec file's schema for GET ``spec_path``."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == MEDIA_TYPE
    assert response.headers["x-fapi-interaction-id"]
    body: dict[str, Any] = response.json()
    assert_conforms(spec_path, body)
    return body


def refused(response: httpx.Response, status: int, code: str, path: str | None = None) -> dict[str, Any]:
    """The exact OB refusal; its body without the interaction id (``Id``), for comparisons."""
    assert_ob_error(response, status, code, path)
    body: dict[str, Any] = response.json()
    assert body["Id"] == response.headers["x-fapi-interaction-id"]
    return {name: value for name, value in body.items() if name != "Id"}


@asynccontextmanager
async def open_bank(settings: Settings) -> AsyncIterator[Bank]:
    async with running(settings) as (app, http):
        await seed_history(app.components.db, [ALICE, BOB], seed=SEED, today=TODAY)
        bank = Bank(app, http, await tpp(app, "alice-tpp"))
        bank.alice = await bank.core.accounts(ALICE)
        bank.bob = await bank.core.accounts(BOB)
        assert len(bank.alice) == 3 and bank.bob, "the seed no longer gives Alice three accounts"
        yield bank
