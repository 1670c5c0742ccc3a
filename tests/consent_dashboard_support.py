"""Helpers of the customer dashboard tests: the whole app with two real customers (password + TOTP) and
their sandbox accounts, a TPP, Authorised consents and tokens made as the AIS tests make them
(tests.ais_resources_support.Bank), and a browser-like client that logs in through the dashboard."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from kaimen.identity import totp
from kaimen.identity.customers import totp_context
from kaimen.identity.password import Passwords
from kaimen.ledger.history import seed_history
from kaimen.settings import Settings
from kaimen.store.identity_models import Customer
from tests.ais_resources_support import ALICE, BOB, SEED, TODAY, Bank
from tests.dpop_support import BASE, proof, running, tpp
from tests.support import client_for

PASSWORD = "correct horse battery staple"
LOGIN, OTP, HOME = "/dashboard/login", "/dashboard/login/otp", "/dashboard"
REVOKE, LOGOUT = "/dashboard/revoke", "/dashboard/logout"
TOKEN = "/oauth2/token"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Person:
    username: str
    customer_id: str
    totp_secret: str
    step: int  # the next TOTP time step to use (each is accepted once)

    def code(self) -> str:
        """A code the server has not accepted yet: steps are used in order from one before now, so a
        test can log the same customer in up to three times (RFC 6238 window: one step either side)."""
        step = max(self.step, totp.current_step() - totp.WINDOW)
        assert step <= totp.current_step() + totp.WINDOW, "more logins than the TOTP window allows"
        self.step = step + 1
        return totp.code_at(self.totp_secret, step)


def csrf_of(page: httpx.Response) -> str:
    found = _CSRF.search(page.text)
    assert found, page.text
    return found.group(1)


async def log_in(http: httpx.AsyncClient, person: Person) -> httpx.Response:
    """Password, then one-time code; returns the dashboard page."""
    page = await http.get(LOGIN)
    assert page.status_code == 200, page.text
    answer = await http.post(
        LOGIN, data={"csrf": csrf_of(page), "username": person.username, "password": PASSWORD}
    )
    assert answer.status_code == 303 and answer.headers["location"] == OTP, answer.text
    page = await http.get(OTP)
    answer = await http.post(OTP, data={"csrf": csrf_of(page), "otp": person.code()})
    assert answer.status_code == 303 and answer.headers["location"] == HOME, answer.text
    listed = await http.get(HOME)
    assert listed.status_code == 200, listed.text
    return listed


def sections(page: httpx.Response) -> dict[str, str]:
    """Each listed consent's section of the dashboard page, by consent id."""
    return dict(
        re.findall(r'<section class="holding" data-consent-id="([^"]+)">(.*?)</section>', page.text, re.S)
    )


class World:
    """The app (``bank``: its TPP, consents and tokens), Alice and Bob as real customers."""

    def __init__(self, bank: Bank, alice: Person, bob: Person) -> None:
        self.bank = bank
        self.alice = alice
        self.bob = bob

    @property
    def app(self) -> Any:
        return self.bank.app

    def browser(self, app: Any = None) -> httpx.AsyncClient:
        return client_for(app or self.app)

    async def refresh(self, refresh_token: str, http: httpx.AsyncClient | None = None) -> httpx.Response:
        """The TPP's refresh_token grant (private_key_jwt + DPoP) at the token endpoint."""
        form = self.bank.tpp.form(grant_type="refresh_token", refresh_token=refresh_token)
        headers = {"dpop": proof(method="POST", url=BASE + TOKEN)}
        return await (http or self.bank.http).post(TOKEN, data=form, headers=headers)

    async def tokens(self, consent_id: str, customer_id: str) -> tuple[str, str]:
        """An access token and a refresh token under ``consent_id``, as the token endpoint issues them."""
        import uuid

        from tests.dpop_support import ec_key

        issued = await self.app.components.authz.tokens.issue(
            client_id=self.bank.tpp.client.client_id,
            customer_id=customer_id,
            scope="openid accounts",
            jkt=ec_key().thumbprint(),
            grant_id=uuid.uuid4().hex,
            consent_id=consent_id,
            details={},
            refresh=True,
        )
        return issued.access_token, issued.refresh_token


# PASSWORD's hashes, made by the app's own Passwords (Argon2id at argon2-cffi's defaults, some 0.2 s
# each): one serves every customer of the session whose hasher would store it as it is (no rehash
# needed). Logging in still verifies the password against it at full cost.
_HASHES: list[str] = []


def password_hash(passwords: Passwords) -> str:
    for made in _HASHES:
        if not passwords.needs_rehash(made):
            return made
    made = passwords.hash(PASSWORD)
    _HASHES.append(made)
    return made


async def person(app: Any, username: str, customer_id: str) -> Person:
    """A customer with a fixed id (the sandbox seed gives ``tests.ais_resources_support.ALICE`` three
    accounts), a password and a TOTP secret, stored as Customers.create stores them."""
    customers = app.components.authz.customers
    secret = totp.new_secret()
    async with app.components.db.write() as session:
        session.add(
            Customer(
                id=customer_id,
                username=username,
                display_name=username.title(),
                password_hash=password_hash(customers.passwords),
                totp_sealed=customers.sealer.seal(secret.encode(), totp_context(customer_id)),
                totp_last_step=0,
                failed_logins=0,
                locks=0,
            )
        )
    return Person(username, customer_id, secret, totp.current_step() - 1)


async def populate(app: Any, http: httpx.AsyncClient) -> World:
    alice, bob = await person(app, "alice", ALICE), await person(app, "bob", BOB)
    await seed_history(app.components.db, [alice.customer_id, bob.customer_id], seed=SEED, today=TODAY)
    bank = Bank(app, http, await tpp(app, "Pennywise"))
    bank.alice = await bank.core.accounts(alice.customer_id)
    bank.bob = await bank.core.accounts(bob.customer_id)
    assert len(bank.alice) == 3 and bank.bob
    return World(bank, alice, bob)


@asynccontextmanager
async def open_world(settings: Settings) -> AsyncIterator[World]:
    async with running(settings) as (app, http):
        yield await populate(app, http)
