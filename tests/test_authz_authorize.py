"""The authorization endpoint (RFC 9126 §4): only pushed requests, only client_id and request_uri read,
and every refusal an error page (HTML, 400), never a redirect."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import update

from kaimen.authz.pushed import request_id_of
from kaimen.settings import Settings
from kaimen.store.authz_models import AuthorizationRequest
from kaimen.store.types import utcnow
from kaimen.tpp.registry import ReviewStatus
from tests.authz_flow_support import AUTHORIZE, ISSUER, REDIRECT_URI, Harness, Pkce, harness, query_of


@pytest.fixture
async def h(make_settings: Callable[..., Settings], database_url: str) -> AsyncIterator[Harness]:
    async with harness(make_settings(database_url=database_url)) as flow:
        yield flow


def assert_error_page(response: httpx.Response, status: int = 400) -> None:
    """An error page, never a redirect: the redirect URI is not trusted yet."""
    assert response.status_code == status
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")
    assert REDIRECT_URI not in response.text


async def authorize(h: Harness, **params: str) -> httpx.Response:
    return await h.http.get(AUTHORIZE, params=params)


async def test_a_valid_pushed_request_goes_to_the_login_page(h: Harness) -> None:
    tpp = await h.tpp()
    request_uri = await h.pushed(tpp, Pkce())
    response = await authorize(h, client_id=tpp.client_id, request_uri=request_uri)
    assert response.status_code == 303
    assert response.headers["location"] == ISSUER + "/login"
    assert "kaimen_login=" in response.headers["set-cookie"]


async def test_authorize_without_par_is_refused_with_an_error_page(h: Harness) -> None:
    tpp = await h.tpp()
    pkce = Pkce()
    response = await authorize(h, **h.par_form(tpp, pkce))  # every parameter, but not pushed
    assert_error_page(response)


async def test_an_unknown_request_uri_is_refused(h: Harness) -> None:
    tpp = await h.tpp()
    response = await authorize(
        h, client_id=tpp.client_id, request_uri="urn:ietf:params:oauth:request_uri:" + "A" * 43
    )
    assert_error_page(response)


async def test_a_request_uri_that_is_not_ours_is_refused(h: Harness) -> None:
    tpp = await h.tpp()
    assert_error_page(await authorize(h, client_id=tpp.client_id, request_uri="https://attacker.example/req"))


async def test_a_request_uri_presented_by_another_client_is_refused(h: Harness) -> None:
    victim, attacker = await h.tpp(), await h.tpp()
    request_uri = await h.pushed(victim, Pkce())
    assert_error_page(await authorize(h, client_id=attacker.client_id, request_uri=request_uri))


async def test_an_expired_request_uri_is_refused(h: Harness) -> None:
    tpp = await h.tpp()
    request_uri = await h.pushed(tpp, Pkce())
    async with h.server.db.write() as session:
        await session.execute(
            update(AuthorizationRequest)
            .where(AuthorizationRequest.id == request_id_of(request_uri))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert_error_page(await authorize(h, client_id=tpp.client_id, request_uri=request_uri))


@pytest.mark.parametrize("approved", [True, False])
async def test_a_request_uri_reused_after_completion_is_refused(h: Harness, approved: bool) -> None:
    tpp = await h.tpp()
    request_uri = await h.pushed(tpp, Pkce())
    assert (await authorize(h, client_id=tpp.client_id, request_uri=request_uri)).status_code == 303
    await h.finish(request_uri, approved=approved)
    assert_error_page(await authorize(h, client_id=tpp.client_id, request_uri=request_uri))


async def test_a_reload_before_completion_is_allowed(h: Harness) -> None:
    """RFC 9126 §4: the server "MAY allow for duplicate requests due to a user reloading/refreshing"."""
    tpp = await h.tpp()
    request_uri = await h.pushed(tpp, Pkce())
    for _ in range(2):
        assert (await authorize(h, client_id=tpp.client_id, request_uri=request_uri)).status_code == 303


@pytest.mark.parametrize("missing", ["client_id", "request_uri"])
async def test_a_missing_parameter_is_refused(h: Harness, missing: str) -> None:
    tpp = await h.tpp()
    params = {"client_id": tpp.client_id, "request_uri": await h.pushed(tpp, Pkce())}
    del params[missing]
    assert_error_page(await authorize(h, **params))


async def test_a_parameter_sent_twice_is_refused(h: Harness) -> None:
    tpp = await h.tpp()
    request_uri = await h.pushed(tpp, Pkce())
    url = f"{AUTHORIZE}?client_id={tpp.client_id}&client_id={tpp.client_id}&request_uri={request_uri}"
    assert_error_page(await h.http.get(url))


async def test_an_unknown_client_is_refused(h: Harness) -> None:
    tpp = await h.tpp()
    request_uri = await h.pushed(tpp, Pkce())
    assert_error_page(await authorize(h, client_id="nobody", request_uri=request_uri))


async def test_a_client_suspended_after_par_is_refused(h: Harness) -> None:
    from kaimen.tpp.registry import Registry
    from tests.tpp_support import seen_by

    tpp = await h.tpp()
    request_uri = await h.pushed(tpp, Pkce())
    registry = Registry(h.server.db)
    suspend = registry.set_status(tpp.application_id, ReviewStatus.SUSPENDED)
    await seen_by(h.server.db, h.app.components.watcher, suspend)
    assert_error_page(await authorize(h, client_id=tpp.client_id, request_uri=request_uri))


async def test_a_suspension_counts_before_its_notification_arrives(h: Harness) -> None:
    """PostgreSQL: another worker's suspension reaches this worker's client cache by NOTIFY, some
    milliseconds later; /authorize confirms the cached client's status with the database
    (ClientRegistry.current), so the suspended TPP gets no code in that window. The change is written
    here without the generation bump, as if its NOTIFY had not arrived yet."""
    if h.server.db.is_sqlite:
        pytest.skip("SQLite: every worker sees a change on its next call (PRAGMA data_version)")
    from kaimen.store.models import Application

    tpp = await h.tpp()
    request_uri = await h.pushed(tpp, Pkce())  # the client is now in this worker's cache
    async with h.server.db.write() as session:
        await session.execute(
            update(Application).where(Application.id == tpp.application_id).values(status="suspended")
        )
    assert_error_page(await authorize(h, client_id=tpp.client_id, request_uri=request_uri))


async def test_query_parameters_never_override_the_pushed_ones(h: Harness) -> None:
    """RFC 9101 §5 / RFC 9126 §4: only the pushed parameters are used."""
    tpp = await h.tpp()
    request_uri = await h.pushed(tpp, Pkce(), state="pushed-state", scope="openid accounts")
    response = await authorize(
        h,
        client_id=tpp.client_id,
        request_uri=request_uri,
        redirect_uri="https://attacker.example/cb",
        state="attacker-state",
        scope="openid payments",
        response_type="token",
        code_challenge_method="plain",
    )
    assert response.status_code == 303
    summary = await h.server.flow.describe(request_id_of(request_uri))
    assert summary.scopes == ["openid", "accounts"]
    url = await h.finish(request_uri)
    assert url.startswith(REDIRECT_URI + "?")
    assert query_of(url)["state"] == "pushed-state"


async def test_the_error_page_speaks_traditional_chinese_when_asked(h: Harness) -> None:
    response = await h.http.get(AUTHORIZE, headers={"accept-language": "zh-TW,zh;q=0.9"})
    assert_error_page(response)
    assert 'lang="zh-Hant' in response.text
    assert "此請求缺少應用程式或推送的授權請求。" in response.text
