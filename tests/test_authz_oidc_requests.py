"""What an OpenID Connect authentication request may ask of the authorization (OIDC Core 1.0), driven
through PAR, /oauth2/authorize and the customer's login, one-time code and consent pages as a browser
would, and answered on the client's redirect URI with iss and state (RFC 9207 §2)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import orjson
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import func, select

from kaimen.authz.errors import InvalidRequestUri
from kaimen.authz.pushed import request_id_of
from kaimen.settings import Settings
from kaimen.store.authz_models import AuthorizationCode
from tests.authz_flow_support import (
    AUTHORIZE,
    ISSUER,
    REDIRECT_URI,
    Harness,
    Pkce,
    Tpp,
    assert_oauth_error,
    claims_for,
    harness,
    query_of,
)
from tests.fapi_client_support import PASSWORD, Customer, customer, post_form


@pytest.fixture
async def h(make_settings: Callable[..., Settings], database_url: str) -> AsyncIterator[Harness]:
    async with harness(make_settings(database_url=database_url)) as flow:
        yield flow


def browser(h: Harness) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=h.app, client=("198.51.100.31", 40002))
    return httpx.AsyncClient(transport=transport, base_url=ISSUER)


def claims_with(intent_id: str, **id_token: Any) -> str:
    """The consent's claims parameter with more claim requests in its id_token member."""
    claims = orjson.loads(claims_for(intent_id))
    claims["id_token"].update(id_token)
    return orjson.dumps(claims).decode()


async def push(h: Harness, tpp: Tpp, pkce: Pkce, **id_token: Any) -> str:
    h.intent_id = await h.consent(tpp)
    return await h.pushed(tpp, pkce, state="st-1", claims=claims_with(h.intent_id, **id_token))


async def log_in_and_approve(h: Harness, tpp: Tpp, request_uri: str, person: Customer) -> str:
    """The customer's way through the pages; the redirect back to the client."""
    account_id = (await h.accounts(person.customer_id))[0]
    async with browser(h) as session:
        start = await session.get(AUTHORIZE, params={"client_id": tpp.client_id, "request_uri": request_uri})
        assert start.status_code == 303
        otp_page = await post_form(
            session, start.headers["location"], username=person.username, password=PASSWORD
        )
        consent_page = await post_form(session, otp_page.headers["location"], otp=person.totp.now())
        done = await post_form(
            session, consent_page.headers["location"], decision="approve", account_id=account_id
        )
    location: str = done.headers["location"]
    assert location.startswith(REDIRECT_URI + "?")
    return location


async def log_in_with_code(
    h: Harness, tpp: Tpp, request_uri: str, person: Customer
) -> tuple[str, httpx.Response]:
    """The customer logs in and passes the one-time code: where that answer sends the browser, and what
    the consent page's address shows afterwards."""
    async with browser(h) as session:
        start = await session.get(AUTHORIZE, params={"client_id": tpp.client_id, "request_uri": request_uri})
        otp_page = await post_form(
            session, start.headers["location"], username=person.username, password=PASSWORD
        )
        after_code = await post_form(session, otp_page.headers["location"], otp=person.totp.now())
        consent_page = await session.get("/login/consent")
    return after_code.headers["location"], consent_page


async def assert_ended_before_consent(
    h: Harness, tpp: Tpp, request_uri: str, person: Customer, location: str, consent_page: httpx.Response
) -> None:
    """The authorization ended right after the one-time code: the error redirect with state and iss,
    the consent page never rendered (nothing of the TPP's request shown), no code, the request_uri
    consumed, authorization.denied recorded, and the consent left as it was."""
    assert location.startswith(REDIRECT_URI + "?")
    assert query_of(location) == {"error": "access_denied", "state": "st-1", "iss": ISSUER}
    client = await h.server.clients.get(tpp.client_id)
    assert consent_page.status_code == 400
    assert client.name not in consent_page.text and h.intent_id not in consent_page.text
    assert await codes_stored(h) == 0
    again = await h.http.get(AUTHORIZE, params={"client_id": tpp.client_id, "request_uri": request_uri})
    assert (again.status_code, "location" in again.headers) == (400, False)
    [(event, decision)] = [e for e in h.events if e[0].startswith("authorization.")]
    assert (event, decision.error) == ("authorization.denied", "access_denied")
    assert decision.customer_id == person.customer_id
    consent = await h.app.components.consents.get(h.intent_id, tpp.client_id)
    assert consent.status == "AwaitingAuthorisation"  # their answer would not be the consent owner's


