"""The customer's consent dashboard (issue: "every TPP holding access, what it can see, for which
accounts, until when, and when it last used it; revoke -> the consent is Revoked and that TPP's tokens
stop working at once in every worker"): login + SCA, its own session, CSRF, the list, revoke."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from kaimen.apis.accounts.consent_request import read_consent_request
from kaimen.apis.accounts.consents import Status
from kaimen.apis.funds.requests import read_funds_consent_request
from kaimen.audit.verify import verify
from kaimen.consent.sessions import COOKIE, DashboardSessions
from kaimen.settings import Settings
from kaimen.store.types import utcnow
from tests.ais_resources_support import ok
from tests.consent_dashboard_support import (
    HOME,
    LOGIN,
    LOGOUT,
    OTP,
    PASSWORD,
    REVOKE,
    World,
    csrf_of,
    log_in,
    open_world,
    populate,
    sections,
)
from tests.support import TEST_DATABASE_URL, client_for, lifespan

EXPIRY = "2027-03-01T00:00:00+00:00"


@pytest.fixture
async def world(make_settings: Callable[..., Settings], database_url: str) -> AsyncIterator[World]:
    async with open_world(make_settings(database_url=database_url)) as made:
        yield made


async def flushed(world: World, app: Any = None) -> None:
    """Every queued audit record written (the writer flushes off the request path)."""
    await (app or world.app).components.audit.flush()


def assert_page_headers(response: Any) -> None:
    """The login pages' headers (kaimen.identity.pages.base) on every dashboard page."""
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "form-action 'self'" in csp
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["content-type"] == "text/html; charset=utf-8"


# --- login + SCA ------------------------------------------------------------------------------------


async def test_the_dashboard_needs_the_password_then_the_one_time_code(world: World) -> None:
    async with world.browser() as http:
        assert (await http.get(HOME)).headers["location"] == LOGIN  # 303: not logged in
        page = await http.get(LOGIN)
        assert page.status_code == 200
        assert_page_headers(page)
        cookie = page.headers["set-cookie"]
        assert cookie.startswith(f"{COOKIE}=")
        for attribute in ("HttpOnly", "Path=/dashboard", "SameSite=strict"):
            assert attribute.lower() in cookie.lower(), cookie
        assert "secure" not in cookie.lower()  # the test issuer is http://localhost
        first_cookie = http.cookies[COOKIE]

        wrong = await http.post(LOGIN, data={"csrf": csrf_of(page), "username": "alice", "password": "wrong"})
        assert wrong.status_code == 401
        assert "The username or password is not right." in wrong.text
        right = await http.post(
            LOGIN, data={"csrf": csrf_of(wrong), "username": "alice", "password": PASSWORD}
        )
        assert (right.status_code, right.headers["location"]) == (303, OTP)
        assert http.cookies[COOKIE] != first_cookie  # the session id is renewed at login
        # The password alone opens nothing.
        assert (await http.get(HOME)).headers["location"] == OTP

        page = await http.get(OTP)
        assert page.status_code == 200 and 'name="otp"' in page.text
        bad = await http.post(OTP, data={"csrf": csrf_of(page), "otp": "000000"})
        assert bad.status_code == 401
        code = world.alice.code()
        good = await http.post(OTP, data={"csrf": csrf_of(bad), "otp": code})
        assert (good.status_code, good.headers["location"]) == (303, HOME)
        listed = await http.get(HOME)
        assert listed.status_code == 200 and "Logged in as Alice" in listed.text
        assert_page_headers(listed)

    # RFC 6238 §5.2: the code just accepted is refused on its second use.
    async with world.browser() as http:
        page = await http.get(LOGIN)
        await http.post(LOGIN, data={"csrf": csrf_of(page), "username": "alice", "password": PASSWORD})
        page = await http.get(OTP)
        replay = await http.post(OTP, data={"csrf": csrf_of(page), "otp": code})
        assert replay.status_code == 401
        assert (await http.get(HOME)).headers["location"] == OTP


