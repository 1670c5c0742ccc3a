"""Helpers of the Confirmation of Funds tests: the whole app on a fresh database, a customer with a
ledger account of known balance, consents made over HTTP and authorised through the IntentKind
adapter, DPoP-bound tokens minted as the token endpoint would, and validators built from the UK OB
v3.1.11 spec file confirmation-funds-openapi.json (never from Kaimen's own code)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any

import httpx
from jsonschema import Draft4Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from kaimen.apis.funds.consents import FundsConfirmationConsents
from kaimen.apis.funds.intents import FundsIntents
from kaimen.ledger.core import SORT_CODE_ACCOUNT_NUMBER, Account
from kaimen.settings import Settings
from kaimen.store.types import utcnow
from tests.account_consents_support import DATE_TIME, INTERACTION_ID, Tpp, new_tpp
from tests.dpop_support import BASE, ec_key, proof, running
from tests.support import REPO, load_json, ob_spec
from tests.test_ledger_support import book, open_account

SPEC_NAME = "confirmation-funds-openapi.json"
PACKAGED_FUNDS_SPECS = REPO / "src" / "kaimen" / "apis" / "funds" / "specs"
SPEC_URI = "urn:uk-ob:v3.1.11:confirmation-funds"
CBPII = "/open-banking/v3.1/cbpii"
CONSENTS = f"{CBPII}/funds-confirmation-consents"
CONFIRMATIONS = f"{CBPII}/funds-confirmations"
MEDIA_TYPE = "application/json; charset=utf-8"
ALICE, BOB = "cus_alice", "cus_bob"
BALANCE = 100_000  # Alice's current account: GBP 1000.00 available
CONSENT_MISMATCH = "UK.OBIE.Resource.ConsentMismatch"
INVALID_STATUS = "UK.OBIE.Resource.InvalidConsentStatus"
FIELD_INVALID = "UK.OBIE.Field.Invalid"
FIELD_MISSING = "UK.OBIE.Field.Missing"
FIELD_UNEXPECTED = "UK.OBIE.Field.Unexpected"
INVALID_DATE = "UK.OBIE.Field.InvalidDate"
INVALID_FORMAT = "UK.OBIE.Resource.InvalidFormat"
NOT_FOUND = "UK.OBIE.Resource.NotFound"


def funds_spec_file() -> Path:
    return ob_spec(SPEC_NAME)


@cache
def spec() -> dict[str, Any]:
    document: dict[str, Any] = load_json(funds_spec_file())
    return document


@cache
def validator(schema_name: str) -> Draft4Validator:
    registry: Registry[Any] = Registry().with_resource(
        SPEC_URI, Resource.from_contents(spec(), default_specification=DRAFT4)
    )
    return Draft4Validator({"$ref": f"{SPEC_URI}#/components/schemas/{schema_name}"}, registry=registry)


def assert_valid(schema_name: str, document: Any) -> None:
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator(schema_name).iter_errors(document)]
    assert errors == [], errors[:5]


def assert_answer(response: httpx.Response, status: int, schema_name: str) -> dict[str, Any]:
    """A conforming answer: status, the spec's media type, the interaction id, the schema, and every
    date-time with its zone."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == MEDIA_TYPE
    assert response.headers["x-fapi-interaction-id"]
    body: dict[str, Any] = response.json()
    assert_valid(schema_name, body)
    for name in ("CreationDateTime", "StatusUpdateDateTime"):
        if name in body["Data"]:
            assert DATE_TIME.match(body["Data"][name]), body["Data"][name]
    return body


def assert_consent(response: httpx.Response, status: int) -> dict[str, Any]:
    return assert_answer(response, status, "OBFundsConfirmationConsentResponse1")


def assert_confirmation(response: httpx.Response) -> dict[str, Any]:
    return assert_answer(response, 201, "OBFundsConfirmationResponse1")


def assert_ob_error(
    response: httpx.Response, status: int, code: str, path: str | None = None
) -> dict[str, Any]:
    """The exact refusal: status, an OBErrorResponse1 (this spec file's) with ``code`` and ``path``."""
    assert response.status_code == status, response.text
    assert response.headers["x-fapi-interaction-id"]
    body: dict[str, Any] = response.json()
    assert_valid("OBErrorResponse1", body)
    assert body["Code"] == {400: "400 BadRequest", 401: "401 Unauthorized", 403: "403 Forbidden",
                            404: "404 NotFound", 405: "405 MethodNotAllowed",
                            415: "415 UnsupportedMediaType"}[status]  # fmt: skip
    assert [e["ErrorCode"] for e in body["Errors"]] == [code], body
    if path is not None:
        assert body["Errors"][0]["Path"] == path, body
    return body