async def codes_stored(h: Harness) -> int:
    async with h.server.db.read() as session:
        return int((await session.execute(select(func.count()).select_from(AuthorizationCode))).scalar_one())


async def id_token_claims(h: Harness, tpp: Tpp, callback: str, pkce: Pkce) -> dict[str, Any]:
    response = await h.redeem(tpp, query_of(callback)["code"], pkce)
    assert response.status_code == 200, response.text
    jwks = KeySet.import_key_set((await h.http.get("/oauth2/jwks")).json())
    return dict(jwt.decode(response.json()["id_token"], jwks, algorithms=["PS256"]).claims)


async def test_a_sub_requested_for_another_customer_ends_before_the_consent_page(h: Harness) -> None:
    """OIDC Core §5.5.1: "The Authorization Server MUST NOT reply with an ID Token or Access Token for
    a different user". Checked as soon as the customer has authenticated, so the person who is not
    the requested subject is never shown the TPP's request."""
    tpp, alice, bob = await h.tpp(), await customer(h, "alice"), await customer(h, "bob")
    bobs_sub = h.server.subjects.sub(tpp.application_id, bob.customer_id)
    request_uri = await push(h, tpp, Pkce(), sub={"value": bobs_sub})
    location, consent_page = await log_in_with_code(h, tpp, request_uri, alice)
    await assert_ended_before_consent(h, tpp, request_uri, alice, location, consent_page)


async def test_a_sub_requested_for_the_customer_who_logs_in_is_honoured(h: Harness) -> None:
    tpp, alice, pkce = await h.tpp(), await customer(h, "alice"), Pkce()
    alices_sub = h.server.subjects.sub(tpp.application_id, alice.customer_id)
    request_uri = await push(h, tpp, pkce, sub={"value": alices_sub, "essential": True})
    callback = await log_in_and_approve(h, tpp, request_uri, alice)
    assert set(query_of(callback)) == {"code", "state", "iss"}
    assert (await id_token_claims(h, tpp, callback, pkce))["sub"] == alices_sub


async def test_the_sub_of_the_same_customer_at_another_client_is_not_theirs_here(h: Harness) -> None:
    """Pairwise subjects (OIDC Core §8.1): the value must be this client's sub for the customer."""
    tpp, other, alice = await h.tpp(), await h.tpp(), await customer(h, "alice")
    sub_at_other = h.server.subjects.sub(other.application_id, alice.customer_id)
    request_uri = await push(h, tpp, Pkce(), sub={"value": sub_at_other})
    location, consent_page = await log_in_with_code(h, tpp, request_uri, alice)
    await assert_ended_before_consent(h, tpp, request_uri, alice, location, consent_page)


SCA, CA = "urn:openbanking:psd2:sca", "urn:openbanking:psd2:ca"


@pytest.mark.parametrize(
    ("values", "expected"),
    [([CA], CA), ([SCA], SCA), ([CA, SCA], SCA), (["urn:example:loa:9", CA], CA)],
)
async def test_an_essential_acr_gets_a_requested_value_the_sca_meets(
    h: Harness, values: list[str], expected: str
) -> None:
    """OIDC Core §5.5.1.1: "the Authorization Server MUST return an acr Claim Value that matches one of
    the requested values"; the pages' SCA meets sca and ca, and sca is preferred."""
    tpp, alice, pkce = await h.tpp(), await customer(h, "alice"), Pkce()
    request_uri = await push(h, tpp, pkce, acr={"essential": True, "values": values})
    callback = await log_in_and_approve(h, tpp, request_uri, alice)
    assert (await id_token_claims(h, tpp, callback, pkce))["acr"] == expected


async def test_an_essential_acr_named_by_value_is_returned(h: Harness) -> None:
    tpp, alice, pkce = await h.tpp(), await customer(h, "alice"), Pkce()
    request_uri = await push(h, tpp, pkce, acr={"essential": True, "value": CA})
    callback = await log_in_and_approve(h, tpp, request_uri, alice)
    assert (await id_token_claims(h, tpp, callback, pkce))["acr"] == CA


async def test_a_voluntary_acr_that_cannot_be_met_gets_the_acr_performed(h: Harness) -> None:
    tpp, alice, pkce = await h.tpp(), await customer(h, "alice"), Pkce()
    request_uri = await push(h, tpp, pkce, acr={"values": ["urn:example:loa:9"]})
    callback = await log_in_and_approve(h, tpp, request_uri, alice)
    assert (await id_token_claims(h, tpp, callback, pkce))["acr"] == SCA


