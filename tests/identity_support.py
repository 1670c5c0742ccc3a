"""Helpers for the identity tests: customers on a fresh database with a fast password hash, and the
login pages mounted on a small app with a fake authorization flow (the real one is tested end to end
elsewhere)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from kaimen.authz.once import DatabaseOnce
from kaimen.authz.sealing import sealer_for
from kaimen.events import EventBus
from kaimen.identity.customers import Customers
from kaimen.identity.interactions import Interactions
from kaimen.identity.passkeys import Passkeys
from kaimen.identity.password import Passwords
from kaimen.identity.routes import LoginPages
from kaimen.settings import Settings
from kaimen.store.db import Database

BASE = "http://localhost:8000"
PASSWORD = "correct horse battery staple"
CALLBACK = "https://tpp.example/cb"


class CountingHasher(PasswordHasher):
    """Argon2id with test-sized costs, counting verifications (the unknown-user path must verify too)."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=1024, parallelism=1)
        self.verifications = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        self.verifications += 1
        return super().verify(hash, password)


@dataclass(frozen=True)
class Intent:
    """A consent as the flow's summary carries it (kaimen.authz.ports.IntentView)."""

    intent_id: str = "aac-1234"
    status: str = "AwaitingAuthorisation"
    expires_at: datetime | None = None
    permissions: tuple[str, ...] = ("ReadAccountsBasic", "ReadBalances")
    account_ids: tuple[str, ...] = ()
    step_up: bool = False


@dataclass
class Summary:
    client_name: str = "Acme <Budget> & Co"
    scopes: list[str] = field(default_factory=lambda: ["openid", "accounts"])
    intent_id: str | None = "aac-1234"
    claims: dict[str, Any] = field(default_factory=dict)
    accounts: list[dict[str, str]] = field(
        default_factory=lambda: [{"account_id": "acc-main", "label": "Main account"}]
    )
    debtor_accounts: list[dict[str, str]] = field(default_factory=list)
    intent: Intent | None = field(default_factory=Intent)


@dataclass
class FakeFlow:
    """Stands in for kaimen.authz.flow.AuthorizationFlow: describe(), authenticated() and finish() of
    the contract. ``refuse_authenticated``: authenticated() ends the authorization (as the real flow
    does for a requested sub of someone else, or an Essential acr not met)."""

    summary: Summary = field(default_factory=Summary)
    finished: list[dict[str, Any]] = field(default_factory=list)
    authentications: list[dict[str, Any]] = field(default_factory=list)
    refuse_authenticated: bool = False
    described_for: list[str | None] = field(default_factory=list)  # customer_id of each describe()

    async def describe(self, request_id: str, customer_id: str | None = None) -> Summary:
        self.described_for.append(customer_id)
        return self.summary

    async def authenticated(self, *, request_id: str, customer_id: str, acr: str) -> str | None:
        self.authentications.append({"request_id": request_id, "customer_id": customer_id, "acr": acr})
        return f"{CALLBACK}?error=access_denied&state=s&iss={BASE}" if self.refuse_authenticated else None

    async def finish(
        self,
        *,
        request_id: str,
        customer_id: str,
        amr: list[str],
        acr: str,
        auth_time: datetime,
        approved: bool,
        consent: dict[str, Any],
    ) -> str:
        self.finished.append(
            {
                "request_id": request_id,
                "customer_id": customer_id,
                "amr": amr,
                "acr": acr,
                "auth_time": auth_time,
                "approved": approved,
                "consent": consent,
            }
        )
        outcome = "code=c0de" if approved else "error=access_denied"
        return f"{CALLBACK}?{outcome}&state=s&iss={BASE}"


@dataclass
class World:
    settings: Settings
    db: Database
    customers: Customers
    passkeys: Passkeys
    interactions: Interactions
    flow: FakeFlow
    events: list[tuple[str, Any]]
    hasher: CountingHasher

    def app(self) -> Starlette:
        bus = EventBus()
        for name in ("login.failed", "sca.failed"):
            bus.subscribe(name, lambda event, payload: self.events.append((event, payload)))
        pages = LoginPages(self.interactions, self.customers, self.passkeys, self.flow, bus)

        async def begin(request: Request) -> Response:
            """Stands in for /oauth2/authorize: starts the login session and sends the browser on."""
            response = Response(status_code=303)
            response.headers["location"] = await self.interactions.start(request.query_params["r"], response)
            return response

        return Starlette(routes=[Route("/begin", begin), *pages.routes()])


@pytest.fixture
async def make_world(make_settings: Callable[..., Settings]) -> AsyncIterator[Callable[..., World]]:
    """Builds Worlds on a database with the given oauth settings; closes them after the test."""
    made: list[World] = []

    def make(database_url: str, **oauth: Any) -> World:
        oauth = {"max_login_failures": 3, "lock_seconds": 60, "ip_login_rate": "1000/minute", **oauth}
        settings = make_settings(database_url=database_url, oauth=oauth)
        db = Database(settings.sqlalchemy_url)
        sealer = sealer_for(settings)
        hasher = CountingHasher()
        made.append(
            World(
                settings=settings,
                db=db,
                customers=Customers(db, sealer, settings, passwords=Passwords(hasher)),
                passkeys=Passkeys(db, sealer, DatabaseOnce(db), settings),
                interactions=Interactions(db, settings),
                flow=FakeFlow(),
                events=[],
                hasher=hasher,
            )
        )
        return made[-1]

    yield make
    for world in made:
        await world.customers.close()
        await world.db.dispose()


@pytest.fixture
def world(make_world: Callable[..., World], database_url: str) -> World:
    return make_world(database_url)


def browser(
    app: Any, client_ip: str = "203.0.113.7", headers: dict[str, str] | None = None
) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(client_ip, 51234))
    return httpx.AsyncClient(transport=transport, base_url=BASE, headers=headers)


_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(page: httpx.Response) -> str:
    found = _CSRF.search(page.text)
    assert found, page.text
    return found.group(1)


async def begin(http: httpx.AsyncClient, request_id: str = "req-1") -> httpx.Response:
    """Start a login session (as /oauth2/authorize does) and open the login page."""
    started = await http.get("/begin", params={"r": request_id})
    assert started.status_code == 303
    assert started.headers["location"] == BASE + "/login"
    return await http.get("/login")


async def log_in(http: httpx.AsyncClient, username: str, password: str = PASSWORD) -> httpx.Response:
    page = await begin(http)
    return await http.post("/login", data={"csrf": csrf_of(page), "username": username, "password": password})
