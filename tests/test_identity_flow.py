"""The login pages in the real application (issue 3, item 5): /oauth2/authorize hands over to them, the
customer logs in with password and one-time code through the gateway, approves or denies, and the
client gets its code (or access_denied) with state and iss, and redeems the code."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from kaimen.identity import totp
from kaimen.settings import Settings
from tests.authz_flow_support import AUTHORIZE, ISSUER, Harness, Pkce, Tpp, harness, query_of
from tests.identity_support import PASSWORD, csrf_of


@pytest.fixture
async def h(make_settings: Callable[..., Settings], database_url: str) -> AsyncIterator[Harness]:
    async with harness(make_settings(database_url=database_url)) as flow:
        yield flow


async def _walk_to_consent(h: Harness, secret: str, pkce: Pkce, state: str) -> tuple[Tpp, str]:
    """PAR, authorize, login, code; returns the client and the consent page's CSRF token."""
    tpp = await h.tpp()
    request_uri = await h.pushed(tpp, pkce, state=state)
    authorize = await h.http.get(AUTHORIZE, params={"client_id": tpp.client_id, "request_uri": request_uri})
    assert (authorize.status_code, authorize.headers["location"]) == (303, ISSUER + "/login")
    page = await h.http.get("/login")
    assert page.status_code == 200 and "App 1" in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert "nonce-" in page.headers["content-security-policy"]  # the page's own CSP, not the gateway's
    logged = await h.http.post(
        "/login", data={"csrf": csrf_of(page), "username": "alice", "password": PASSWORD}
    )
    assert logged.status_code == 303, logged.text
    second = await h.http.get(logged.headers["location"])
    code = totp.code_at(secret, totp.current_step())
    passed = await h.http.post("/login/otp", data={"csrf": csrf_of(second), "otp": code})
    assert passed.status_code == 303, passed.text
    consent = await h.http.get(passed.headers["location"])
    assert consent.status_code == 200 and "App 1 asks for your permission" in consent.text
    return tpp, csrf_of(consent)


@pytest.fixture
async def alice(h: Harness) -> tuple[str, str]:
    customer_id, secret = await h.server.customers.create("alice", PASSWORD, "Alice Chen")
    return customer_id, secret


async def test_approve_gives_the_client_a_code_it_redeems(h: Harness, alice: tuple[str, str]) -> None:
    pkce = Pkce()
    account_id = (await h.accounts(alice[0]))[0]
    tpp, csrf = await _walk_to_consent(h, alice[1], pkce, state="st-approve")
    answer = await h.http.post(
        "/login/consent", data={"csrf": csrf, "decision": "approve", "account_id": account_id}
    )
    assert answer.status_code == 303
    query = query_of(answer.headers["location"])
    assert query["state"] == "st-approve" and query["iss"] == ISSUER and query["code"]
    [(_, event)] = [e for e in h.events if e[0] == "authorization.approved"]
    assert event.customer_id == alice[0]
    assert list(event.amr) == ["pwd", "otp"] and event.acr == "urn:openbanking:psd2:sca"
    tokens = await h.redeem(tpp, query["code"], pkce)
    assert tokens.status_code == 200, tokens.text
    assert tokens.json()["token_type"] == "DPoP"


async def test_deny_gives_the_client_access_denied(h: Harness, alice: tuple[str, str]) -> None:
    _, csrf = await _walk_to_consent(h, alice[1], Pkce(), state="st-deny")
    answer = await h.http.post("/login/consent", data={"csrf": csrf, "decision": "deny"})
    assert answer.status_code == 303
    query = query_of(answer.headers["location"])
    assert query == {"error": "access_denied", "state": "st-deny", "iss": ISSUER}


@pytest.mark.parametrize("status", ["suspended", "revoked"])
@pytest.mark.parametrize("decision", ["approve", "deny"])
async def test_a_client_no_longer_approved_at_consent_gets_an_error_page_not_a_redirect(
    h: Harness, alice: tuple[str, str], status: str, decision: str
) -> None:
    """RFC 6749 §4.1.2.1: with an invalid client the authorization server "MUST NOT automatically
    redirect the user-agent" (issue 3, item 5: until the client is trusted, errors show an error page):
    an application suspended or revoked while its customer is on the consent page gets no redirect."""
    from kaimen.tpp.registry import Registry, ReviewStatus
    from tests.tpp_support import seen_by

    account_id = (await h.accounts(alice[0]))[0]
    tpp, csrf = await _walk_to_consent(h, alice[1], Pkce(), state="st-gone")
    change = Registry(h.server.db).set_status(tpp.application_id, ReviewStatus(status))
    await seen_by(h.server.db, h.app.components.watcher, change)
    answer = await h.http.post(
        "/login/consent", data={"csrf": csrf, "decision": decision, "account_id": account_id}
    )
    assert answer.status_code == 400
    assert "location" not in answer.headers
    assert "The application is unknown or not approved by the bank." in answer.text
    assert "st-gone" not in answer.text and "tpp.example" not in answer.text
    assert [e.error for n, e in h.events if n == "authorization.denied"] == ["unauthorized_client"]
    assert not [e for n, e in h.events if n == "authorization.approved"]