@pytest.mark.parametrize(
    ("acr", "description"),
    [
        ({"essential": True, "values": ["urn:example:loa:9"]},
         "none of the essential acr values requested is supported"),
        ({"essential": True, "value": "urn:example:loa:9"},
         "none of the essential acr values requested is supported"),
        ({"essential": True, "values": [SCA, 3]}, "claims.id_token.acr values must be strings"),
    ],
)  # fmt: skip
async def test_an_essential_acr_no_login_can_meet_is_refused_at_par(
    h: Harness, acr: dict[str, Any], description: str
) -> None:
    """OIDC Core §5.5.1.1 (an unmet Essential acr is a failed authentication) checked where RFC 9126
    §2.1 validates the request: invalid_request, before the customer logs in for nothing."""
    tpp = await h.tpp()
    response = await h.par(tpp, claims=claims_with(await h.consent(tpp), acr=acr))
    body = assert_oauth_error(response, 400, "invalid_request")
    assert body["error_description"] == description


async def test_an_essential_acr_the_authentication_did_not_meet_ends_with_access_denied(h: Harness) -> None:
    """OIDC Core §5.5.1.1: "the Authorization Server MUST treat that outcome as a failed authentication
    attempt". The pages always perform SCA, so a customer authentication alone is handed to the flow
    the way the login pages hand over after the second factor: the authorization ends there."""
    tpp = await h.tpp()
    request_uri = await push(h, tpp, Pkce(), acr={"essential": True, "values": [SCA]})
    request_id = request_id_of(request_uri)
    assert request_id is not None
    callback = await h.server.flow.authenticated(request_id=request_id, customer_id="cust-1", acr=CA)
    assert callback is not None and callback.startswith(REDIRECT_URI + "?")
    assert query_of(callback) == {"error": "access_denied", "state": "st-1", "iss": ISSUER}
    assert await codes_stored(h) == 0
    [(event, decision)] = h.events
    assert (event, decision.error) == ("authorization.denied", "access_denied")
    assert decision.customer_id == "cust-1"
    with pytest.raises(InvalidRequestUri):  # consumed: no consent answer can complete it later
        await h.finish(request_uri, customer_id="cust-1")


async def test_an_essential_acr_the_authentication_meets_goes_on_to_consent(h: Harness) -> None:
    tpp = await h.tpp()
    request_uri = await push(h, tpp, Pkce(), acr={"essential": True, "values": [CA]})
    request_id = request_id_of(request_uri)
    assert request_id is not None
    assert await h.server.flow.authenticated(request_id=request_id, customer_id="cust-1", acr=SCA) is None
    assert h.events == []
    assert set(query_of(await h.finish(request_uri, customer_id="cust-1"))) == {"code", "state", "iss"}


async def test_prompt_none_ends_with_login_required_without_showing_a_page(h: Harness) -> None:
    """OIDC Core §3.1.2.1 prompt=none: "The Authorization Server MUST NOT display any authentication or
    consent user interface pages"; no customer is logged in, so §3.1.2.6 login_required."""
    tpp = await h.tpp()
    request_uri = await h.pushed(tpp, Pkce(), state="st-1", prompt="none")
    params = {"client_id": tpp.client_id, "request_uri": request_uri}
    async with browser(h) as session:
        response = await session.get(AUTHORIZE, params=params)
        assert response.status_code == 303
        assert "set-cookie" not in response.headers  # no login session was started
        location = response.headers["location"]
        assert location.startswith(REDIRECT_URI + "?")
        assert query_of(location) == {"error": "login_required", "state": "st-1", "iss": ISSUER}
        assert (await session.get("/login")).status_code == 400  # no login page to go to
        again = await session.get(AUTHORIZE, params=params)  # the request_uri was consumed
    assert again.status_code == 400
    assert "location" not in again.headers
    assert await codes_stored(h) == 0
    [(event, decision)] = h.events
    assert (event, decision.error, decision.customer_id) == ("authorization.denied", "login_required", None)
    consent = await h.app.components.consents.get(h.intent_id, tpp.client_id)
    assert consent.status == "AwaitingAuthorisation"