async def test_failed_logins_lock_the_customer_as_the_oauth_login_does(world: World) -> None:
    failures = world.app.components.settings.oauth.max_login_failures
    async with world.browser() as http:
        page = await http.get(LOGIN)
        for _ in range(failures):
            page = await http.post(
                LOGIN, data={"csrf": csrf_of(page), "username": "alice", "password": "wrong"}
            )
        assert page.status_code == 429
        assert int(page.headers["retry-after"]) > 0
        # Locked: even the right password is refused now.
        locked = await http.post(
            LOGIN, data={"csrf": csrf_of(page), "username": "alice", "password": PASSWORD}
        )
        assert locked.status_code == 429


async def test_every_post_needs_the_sessions_csrf_token(world: World) -> None:
    consent_id = await world.bank.consent(customer=world.alice.customer_id)
    async with world.browser() as http:
        await http.get(LOGIN)  # a session, whose CSRF token the posts below lack
        for data in (
            {"username": "alice", "password": PASSWORD},
            {"csrf": "forged", "username": "alice", "password": PASSWORD},
        ):
            refused = await http.post(LOGIN, data=data)
            assert refused.status_code == 403
            assert "This form is out of date" in refused.text
        assert (await http.get(HOME)).headers["location"] == LOGIN

        listed = await log_in(http, world.alice)
        csrf = csrf_of(listed)
        altered = ("y" if csrf[0] == "x" else "x") + csrf[1:]  # never the token itself
        for forged in ("", altered):
            refused = await http.post(
                REVOKE, data={"csrf": forged, "kind": "accounts", "consent_id": consent_id}
            )
            assert refused.status_code == 403
        held = await world.bank.consents.get(consent_id, world.bank.tpp.client.client_id)
        assert held is not None and held.status is Status.AUTHORISED
        assert (await http.post(LOGOUT, data={"csrf": ""})).status_code == 403


async def test_a_post_without_a_live_session_changes_nothing(world: World) -> None:
    consent_id = await world.bank.consent(customer=world.alice.customer_id)
    async with world.browser() as http:
        refused = await http.post(REVOKE, data={"csrf": "x", "kind": "accounts", "consent_id": consent_id})
        assert refused.status_code == 401
        assert "Your session has ended" in refused.text
        assert 'action="/dashboard/login"' in refused.text  # a fresh login form
    held = await world.bank.consents.get(consent_id, world.bank.tpp.client.client_id)
    assert held is not None and held.status is Status.AUTHORISED


async def test_the_session_ends_when_idle_and_at_logout(world: World) -> None:
    consent_id = await world.bank.consent(customer=world.alice.customer_id)
    async with world.browser() as http:
        listed = await log_in(http, world.alice)
        csrf = csrf_of(listed)
        idle_out = DashboardSessions(world.app.components.db, "http://localhost:8000")
        await idle_out.expire_all(world.alice.customer_id, utcnow() - timedelta(seconds=1))
        assert (await http.get(HOME)).headers["location"] == LOGIN
        refused = await http.post(REVOKE, data={"csrf": csrf, "kind": "accounts", "consent_id": consent_id})
        assert refused.status_code == 401
        held = await world.bank.consents.get(consent_id, world.bank.tpp.client.client_id)
        assert held is not None and held.status is Status.AUTHORISED

    async with world.browser() as http:
        listed = await log_in(http, world.alice)
        kept = http.cookies[COOKIE]
        out = await http.post(LOGOUT, data={"csrf": csrf_of(listed)})
        assert (out.status_code, out.headers["location"]) == (303, LOGIN)
        assert COOKIE not in http.cookies
        http.cookies.set(COOKIE, kept, domain="localhost", path="/dashboard")  # a copy kept by someone
        assert (await http.get(HOME)).headers["location"] == LOGIN


# --- the list ---------------------------------------------------------------------------------------


