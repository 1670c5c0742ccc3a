"""A live ``kaimen serve`` (embedded: SQLite, no services) with everything a TPP needs to call the UK OB
APIs, for schemathesis over the v3.1.11 spec files (tests/test_ob_schemathesis.py).

What :func:`live_bank` sets up, once per test module:

- a migrated SQLite database and, written with Kaimen's own services before the server starts, an
  approved PARTNER application with an OAuth client (PS256 key) and four customers with sandbox
  accounts (tests.multiprocess_support's seeding and server start, here in embedded mode);
- rate limits no case reaches (tests.fuzz_support.generous_apis): a 429 conforms, but a case that
  meets one tests nothing behind the limit;
- for each API, the TPP's client_credentials token and a customer's authorization_code token bound to
  an Authorised consent, both DPoP-bound to one key: the Account API's with every permission the
  served endpoints need, the Confirmation of Funds API's naming the customer's account, the Payment
  Initiation API's for 1.00 GBP; a second payment consent is authorised and paid here so that a real
  DomesticPaymentId exists;
- real identifiers (ConsentId, AccountId, DomesticPaymentId) for the cases to use.

The public base URL is ``https://bank.test``, as in tests.multiprocess_support: the edge's name, never
connected to, so every DPoP ``htu`` names it while the request goes to the loopback port.

:class:`ObAuth` is the requests auth hook each case is sent with. It sees the request exactly as it will
go on the wire and adds what the contract needs: ``Authorization: DPoP <token>``; a fresh DPoP proof
(RFC 9449 §4.2) whose ``htm``, ``htu`` and ``ath`` are this request's; for an operation whose spec
declares them, a fresh ``x-idempotency-key`` and an ``x-jws-signature`` detached JWS over the very
bytes of the body (UK OB Read/Write Data API Profile, "Message Signing"). The v3.1.11 files declare no
``x-fapi-financial-id``, so none is sent.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from joserfc.jwk import ECKey
from requests.auth import AuthBase

from kaimen.settings import Settings
from tests.demo_flow_support import dpop_proof
from tests.fapi_client_support import CHECKBOX, RADIO
from tests.fuzz_support import generous_apis
from tests.multiprocess_support import (
    PUBLIC,
    Browser,
    Customer,
    Instance,
    Pkce,
    Tpp,
    code_of,
    seed,
    settings_of,
    start_instance,
    stop_instance,
)
from tests.payments_support import consent_body, sign_with_joserfc

AISP = "/open-banking/v3.1/aisp"
CBPII = "/open-banking/v3.1/cbpii"
PISP = "/open-banking/v3.1/pisp"
# The permissions the served AIS endpoints need (kaimen.apis.accounts.ais_permissions).
AIS_PERMISSIONS = [
    "ReadAccountsDetail",
    "ReadBalances",
    "ReadTransactionsDetail",
    "ReadTransactionsCredits",
    "ReadTransactionsDebits",
    "ReadProducts",
    "ReadParty",
    "ReadPartyPSU",
]


def public_url(url: str) -> str:
    """The URL a request to the loopback port stands for, without query or fragment: RFC 9449 §4.2,
    ``htu`` is "the HTTP target URI ... without query and fragment parts"."""
    parts = urlsplit(url)
    public = urlsplit(PUBLIC)
    return urlunsplit((public.scheme, public.netloc, parts.path, "", ""))


class ObAuth(AuthBase):
    """Credentials for one request, made from the prepared request itself (see the module docstring):
    ``signer`` signs the body when given, ``idempotent`` adds a fresh x-idempotency-key."""

    def __init__(self, key: ECKey, token: str, *, signer: Tpp | None, tan: str, idempotent: bool) -> None:
        self.key = key
        self.token = token
        self.signer = signer
        self.tan = tan
        self.idempotent = idempotent

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        method, url = str(request.method), str(request.url)
        request.headers["Authorization"] = f"DPoP {self.token}"
        request.headers["DPoP"] = dpop_proof(self.key, method, public_url(url), self.token)
        if self.signer is not None:
            body = request.body if request.body is not None else b""
            content = body.encode() if isinstance(body, str) else body
            assert isinstance(content, bytes), "a streamed body cannot be signed"
            # A client registered without a software statement signs as its client_id (kaimen.jws).
            request.headers["x-jws-signature"] = sign_with_joserfc(
                content, self.signer.key, iss=self.signer.client_id, tan=self.tan
            )
        if self.idempotent:
            request.headers["x-idempotency-key"] = uuid.uuid4().hex
        return request


@dataclass
class ApiCredentials:
    """One API's tokens and what cases may use to reach the handlers: real path parameters by name,
    the Authorised consent (which a body's ``Data.ConsentId`` can name), and a valid body for each
    operation that takes one, by path under the API's base path."""

    tpp_token: str
    psu_token: str
    consent_id: str
    ids: dict[str, list[str]] = field(default_factory=dict)
    bodies: dict[str, Any] = field(default_factory=dict)


@dataclass
class LiveBank:
    instance: Instance
    tpp: Tpp
    key: ECKey
    tan: str
    apis: dict[str, ApiCredentials] = field(default_factory=dict)

    def auth(self, token: str, *, signed: bool = False, idempotent: bool = False) -> ObAuth:
        signer = self.tpp if signed else None
        return ObAuth(self.key, token, signer=signer, tan=self.tan, idempotent=idempotent)

    def call(
        self, method: str, path: str, token: str, body: Any = None, *, signed: bool = False
    ) -> requests.Response:
        """A UK OB request with this bank's credentials (the hook the cases use); ``signed`` for the
        Payment API's POSTs, which also take an x-idempotency-key."""
        content = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if body is not None else {}
        return requests.request(
            method,
            self.instance.url(path),
            data=content,
            headers=headers,
            auth=self.auth(token, signed=signed, idempotent=signed),
            timeout=10,
        )

    def created(self, path: str, token: str, body: Any, *, signed: bool = False) -> dict[str, Any]:
        response = self.call("POST", path, token, body, signed=signed)
        assert response.status_code == 201, response.text
        data: dict[str, Any] = response.json()["Data"]
        return data

    def authorise(self, consent_id: str, scope: str, customer: Customer) -> str:
        """PAR naming ``consent_id``, the customer's pages (every account offered ticked, the first
        debtor account picked, the next time step's code when the risk engine asks for one: each step's
        code is accepted once per customer), the code redeemed: the access token."""
        pkce = Pkce()
        request_uri = self.tpp.push(self.instance, self.key, consent_id, pkce, scope)
        browser = Browser(self.instance)
        try:
            consent_url = browser.log_in(self.tpp, request_uri, customer)
            page, hidden = browser.form(consent_url)
            answer: dict[str, Any] = {**hidden, "decision": "approve", "account_id": CHECKBOX.findall(page)}
            debtors = RADIO.findall(page)
            if debtors:
                answer["debtor_account_id"] = debtors[0]
            if 'name="otp"' in page:
                answer["otp"] = customer.totp.at(time.time() + 30)
            code = code_of(browser.post(consent_url, answer))
        finally:
            browser.close()
        response = self.tpp.redeem(self.instance, code, pkce, self.key)
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token


def embedded_env(database_url: str, data_dir: Path) -> dict[str, str]:
    """The server's environment: this one without any KAIMEN_ setting of the caller's, and the bank's."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("KAIMEN_")}
    return inherited | {
        "KAIMEN_MODE": "embedded",
        "KAIMEN_DATABASE_URL": database_url,
        "KAIMEN_DATA_DIR": str(data_dir),
        "KAIMEN_PUBLIC_BASE_URL": PUBLIC,
        "KAIMEN_SECRET_KEY": secrets.token_urlsafe(32),  # the seeding and the server share it
        "KAIMEN_APIS": json.dumps(generous_apis()),
        "KAIMEN_WORKERS": "1",
        "KAIMEN_LOG_LEVEL": "WARNING",
    }


async def _accounts(settings: Settings, usernames: list[str]) -> dict[str, list[dict[str, str]]]:
    """Each customer's accounts as the sandbox contract lists them (kaimen.demo.customers)."""
    from kaimen.authz.sealing import sealer_for
    from kaimen.demo.customers import accounts_of
    from kaimen.identity.customers import Customers
    from kaimen.ledger.sandbox import sandbox_core_banking
    from kaimen.store.db import Database

    db = Database(settings.sqlalchemy_url)
    people = Customers(db, sealer_for(settings), settings)
    try:
        ids = {c.username: c.id for c in await people.list()}
        core = sandbox_core_banking(db)
        return {name: await accounts_of(core, ids[name]) for name in usernames}
    finally:
        await people.close()
        await db.dispose()


def _account_api(bank: LiveBank, customer: Customer) -> ApiCredentials:
    tpp_token = bank.tpp.own_token(bank.instance, bank.key, "accounts")
    consents = AISP + "/account-access-consents"
    body = {"Data": {"Permissions": AIS_PERMISSIONS}, "Risk": {}}
    authorised = bank.created(consents, tpp_token, body)["ConsentId"]
    awaiting = [bank.created(consents, tpp_token, body)["ConsentId"] for _ in range(2)]
    psu_token = bank.authorise(authorised, "openid accounts", customer)
    listed = bank.call("GET", AISP + "/accounts", psu_token)
    assert listed.status_code == 200, listed.text
    accounts = [a["AccountId"] for a in listed.json()["Data"]["Account"]]
    assert accounts, listed.text
    return ApiCredentials(
        tpp_token,
        psu_token,
        authorised,
        {"ConsentId": [authorised, *awaiting], "AccountId": accounts},
        {"/account-access-consents": body},
    )


def _funds_api(bank: LiveBank, customer: Customer, identification: str) -> ApiCredentials:
    tpp_token = bank.tpp.own_token(bank.instance, bank.key, "fundsconfirmations")
    consents = CBPII + "/funds-confirmation-consents"
    debtor = {"SchemeName": "UK.OBIE.SortCodeAccountNumber", "Identification": identification}
    body = {"Data": {"DebtorAccount": debtor}}
    authorised = bank.created(consents, tpp_token, body)["ConsentId"]
    awaiting = bank.created(consents, tpp_token, body)["ConsentId"]
    psu_token = bank.authorise(authorised, "openid fundsconfirmations", customer)
    amount = {"Amount": "1.00", "Currency": "GBP"}
    confirmation = {"Data": {"ConsentId": authorised, "Reference": "Purchase01", "InstructedAmount": amount}}
    return ApiCredentials(
        tpp_token,
        psu_token,
        authorised,
        {"ConsentId": [authorised, awaiting]},
        {"/funds-confirmation-consents": body, "/funds-confirmations": confirmation},
    )


def _payment_api(bank: LiveBank, paid_by: Customer, payer: Customer) -> ApiCredentials:
    tpp_token = bank.tpp.own_token(bank.instance, bank.key, "payments")
    consents = PISP + "/domestic-payment-consents"
    body = consent_body(InstructedAmount={"Amount": "1.00", "Currency": "GBP"})
    paid = bank.created(consents, tpp_token, body, signed=True)["ConsentId"]
    paid_token = bank.authorise(paid, "openid payments", paid_by)
    payments = PISP + "/domestic-payments"
    payment_id = bank.created(payments, paid_token, payment_of(paid, body), signed=True)["DomesticPaymentId"]
    authorised = bank.created(consents, tpp_token, body, signed=True)["ConsentId"]
    awaiting = bank.created(consents, tpp_token, body, signed=True)["ConsentId"]
    psu_token = bank.authorise(authorised, "openid payments", payer)
    return ApiCredentials(
        tpp_token,
        psu_token,
        authorised,
        {"ConsentId": [authorised, awaiting, paid], "DomesticPaymentId": [payment_id]},
        {"/domestic-payment-consents": body, "/domestic-payments": payment_of(authorised, body)},
    )


def payment_of(consent_id: str, consent: dict[str, Any]) -> dict[str, Any]:
    """OBWriteDomestic2 for ``consent_id``: its Initiation and Risk exactly as consented."""
    return {
        "Data": {"ConsentId": consent_id, "Initiation": consent["Data"]["Initiation"]},
        "Risk": consent["Risk"],
    }


@contextmanager
def live_bank(tmp: Path) -> Iterator[LiveBank]:
    """The server and the credentials of every API (see the module docstring)."""
    from kaimen.store.migrate import upgrade

    database_url = f"sqlite+aiosqlite:///{tmp / 'kaimen.db'}"
    env = embedded_env(database_url, tmp)
    upgrade(database_url)
    tpp, customers = asyncio.run(seed(env, tmp, 4))
    settings = settings_of(env, tmp)
    accounts = asyncio.run(_accounts(settings, [c.username for c in customers]))
    instance = start_instance("ob", env, tmp / "server")
    try:
        bank = LiveBank(instance, tpp, ECKey.generate_key("P-256", private=True), settings.jws_tan)
        ais_customer, funds_customer, paid_by, payer = customers
        gbp = next(a for a in accounts[funds_customer.username] if a["currency"] == "GBP")
        bank.apis["aisp"] = _account_api(bank, ais_customer)
        bank.apis["cbpii"] = _funds_api(bank, funds_customer, gbp["identification"])
        bank.apis["pisp"] = _payment_api(bank, paid_by, payer)
        yield bank
    finally:
        stop_instance(instance)