@pytest.mark.parametrize(
    ("prompt", "description"),
    [
        ("none login", "prompt=none must not be combined with other values"),
        ("consent none", "prompt=none must not be combined with other values"),
        ("create", "prompt carries an unsupported value"),
        ("NONE", "prompt carries an unsupported value"),
    ],
)
async def test_a_prompt_oidc_core_does_not_allow_is_refused_at_par(
    h: Harness, prompt: str, description: str
) -> None:
    """OIDC Core §3.1.2.1: "If this parameter contains none with any other value, an error is
    returned"; values are case-sensitive, and only the four defined ones are served."""
    body = assert_oauth_error(await h.par(await h.tpp(), prompt=prompt), 400, "invalid_request")
    assert body["error_description"] == description


@pytest.mark.parametrize("prompt", ["login", "consent", "select_account", "login consent"])
async def test_prompt_login_and_consent_show_the_pages_as_always(h: Harness, prompt: str) -> None:
    """Every request that is not prompt=none asks the customer to log in and to consent, which is
    what login, consent and select_account ask for (OIDC Core §3.1.2.1)."""
    tpp, alice = await h.tpp(), await customer(h, "alice")
    h.intent_id = await h.consent(tpp)
    request_uri = await h.pushed(tpp, Pkce(), state="st-1", prompt=prompt, claims=claims_for(h.intent_id))
    callback = await log_in_and_approve(h, tpp, request_uri, alice)
    assert set(query_of(callback)) == {"code", "state", "iss"}


async def test_discovery_advertises_the_prompt_values_served(h: Harness) -> None:
    meta = (await h.http.get("/.well-known/openid-configuration")).json()
    assert meta["prompt_values_supported"] == ["none", "login", "consent", "select_account"]


async def test_authorize_accepts_post_with_a_form_and_answers_like_get(h: Harness) -> None:
    """OIDC Core §3.1.2.1: "Authorization Servers MUST support the use of the HTTP GET and POST
    methods ... at the Authorization Endpoint". The browser posts the client's form, without any
    CSRF token of Kaimen's, and goes on to the login page; the flow ends on the client's redirect URI."""
    tpp, alice, pkce = await h.tpp(), await customer(h, "alice"), Pkce()
    h.intent_id = await h.consent(tpp)
    request_uri = await h.pushed(tpp, pkce, state="st-1", claims=claims_for(h.intent_id))
    async with browser(h) as session:
        start = await session.post(AUTHORIZE, data={"client_id": tpp.client_id, "request_uri": request_uri})
        assert start.status_code == 303
        assert start.headers["location"] == ISSUER + "/login"
        assert "kaimen_login=" in start.headers["set-cookie"]
        otp_page = await post_form(session, "/login", username=alice.username, password=PASSWORD)
        consent_page = await post_form(session, otp_page.headers["location"], otp=alice.totp.now())
        account_id = (await h.accounts(alice.customer_id))[0]
        done = await post_form(
            session, consent_page.headers["location"], decision="approve", account_id=account_id
        )
    query = query_of(done.headers["location"])
    assert (set(query), query["state"], query["iss"]) == ({"code", "state", "iss"}, "st-1", ISSUER)
    assert (await h.redeem(tpp, query["code"], pkce)).status_code == 200


async def test_a_post_to_authorize_reads_only_its_form(h: Harness) -> None:
    """RFC 9126 §4: only the pushed parameters are used, and a POST's parameters are its form body: the
    query of a POST is not read, and form parameters other than client_id and request_uri are ignored."""
    tpp = await h.tpp()
    request_uri = await h.pushed(tpp, Pkce(), state="st-1", prompt="none")
    query_only = await h.http.post(
        AUTHORIZE, params={"client_id": tpp.client_id, "request_uri": request_uri}, data={"x": "1"}
    )
    assert query_only.status_code == 400
    assert "location" not in query_only.headers
    form = {"client_id": tpp.client_id, "request_uri": request_uri, "state": "other", "prompt": "login"}
    response = await h.http.post(AUTHORIZE, data=form)
    assert response.status_code == 303
    assert query_of(response.headers["location"]) == {
        "error": "login_required",
        "state": "st-1",
        "iss": ISSUER,
    }


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'{"client_id": "c", "request_uri": "u"}', "application/json"),
        (b"client_id=%FF\xff", "application/x-www-form-urlencoded"),
        (b"client_id=a&client_id=a&request_uri=u", "application/x-www-form-urlencoded"),
    ],
)
async def test_a_post_to_authorize_that_is_not_a_single_valued_form_gets_the_error_page(
    h: Harness, body: bytes, content_type: str
) -> None:
    response = await h.http.post(AUTHORIZE, content=body, headers={"content-type": content_type})
    assert response.status_code == 400
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")