def consent_body(identification: str = "40127612345678", **data: Any) -> dict[str, Any]:
    debtor = {"SchemeName": SORT_CODE_ACCOUNT_NUMBER, "Identification": identification, "Name": "Alice Chen"}
    return {"Data": {"DebtorAccount": debtor, **data}}


def check_body(consent_id: str, amount: str = "10.00", currency: str = "GBP", **data: Any) -> dict[str, Any]:
    return {
        "Data": {
            "ConsentId": consent_id,
            "Reference": "Purchase01",
            "InstructedAmount": {"Amount": amount, "Currency": currency},
            **data,
        }
    }


class FundsBank:
    """The running app, Alice's current account (BALANCE available), Bob's, and a TPP."""

    def __init__(self, app: Any, http: httpx.AsyncClient, tpp: Tpp) -> None:
        self.app = app
        self.http = http
        self.tpp = tpp
        self.alice: Account
        self.alice_eur: Account
        self.bob: Account

    @property
    def consents(self) -> FundsConfirmationConsents:
        consents: FundsConfirmationConsents = self.app.components.funds_consents
        return consents

    @property
    def intents(self) -> FundsIntents:
        return FundsIntents(self.consents, self.app.components.core_banking)

    async def open(self, customer: str, balance: int, currency: str = "GBP") -> Account:
        db = self.app.components.db
        row = await open_account(db, customer, currency=currency)
        await book(db, row.id, balance, utcnow() - timedelta(days=1))
        account: Account = await self.app.components.core_banking.account(customer, row.id)
        return account

    async def consent_id(self, account: Account | None = None, tpp: Tpp | None = None, **data: Any) -> str:
        """A consent created over HTTP naming ``account`` (default Alice's), AwaitingAuthorisation."""
        response = await (tpp or self.tpp).call(
            "POST", CONSENTS, json=consent_body((account or self.alice).identification, **data)
        )
        created = assert_consent(response, 201)
        consent_id: str = created["Data"]["ConsentId"]
        return consent_id

    async def authorised(
        self, account: Account | None = None, customer: str = ALICE, tpp: Tpp | None = None, **data: Any
    ) -> str:
        """A consent the customer authorised through the IntentKind adapter, as the consent page would."""
        account = account or self.alice
        tpp = tpp or self.tpp
        consent_id = await self.consent_id(account, tpp, **data)
        intent = await self.intents.for_authorisation(consent_id, tpp.client_id)
        assert intent is not None
        assert await self.intents.approve(intent, customer, [account.account_id])
        return consent_id

    async def token(
        self, consent_id: str | None, *, customer: str | None = ALICE, client_id: str | None = None
    ) -> str:
        """A DPoP-bound access token as the token endpoint issues it after the PSU's approval
        (tests.ais_resources_support.Bank.token, for the scope fundsconfirmations)."""
        issued = await self.app.components.authz.tokens.issue(
            client_id=client_id or self.tpp.client_id,
            customer_id=customer,
            scope="openid fundsconfirmations" if customer else "fundsconfirmations",
            jkt=ec_key().thumbprint(),
            grant_id=uuid.uuid4().hex,
            consent_id=consent_id,
            details={},
            refresh=False,
        )
        token: str = issued.access_token
        return token

    async def confirm(self, token: str, body: Any = None, *, content: bytes | None = None,
                      content_type: str = "application/json") -> httpx.Response:  # fmt: skip
        headers = {
            "authorization": f"DPoP {token}",
            "dpop": proof(method="POST", url=BASE + CONFIRMATIONS, token=token),
            "x-fapi-interaction-id": INTERACTION_ID,
            "content-type": content_type,
        }
        if body is not None:
            content = httpx.Request("POST", "/", json=body).content
        return await self.http.post(CONFIRMATIONS, content=content, headers=headers)


async def new_funds_tpp(app: Any, http: httpx.AsyncClient, name: str) -> Tpp:
    """An approved TPP with a client_credentials-shaped token of scope fundsconfirmations."""
    return await new_tpp(app, http, name, scope="fundsconfirmations")


@asynccontextmanager
async def open_funds_bank(settings: Settings) -> AsyncIterator[FundsBank]:
    async with running(settings) as (app, http):
        bank = FundsBank(app, http, await new_funds_tpp(app, http, "cbpii-tpp"))
        bank.alice = await bank.open(ALICE, BALANCE)
        bank.alice_eur = await bank.open(ALICE, 5_000, "EUR")
        bank.bob = await bank.open(BOB, 50_000)
        yield bank
