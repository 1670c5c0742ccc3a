"""The authorization response (RFC 6749 §4.1.2, RFC 9207): what ``flow.finish`` sends the customer back
with, approved or denied, and what ``flow.describe`` tells the consent page."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from kaimen.authz.codes import digest_of
from kaimen.authz.errors import InvalidRequestUri, UntrustedClient
from kaimen.authz.pushed import request_id_of
from kaimen.settings import Settings
from kaimen.store.authz_models import AuthorizationCode, AuthorizationRequest
from kaimen.store.types import utcnow
from tests.authz_flow_support import (
    ISSUER,
    PAR,
    REDIRECT_URI,
    Harness,
    Pkce,
    dpop_key,
    harness,
    proof,
    query_of,
    thumbprint,
)


@pytest.fixture
async def h(make_settings: Callable[..., Settings], database_url: str) -> AsyncIterator[Harness]:
    async with harness(make_settings(database_url=database_url)) as flow:
        yield flow


async def test_an_approval_answers_code_state_and_iss(h: Harness) -> None:
    tpp = await h.tpp()
    url = await h.finish(await h.pushed(tpp, Pkce(), state="xyz"))
    assert url.startswith(REDIRECT_URI + "?")
    query = query_of(url)
    assert set(query) == {"code", "state", "iss"}
    assert (query["state"], query["iss"]) == ("xyz", ISSUER)
    assert len(query["code"]) >= 43  # 256 random bits
    [(name, payload)] = h.events
    assert name == "authorization.approved"
    assert (payload.client_id, payload.customer_id, payload.amr) == (tpp.client_id, "cust-1", ("pwd", "otp"))


async def test_a_denial_answers_access_denied_with_state_and_iss(h: Harness) -> None:
    tpp = await h.tpp()
    url = await h.finish(await h.pushed(tpp, Pkce(), state="xyz"), approved=False)
    assert url.startswith(REDIRECT_URI + "?")
    assert query_of(url) == {"error": "access_denied", "state": "xyz", "iss": ISSUER}
    assert [name for name, _ in h.events] == ["authorization.denied"]


async def test_without_state_no_state_is_sent_back_and_iss_still_is(h: Harness) -> None:
    tpp = await h.tpp()
    for approved in (True, False):
        query = query_of(await h.finish(await h.pushed(tpp, Pkce(), state=None), approved=approved))
        assert "state" not in query
        assert query["iss"] == ISSUER


async def test_a_long_state_is_returned_unchanged(h: Harness) -> None:
    tpp = await h.tpp()
    state = "a/b?c=d&e f+g%h;" + "S" * 4000
    for approved in (True, False):
        assert (
            query_of(await h.finish(await h.pushed(tpp, Pkce(), state=state), approved=approved))["state"]
            == state
        )


async def test_a_registered_query_is_kept(h: Harness) -> None:
    tpp = await h.tpp()
    url = await h.finish(await h.pushed(tpp, Pkce(), redirect_uri="https://tpp.example/other?x=1"))
    assert url.startswith("https://tpp.example/other?x=1&code=")
    assert query_of(url)["x"] == "1"


async def test_a_request_finishes_once(h: Harness) -> None:
    tpp = await h.tpp()
    request_uri = await h.pushed(tpp, Pkce())
    await h.finish(request_uri)
    with pytest.raises(InvalidRequestUri):
        await h.finish(request_uri)
    with pytest.raises(InvalidRequestUri):
        await h.finish(request_uri, approved=False)


async def test_a_request_older_than_par_plus_login_lifetimes_cannot_finish(h: Harness) -> None:
    tpp = await h.tpp()
    request_uri = await h.pushed(tpp, Pkce())
    too_old = utcnow() - timedelta(seconds=h.settings.oauth.login_session_ttl_seconds + 1)
    async with h.server.db.write() as session:
        await session.execute(
            update(AuthorizationRequest)
            .where(AuthorizationRequest.id == request_id_of(request_uri))
            .values(expires_at=too_old)
        )
    with pytest.raises(InvalidRequestUri):
        await h.finish(request_uri)


async def test_the_code_is_stored_as_a_digest_bound_to_the_request(h: Harness) -> None:
    tpp = await h.tpp()
    pkce = Pkce()
    response = await h.par(tpp, pkce, headers={"DPoP": proof(dpop_key(), PAR)}, nonce="n-1")
    code = query_of(await h.finish(response.json()["request_uri"]))["code"]
    async with h.server.db.read() as session:
        rows = (await session.execute(select(AuthorizationCode))).scalars().all()
    assert [row.digest for row in rows] == [digest_of(code)]
    row = rows[0]
    assert (row.client_id, row.redirect_uri, row.code_challenge) == (
        tpp.client_id,
        REDIRECT_URI,
        pkce.challenge,
    )
    assert row.dpop_jkt == thumbprint(dpop_key())
    assert row.expires_at - utcnow() <= timedelta(seconds=60)  # FAPI 2.0 §5.3.2.1
    assert row.grant["nonce"] == "n-1"
    assert row.grant["intent_id"] == h.intent_id
    assert row.grant["acr"] == "urn:openbanking:psd2:sca"


async def test_describe_tells_the_consent_page_what_is_asked(h: Harness) -> None:
    tpp = await h.tpp()
    request_uri = await h.pushed(tpp, Pkce(), scope="openid accounts")
    summary = await h.server.flow.describe(request_id_of(request_uri))
    client = await h.server.clients.get(tpp.client_id)
    assert summary.client_name == client.name
    assert summary.scopes == ["openid", "accounts"]
    assert summary.intent_id == h.intent_id
    assert summary.claims["id_token"]["openbanking_intent_id"]["value"] == h.intent_id


@pytest.mark.parametrize("status", ["suspended", "revoked"])
async def test_a_client_no_longer_approved_during_login_gets_no_redirect(h: Harness, status: str) -> None:
    """RFC 6749 §4.1.2.1: "if the client identifier is missing or invalid, the authorization server ...
    MUST NOT automatically redirect the user-agent": finish gives no URL, it raises UntrustedClient
    (the page shows an error); the request is consumed and the denial recorded all the same."""
    from kaimen.tpp.registry import Registry, ReviewStatus
    from tests.tpp_support import seen_by

    tpp = await h.tpp()
    request_uri = await h.pushed(tpp, Pkce(), state="s1")
    change = Registry(h.server.db).set_status(tpp.application_id, ReviewStatus(status))
    await seen_by(h.server.db, h.app.components.watcher, change)
    with pytest.raises(UntrustedClient):
        await h.finish(request_uri)
    [(_, denied)] = [e for e in h.events if e[0] == "authorization.denied"]
    assert (denied.client_id, denied.error) == (tpp.client_id, "unauthorized_client")
    with pytest.raises(InvalidRequestUri):  # consumed: it cannot be finished later
        await h.finish(request_uri)


async def test_a_client_no_longer_approved_when_the_customer_authenticates_gets_no_redirect(
    h: Harness,
) -> None:
    """The same as at finish, right after the second factor (``authenticated``): no URL, the request
    consumed, the denial recorded, so the consent page is not shown for that client."""
    from kaimen.tpp.registry import Registry, ReviewStatus
    from tests.tpp_support import seen_by

    tpp = await h.tpp()
    request_uri = await h.pushed(tpp, Pkce(), state="s1")
    change = Registry(h.server.db).set_status(tpp.application_id, ReviewStatus("suspended"))
    await seen_by(h.server.db, h.app.components.watcher, change)
    request_id = request_id_of(request_uri)
    assert request_id is not None
    with pytest.raises(UntrustedClient):
        await h.server.flow.authenticated(
            request_id=request_id, customer_id="cust-1", acr="urn:openbanking:psd2:sca"
        )
    [(_, denied)] = [e for e in h.events if e[0] == "authorization.denied"]
    assert (denied.client_id, denied.error) == (tpp.client_id, "unauthorized_client")
    assert denied.customer_id == "cust-1"
    with pytest.raises(InvalidRequestUri):
        await h.finish(request_uri)