async def test_the_list_shows_each_tpp_what_it_sees_which_accounts_until_when_and_last_use(
    world: World,
) -> None:
    bank, alice = world.bank, world.alice
    limited = await bank.consent(
        ["ReadAccountsBasic", "ReadBalances"], customer=alice.customer_id, ExpirationDateTime=EXPIRY
    )
    open_ended = await bank.consent(
        ["ReadAccountsDetail", "ReadTransactionsDetail", "ReadTransactionsCredits"],
        customer=alice.customer_id,
        accounts=[bank.alice[2].account_id],
    )
    bobs = await bank.consent(customer=world.bob.customer_id, accounts=[bank.bob[0].account_id])
    asked = read_consent_request(b'{"Data":{"Permissions":["ReadAccountsBasic"]},"Risk":{}}', utcnow())
    pending = await bank.consents.create(bank.tpp.client.client_id, asked)
    async with world.browser() as http:
        page = await log_in(http, alice)
        listed = sections(page)
        assert set(listed) == {limited, open_ended}  # not Bob's, not one awaiting authorisation
        assert bobs not in page.text and pending.consent_id not in page.text

        first = listed[limited]
        assert "<h2>Pennywise app</h2>" in first
        assert "Your account balances and any credit limits" in first
        assert "Your account names, types and currencies (without account numbers)" in first
        assert "2027-03-01 00:00 UTC" in first
        assert "Last used: never" in first
        for account in bank.alice[:2]:
            assert f"ending {account.identification[-4:]}" in first
        assert bank.alice[2].identification[-4:] not in re.sub(r"data-consent-id=\"[^\"]+\"", "", first)
        second = listed[open_ended]
        assert "Until: no end date" in second
        assert "Money coming into your accounts" in second
        assert f"ending {bank.alice[2].identification[-4:]}" in second

        # A successful AIS call with the consent's token is its last use (from the audit log).
        token = await bank.token(limited, customer=alice.customer_id)
        before = datetime.now(UTC).replace(second=0, microsecond=0)
        ok(await bank.get(token, "/accounts"), "/accounts")
        await flushed(world)
        used = sections(await http.get(HOME))[limited]
        stamp = re.search(r"Last used: (\d{4}-\d{2}-\d{2} \d{2}:\d{2}) UTC", used)
        assert stamp, used
        assert before <= datetime.strptime(stamp.group(1), "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
        assert "Last used: never" in sections(await http.get(HOME))[open_ended]

        # A refused call is no use: a token of the other consent asking for an account outside it.
        other = await bank.token(open_ended, customer=alice.customer_id)
        refused = await bank.get(other, f"/accounts/{bank.alice[0].account_id}")
        assert refused.status_code == 403
        await flushed(world)
        assert "Last used: never" in sections(await http.get(HOME))[open_ended]

        # Traditional Chinese, by Accept-Language.
        zh = await http.get(HOME, headers={"accept-language": "zh-TW"})
        assert "可存取您帳戶的應用程式" in zh.text
        assert "您的帳戶餘額及信用額度" in zh.text
        assert "無結束日期" in zh.text and "從未使用" in zh.text


async def test_the_audit_record_of_a_token_call_names_its_consent_and_the_chain_still_verifies(
    world: World,
) -> None:
    bank = world.bank
    consent_id = await bank.consent(customer=world.alice.customer_id)
    token = await bank.token(consent_id, customer=world.alice.customer_id)
    ok(await bank.get(token, "/accounts"), "/accounts")
    await world.bank.http.get("/healthz")
    await flushed(world)
    from kaimen.audit.store import last

    rows = await last(world.app.components.db, 10)
    assert [row.consent_id for row in rows if row.api == "aisp"] == [consent_id]
    assert all(row.consent_id is None for row in rows if row.api != "aisp")
    verdict = await verify(world.app.components.db)
    assert verdict.broken is None and verdict.count == len(await last(world.app.components.db, 1000))


# --- revoke -----------------------------------------------------------------------------------------


async def test_revoke_ends_the_consent_and_its_tokens_at_once(world: World) -> None:
    bank, alice = world.bank, world.alice
    consent_id = await bank.consent(customer=alice.customer_id)
    kept = await bank.consent(customer=alice.customer_id)
    access, refresh = await world.tokens(consent_id, alice.customer_id)
    ok(await bank.get(access, "/accounts"), "/accounts")
    assert (await world.refresh(refresh)).status_code == 200  # the refresh token works until then
    async with world.browser() as http:
        page = await log_in(http, alice)
        answer = await http.post(
            REVOKE, data={"csrf": csrf_of(page), "kind": "accounts", "consent_id": consent_id}
        )
        assert (answer.status_code, answer.headers["location"]) == (303, HOME)
        assert set(sections(await http.get(HOME))) == {kept}

    held = await bank.consents.get(consent_id, bank.tpp.client.client_id)
    assert held is not None and held.status is Status.REVOKED
    refused = await bank.get(access, "/accounts")
    assert refused.status_code == 401, refused.text
    assert refused.json()["Errors"][0]["ErrorCode"] == "UK.OBIE.Header.Invalid"
    again = await world.refresh(refresh)
    assert (again.status_code, again.json()["error"]) == (400, "invalid_grant")


async def test_another_customers_consent_cannot_be_revoked_and_nothing_is_revealed(world: World) -> None:
    bank = world.bank
    bobs = await bank.consent(customer=world.bob.customer_id, accounts=[bank.bob[0].account_id])
    token = await bank.token(bobs, customer=world.bob.customer_id)
    async with world.browser() as http:
        page = await log_in(http, world.alice)
        answers = []
        for consent_id in (bobs, "aac-" + "A" * 32, bobs + "\x00"):
            answer = await http.post(
                REVOKE, data={"csrf": csrf_of(page), "kind": "accounts", "consent_id": consent_id}
            )
            answers.append((answer.status_code, _without_nonces(answer.text)))
        assert answers[0][0] == 404
        assert "That access was not found, or it has already ended." in answers[0][1]
        assert answers[0] == answers[1] == answers[2]  # Bob's consent answers as an unknown one does
        assert bobs not in answers[0][1]
        unknown_kind = await http.post(
            REVOKE, data={"csrf": csrf_of(page), "kind": "payments", "consent_id": bobs}
        )
        assert unknown_kind.status_code == 404
    held = await bank.consents.get(bobs, bank.tpp.client.client_id)
    assert held is not None and held.status is Status.AUTHORISED
    ok(await bank.get(token, "/accounts"), "/accounts")


def _without_nonces(page: str) -> str:
    return re.sub(r'nonce="[^"]+"', "", page)


# --- every worker -----------------------------------------------------------------------------------


@pytest.fixture
async def two_workers(
    make_settings: Callable[..., Settings], redis_url: str, tmp_path: Path
) -> AsyncIterator[tuple[World, Any]]:
    """Two create_app on one PostgreSQL database and one Redis (two workers of one deployment: they
    share KAIMEN_SECRET_KEY); the world is built through the first."""
    if not TEST_DATABASE_URL:
        pytest.skip("PostgreSQL not available: set KAIMEN_TEST_DATABASE_URL to run this test")
    import asyncio

    from kaimen.app import create_app
    from kaimen.store.migrate import upgrade
    from tests.support import create_postgres_database, drop_postgres_database

    base = await create_postgres_database(TEST_DATABASE_URL)
    async_url = base.replace("postgresql://", "postgresql+asyncpg://", 1)
    await asyncio.to_thread(upgrade, async_url)
    shared = {"database_url": async_url, "redis_url": redis_url, "secret_key": "S" * 43}
    first = create_app(make_settings(**shared, data_dir=tmp_path / "a"))
    second = create_app(make_settings(**shared, data_dir=tmp_path / "b"))
    try:
        async with lifespan(first), lifespan(second), client_for(first) as http:
            yield await populate(first, http), second
    finally:
        await drop_postgres_database(TEST_DATABASE_URL, base)


async def test_a_revocation_in_one_worker_stops_the_tokens_in_another_on_the_next_call(
    two_workers: tuple[World, Any],
) -> None:
    world, second = two_workers
    bank, alice = world.bank, world.alice
    consent_id = await bank.consent(customer=alice.customer_id)
    access, refresh = await world.tokens(consent_id, alice.customer_id)
    async with client_for(second) as other:
        elsewhere = _bank_on(bank, second, other)
        for _ in range(2):  # the second worker has the token in its cache
            ok(await elsewhere.get(access, "/accounts"), "/accounts")

        async with world.browser() as http:
            page = await log_in(http, alice)
            answer = await http.post(
                REVOKE, data={"csrf": csrf_of(page), "kind": "accounts", "consent_id": consent_id}
            )
            assert answer.status_code == 303

        # The very next call on the other worker: refused by the consent check (read on every call)
        # or by the token revocation (its cache dropped by NOTIFY), whichever reaches it first.
        refused = await elsewhere.get(access, "/accounts")
        assert refused.status_code in (401, 403), refused.text
        assert refused.json()["Errors"][0]["ErrorCode"] in (
            "UK.OBIE.Header.Invalid",
            "UK.OBIE.Resource.InvalidConsentStatus",
        )
        again = await world.refresh(refresh, other)
        assert (again.status_code, again.json()["error"]) == (400, "invalid_grant")


def _bank_on(bank: Any, app: Any, http: Any) -> Any:
    from tests.ais_resources_support import Bank

    elsewhere = Bank(app, http, bank.tpp)
    elsewhere.alice = bank.alice
    return elsewhere


async def test_funds_confirmation_consents_are_listed_and_revoked_too(world: World) -> None:
    bank, alice = world.bank, world.alice
    account = bank.alice[0]
    funds = world.app.components.funds_consents
    body = {
        "Data": {
            "DebtorAccount": {
                "SchemeName": "UK.OBIE.SortCodeAccountNumber",
                "Identification": account.identification,
            },
            "ExpirationDateTime": EXPIRY,
        }
    }
    asked = await funds.create(
        bank.tpp.client.client_id, read_funds_consent_request(orjson.dumps(body), utcnow())
    )
    assert await funds.authorise(asked.consent_id, alice.customer_id, account.account_id)
    access, _ = await world.tokens(asked.consent_id, alice.customer_id)
    async with world.browser() as http:
        page = await log_in(http, alice)
        shown = sections(page)[asked.consent_id]
        assert "Ask whether your account has enough money for a payment" in shown
        assert f"ending {account.identification[-4:]}" in shown
        assert "2027-03-01 00:00 UTC" in shown and "Last used: never" in shown
        answer = await http.post(
            REVOKE,
            data={"csrf": csrf_of(page), "kind": "fundsconfirmations", "consent_id": asked.consent_id},
        )
        assert (answer.status_code, answer.headers["location"]) == (303, HOME)
        assert asked.consent_id not in (await http.get(HOME)).text
    held = await funds.get(asked.consent_id, bank.tpp.client.client_id)
    assert held is not None and held.status.value == "Revoked"
    assert await world.app.components.authz.tokens.access(access) is None


async def test_activity_moves_the_idle_timeout_on(world: World) -> None:
    from sqlalchemy import select

    from kaimen.consent.models import DashboardSession

    db = world.app.components.db

    async def idle_until() -> datetime:
        async with db.read() as session:
            rows = (await session.execute(select(DashboardSession.idle_until))).scalars().all()
        assert len(rows) == 1
        return rows[0]

    async with world.browser() as http:
        await log_in(http, world.alice)
        soon = utcnow() + timedelta(seconds=5)
        await DashboardSessions(db, "http://localhost:8000").expire_all(world.alice.customer_id, soon)
        assert (await http.get(HOME)).status_code == 200
        assert await idle_until() > soon + timedelta(seconds=200)  # five minutes from now again
