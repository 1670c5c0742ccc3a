"""Prometheus metrics (issue 2, item 4; issue 6, item 5): fed only by events; /metrics only for the
operator's networks (by the client IP, which honours trusted proxies); everyone else gets the
unknown-path 404. The authorization server per endpoint, error answers by their standard code, risk
decisions, payments, consents, tokens, authorizations and login failures, each driven through the app;
no label value a client can choose."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

from kaimen.app import create_app
from kaimen.authz.errors import ERROR_CODES as OAUTH_ERROR_CODES
from kaimen.errors.render import OB_ERROR_CODES, Family
from kaimen.events import (
    API_CALL_COMPLETED,
    AUTHORIZATION_APPROVED,
    LOGIN_FAILED,
    PAYMENT_PENDING,
    RATE_LIMIT_STORE_DOWN,
    RISK_DECIDED,
    TOKEN_ISSUED,
    EventBus,
)
from kaimen.gateway.apis import Api, ApiTable
from kaimen.gateway.clientip import ClientIpResolver
from kaimen.gateway.context import Call
from kaimen.gateway.dpop_auth import DpopAuth
from kaimen.gateway.entry import Entry
from kaimen.gateway.metrics import Metrics
from kaimen.gateway.ratelimit import StoreDownDecision
from kaimen.risk.store import RiskStore
from kaimen.settings import ApiPolicy, Settings
from kaimen.store.types import utcnow
from kaimen.tiers import Tier
from tests.authz_flow_support import AUTHORIZE, ISSUER, Harness, Pkce, Tpp, harness, query_of
from tests.domestic_payments_support import assert_payment, authorised, pay
from tests.fapi_client_support import PASSWORD, Customer, customer, hidden_fields, post_form
from tests.payments_support import consent_body, open_payments
from tests.support import client_for, lifespan
from tests.test_ratelimit import APIS

NOT_FOUND = {"status": "404", "title": "Not found", "description": "Not found"}


def finished(api_index: int | None, status: int, method: str = "GET") -> Call:
    return Call(
        interaction_id="00000000-0000-4000-8000-000000000000",
        client_ip="203.0.113.7",
        api=APIS[api_index] if api_index is not None else None,
        started_ns=time.perf_counter_ns() - 3_000_000,  # 3 ms ago
        method=method,
        status=status,
    )


def test_metrics_count_calls_from_events_only() -> None:
    events = EventBus()
    metrics = Metrics(events)
    for call in (finished(0, 200), finished(0, 200), finished(1, 401), finished(1, 403), finished(0, 429)):
        events.emit(API_CALL_COMPLETED, call)
    events.emit(API_CALL_COMPLETED, finished(None, 200, method="BREW"))
    sample = metrics.registry.get_sample_value
    requests = "kaimen_http_requests_total"
    assert sample(requests, {"api": "test.public", "method": "GET", "status": "200"}) == 2
    assert sample(requests, {"api": "test.member", "method": "GET", "status": "401"}) == 1
    assert sample(requests, {"api": "none", "method": "other", "status": "200"}) == 1
    refusals = "kaimen_gateway_refusals_total"
    assert sample(refusals, {"api": "test.member", "status": "401"}) == 1
    assert sample(refusals, {"api": "test.member", "status": "403"}) == 1
    assert sample(refusals, {"api": "test.public", "status": "429"}) == 1
    assert sample(refusals, {"api": "test.public", "status": "200"}) is None
    latency = "kaimen_http_request_duration_seconds"
    assert sample(f"{latency}_count", {"api": "test.public"}) == 3
    assert sample(f"{latency}_bucket", {"api": "test.public", "le": "0.001"}) == 0
    assert sample(f"{latency}_bucket", {"api": "test.public", "le": "+Inf"}) == 3


def test_store_down_decisions_are_counted() -> None:
    events = EventBus()
    metrics = Metrics(events)
    events.emit(RATE_LIMIT_STORE_DOWN, StoreDownDecision("test.member", refused=True))
    events.emit(RATE_LIMIT_STORE_DOWN, StoreDownDecision("test.public", refused=False))
    events.emit(RATE_LIMIT_STORE_DOWN, StoreDownDecision("test.public", refused=False))
    sample = metrics.registry.get_sample_value
    name = "kaimen_ratelimit_store_down_total"
    assert sample(name, {"api": "test.member", "decision": "refused"}) == 1
    assert sample(name, {"api": "test.public", "decision": "served"}) == 2


def test_each_metrics_has_its_own_registry() -> None:
    first, second = Metrics(EventBus()), Metrics(EventBus())
    assert first.registry is not second.registry


@pytest.fixture
async def proxied_app(make_settings: Callable[..., Settings], sqlite_url: str) -> AsyncIterator[Any]:
    application = create_app(make_settings(database_url=sqlite_url, trusted_proxies=["10.0.0.0/8"]))
    async with lifespan(application):
        yield application


async def test_metrics_endpoint_serves_the_operator(app: Any) -> None:
    async with client_for(app, client_ip="127.0.0.1") as http:
        await http.get("/healthz")
        await http.get("/healthz")
        response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"] == CONTENT_TYPE_LATEST
    assert response.headers["cache-control"] == "no-store"
    assert 'kaimen_http_requests_total{api="none",method="GET",status="200"} 2.0' in response.text
    assert 'kaimen_http_request_duration_seconds_count{api="none"} 2.0' in response.text


async def test_metrics_endpoint_is_an_unknown_path_to_everyone_else(app: Any) -> None:
    async with client_for(app, client_ip="203.0.113.7") as http:
        unknown = await http.get("/nowhere")
        answers = [await http.get("/metrics"), await http.post("/metrics"), await http.head("/metrics")]
    for response in answers:
        assert response.status_code == 404
        assert response.headers["content-type"] == unknown.headers["content-type"]
    assert [r.json() for r in answers[:2]] == [NOT_FOUND, NOT_FOUND]
    assert unknown.json() == NOT_FOUND


async def test_metrics_endpoint_refuses_other_methods_to_the_operator(app: Any) -> None:
    async with client_for(app, client_ip="127.0.0.1") as http:
        response = await http.post("/metrics")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"  # RFC 9110 §15.5.6
    assert response.json() == {
        "status": "405",
        "title": "Method not allowed",
        "description": "Method not allowed",
    }


@pytest.mark.parametrize(
    ("peer", "forwarded", "status"),
    [
        ("10.0.0.1", "127.0.0.1", 200),  # a trusted proxy forwarding the operator
        ("10.0.0.1", "198.51.100.1", 404),  # a trusted proxy forwarding an outsider
        ("203.0.113.7", "127.0.0.1", 404),  # an outsider claiming to be the operator
    ],
)
async def test_metrics_access_follows_the_client_ip_behind_proxies(
    proxied_app: Any, peer: str, forwarded: str, status: int
) -> None:
    async with client_for(proxied_app, client_ip=peer) as http:
        response = await http.get("/metrics", headers={"x-forwarded-for": forwarded})
    assert response.status_code == status


# --- Issue 6, item 5: the authorization server per endpoint, error codes, risk and security events ---


def _sample(app: Any, name: str, **labels: str) -> float | None:
    value: float | None = app.components.metrics.registry.get_sample_value(name, labels)
    return value


def _series(app: Any, name: str) -> dict[tuple[str, ...], float]:
    """Every sample of ``name``: its label values (in label-name order) -> value."""
    found = {}
    for family in app.components.metrics.registry.collect():
        for sample in family.samples:
            if sample.name == name:
                found[tuple(value for _, value in sorted(sample.labels.items()))] = sample.value
    return found


AUTHZ_CALLS: list[tuple[str, str, dict[str, Any], str, int]] = [
    ("GET", "/.well-known/openid-configuration", {}, "/.well-known/openid-configuration", 200),
    ("GET", "/.well-known/oauth-authorization-server", {}, "/.well-known/oauth-authorization-server", 200),
    ("GET", "/oauth2/jwks", {}, "/oauth2/jwks", 200),
    ("POST", "/oauth2/token", {}, "/oauth2/token", 400),  # not a form: invalid_request
    ("POST", "/oauth2/token", {"data": {"grant_type": "x"}}, "/oauth2/token", 401),  # invalid_client
    ("POST", "/oauth2/par", {"data": {"scope": "openid"}}, "/oauth2/par", 401),
    ("GET", "/oauth2/authorize", {}, "/oauth2/authorize", 400),  # an HTML page, no code
    ("POST", "/oauth2/introspect", {"data": {"token": "x"}}, "/oauth2/introspect", 401),
    ("POST", "/oauth2/revoke", {"data": {"token": "x"}}, "/oauth2/revoke", 401),
    ("GET", "/oauth2/userinfo", {}, "/oauth2/userinfo", 401),  # invalid_token
    ("POST", "/oauth2/register", {"json": {}}, "/oauth2/register", 400),  # invalid_software_statement
    ("GET", "/oauth2/register/client-1", {}, "/oauth2/register/{client_id}", 401),  # invalid_token
    ("GET", "/login", {}, "/login", 400),  # no login session: an HTML page
    ("GET", "/oauth2/nowhere", {}, "none", 404),  # the gateway's invalid_request
]


async def test_every_authorization_server_endpoint_is_counted_and_timed(app: Any) -> None:
    async with client_for(app) as http:
        for method, path, sent, _, status in AUTHZ_CALLS:
            response = await http.request(method, path, **sent)
            assert response.status_code == status, (path, response.text)
    expected: dict[tuple[str, ...], float] = {}
    timed: dict[str, int] = {}
    for method, _, _, route, status in AUTHZ_CALLS:
        key = (method, route, str(status))  # label names in order: method, route, status
        expected[key] = expected.get(key, 0) + 1
        timed[route] = timed.get(route, 0) + 1
    assert _series(app, "kaimen_authz_requests_total") == expected
    assert expected[("POST", "/oauth2/token", "400")] == expected[("POST", "/oauth2/token", "401")] == 1
    latency = "kaimen_authz_request_duration_seconds"
    for route, count in timed.items():
        assert _sample(app, f"{latency}_count", route=route) == count
        assert _sample(app, f"{latency}_bucket", route=route, le="+Inf") == count
    assert timed["/oauth2/token"] == 2
    # The per-API series go on as before: the authorization server's calls are API "oauth" or "login".
    assert _sample(app, "kaimen_http_requests_total", api="oauth", method="POST", status="401") == 4
    assert _sample(app, "kaimen_http_request_duration_seconds_count", api="login") == 1


async def test_other_apis_are_not_counted_per_route(app: Any) -> None:
    async with client_for(app) as http:
        assert (await http.get("/open-banking/v2.3/atms")).status_code == 200
        assert (await http.get("/healthz")).status_code == 200
    assert _series(app, "kaimen_authz_requests_total") == {}
    assert _sample(app, "kaimen_http_requests_total", api="opendata.atm", method="GET", status="200") == 1


def _code_in(response: httpx.Response) -> str | None:
    """The error code a client reads in the answer: RFC 6749 ``error`` or OBErrorResponse1 ErrorCode."""
    if not response.headers.get("content-type", "").startswith("application/json"):
        return None
    body = response.json()
    if "error" in body:
        return str(body["error"])
    if "Errors" in body:
        [error] = body["Errors"]
        return str(error["ErrorCode"])
    return None


async def test_error_answers_are_counted_by_the_code_the_client_reads(app: Any) -> None:
    ob = "/open-banking/v3.1/aisp/accounts"
    calls: list[tuple[str, str, dict[str, Any]]] = [
        (method, path, sent) for method, path, sent, _, _ in AUTHZ_CALLS
    ] + [
        ("GET", ob, {}),  # UK.OBIE.Header.Missing
        ("GET", ob, {"headers": {"authorization": "Bearer abc"}}),  # RFC 9449 §7.2: Header.Invalid
        ("GET", ob, {"headers": {"authorization": "DPoP a", "dpop": "x"}}),  # unknown token
        ("GET", "/open-banking/v2.3/atms", {"headers": {"x-api-key": "kmn_unknown_key"}}),  # Open Data
    ]
    seen: dict[tuple[str, str], float] = {}
    async with client_for(app) as http:
        for method, path, sent in calls:
            response = await http.request(method, path, **sent)
            code = _code_in(response)
            if code is not None:
                api = app.components.apis.match(path).name
                seen[(api, code)] = seen.get((api, code), 0) + 1
    assert _series(app, "kaimen_error_responses_total") == seen
    assert seen == {
        ("oauth", "invalid_request"): 2,
        ("oauth", "invalid_client"): 4,
        ("oauth", "invalid_token"): 2,
        ("oauth", "invalid_software_statement"): 1,
        ("aisp", "UK.OBIE.Header.Missing"): 1,
        ("aisp", "UK.OBIE.Header.Invalid"): 2,
    }
    # The Open Data v2 error object has no code: its 401 is a refusal, not a coded error.
    assert _sample(app, "kaimen_gateway_refusals_total", api="opendata.atm", status="401") == 1


def test_every_ob_error_code_kaimen_answers_is_one_the_spec_defines() -> None:
    """The metric keeps only the spec's codes (anything else would be ``other``): no class of Kaimen's
    carries a code outside OBError1 ErrorCode's x-namespaced-enum."""
    import kaimen.app  # noqa: F401  (imports every API, so every ApiError subclass exists)
    from kaimen.errors import ApiError
    from kaimen.errors.render import OB_ERROR_CODES

    def every(cls: type[ApiError]) -> list[type[ApiError]]:
        return [cls, *(sub for child in cls.__subclasses__() for sub in every(child))]

    classes = every(ApiError)
    assert len(classes) > 30
    assert {cls.ob_code for cls in classes} <= OB_ERROR_CODES
    assert len(OB_ERROR_CODES) == 27


# Rules that depend on the wall clock or on timing are turned off, so the same rules fire on every run:
# no night (an empty window), no minimum consent age, history read afresh for every assessment.
STEADY_RISK = {
    "night_start_hour": 0,
    "night_end_hour": 0,
    "min_consent_age_seconds": 0,
    "history_cache_seconds": 0,
}


async def test_risk_decisions_payments_and_consents_are_counted(
    make_settings: Callable[..., Settings], sqlite_url: str
) -> None:
    """Driven through the Payment API with the risk engine on: an allowed payment to a new payee, then
    the payee put on the deny list, a payment to it (rejected at submission) and a new consent for it
    (rejected at creation)."""
    settings = make_settings(database_url=sqlite_url, risk=STEADY_RISK)
    async with open_payments(settings) as bank:
        acme = await bank.tpp("pisp-acme")
        first = await authorised(bank, acme)
        paid = await assert_payment(bank, await pay(acme, first.payment(), token=first.token), 201)
        assert paid["Data"]["Status"] == "AcceptedSettlementCompleted"
        second = await authorised(bank, acme)
        creditor = second.consent["Data"]["Initiation"]["CreditorAccount"]
        deny_list = RiskStore(bank.app.components.db)
        await deny_list.deny(creditor["SchemeName"], creditor["Identification"], "mule", utcnow())
        refused = await assert_payment(bank, await pay(acme, second.payment(), token=second.token), 201)
        assert refused["Data"]["Status"] == "Rejected"
        third = await acme.post(consent_body())
        assert (third.status_code, third.json()["Data"]["Status"]) == (201, "Rejected")
        unsigned = await acme.post(consent_body(), signature=None)
        assert unsigned.status_code == 400
        app = bank.app
    # Label values in label-name order: (outcome, stage), (rule, stage), (risk_outcome, status).
    assert _series(app, "kaimen_risk_decisions_total") == {
        ("allow", "consent"): 2,
        ("reject", "consent"): 1,
        ("allow", "payment"): 1,
        ("reject", "payment"): 1,
    }
    # At consent creation no customer is known yet, so there is no history to find a new payee in.
    assert _series(app, "kaimen_risk_signals_total") == {
        ("new_payee", "payment"): 1,
        ("denied_payee", "payment"): 1,
        ("denied_payee", "consent"): 1,
    }
    assert _series(app, "kaimen_payments_total") == {("allow", "accepted"): 1, ("reject", "rejected"): 1}
    assert _series(app, "kaimen_consent_changes_total") == {
        ("authorised",): 2,
        ("consumed",): 2,
        ("rejected",): 1,
    }
    assert _series(app, "kaimen_error_responses_total") == {("pisp", "UK.OBIE.Signature.Missing"): 1}


async def _fail_then_deny(h: Harness, tpp: Tpp, person: Customer) -> None:
    """The customer's pages of one authorization request: a wrong password, the right one, a wrong
    one-time code, the right one, then "deny"."""
    request_uri = await h.pushed(tpp, Pkce())
    transport = httpx.ASGITransport(app=h.app, client=("198.51.100.30", 40001))
    async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as browser:
        start = await browser.get(AUTHORIZE, params={"client_id": tpp.client_id, "request_uri": request_uri})
        login = start.headers["location"]
        page = await browser.get(login)
        wrong = await browser.post(
            login, data={**hidden_fields(page), "username": person.username, "password": "x"}
        )
        assert wrong.status_code == 401, wrong.text
        otp = await post_form(browser, login, username=person.username, password=PASSWORD)
        otp_path = otp.headers["location"]
        page = await browser.get(otp_path)
        wrong = await browser.post(otp_path, data={**hidden_fields(page), "otp": "000000"})
        assert wrong.status_code == 401, wrong.text
        consent = await post_form(browser, otp_path, otp=person.totp.now())
        denied = await post_form(browser, consent.headers["location"], decision="deny")
    assert query_of(denied.headers["location"])["error"] == "access_denied"


async def test_authorizations_tokens_and_login_failures_are_counted(
    make_settings: Callable[..., Settings], sqlite_url: str
) -> None:
    async with harness(make_settings(database_url=sqlite_url)) as h:
        tpp, alice = await h.tpp(), await customer(h, "alice")
        await _fail_then_deny(h, tpp, alice)
        pkce = Pkce()
        issued = await h.redeem(tpp, await h.code(tpp, pkce), pkce)
        assert issued.status_code == 200, issued.text
        refresh = {"grant_type": "refresh_token", "refresh_token": issued.json()["refresh_token"]}
        assert (await h.token(tpp, refresh)).status_code == 200
        assert (
            await h.token(tpp, {"grant_type": "client_credentials", "scope": "accounts"})
        ).status_code == 200
        revoke = {**tpp.assertion(), "token": issued.json()["refresh_token"]}
        assert (await h.http.post("/oauth2/revoke", data=revoke)).status_code == 200
        async with client_for(h.app) as browser:  # the customer dashboard's own login page
            page = await browser.get("/dashboard/login")
            form = {**hidden_fields(page), "username": "alice", "password": "x"}
            assert (await browser.post("/dashboard/login", data=form)).status_code == 401
        app = h.app
    # Label values in label-name order.
    assert _series(app, "kaimen_authorizations_total") == {
        ("denied", "accounts"): 1,
        ("approved", "accounts"): 1,
    }
    assert _series(app, "kaimen_tokens_issued_total") == {
        ("authorization_code",): 1,
        ("refresh_token",): 1,
        ("client_credentials",): 1,
    }
    # RFC 7009 §2.1: revoking the refresh token takes the grant's access tokens with it (3 tokens).
    assert _series(app, "kaimen_tokens_revoked_total") == {("client",): 3}
    assert _series(app, "kaimen_login_failures_total") == {  # (pages, reason, step)
        ("authorization", "invalid", "password"): 1,
        ("authorization", "invalid", "second_factor"): 1,
        ("dashboard", "invalid", "password"): 1,
    }
    assert _series(app, "kaimen_consent_changes_total") == {("rejected",): 1, ("authorised",): 1}


MARK = "zq" + uuid.uuid4().hex[:10]  # appears in every hostile input below, and must in no label


async def test_a_client_cannot_create_label_values(app: Any) -> None:
    """Random paths, methods, parameters and error-looking input: every label value stays in the fixed
    vocabulary (API names, route templates, RFC 9110 methods, statuses, the standard codes)."""
    ob = "/open-banking/v3.1/pisp/domestic-payment-consents"
    async with client_for(app) as http:
        for prefix in (
            "/oauth2/",
            "/.well-known/",
            "/login/",
            "/open-banking/v3.1/aisp/",
            "/",
            "/dashboard/",
        ):
            await http.get(prefix + MARK, headers={"x-fapi-interaction-id": MARK})
        await http.request(MARK.upper(), "/oauth2/token")
        await http.request(MARK.upper(), "/open-banking/v2.3/atms")
        await http.post("/oauth2/token", data={"grant_type": MARK, "error": MARK, "client_id": MARK})
        await http.post("/oauth2/par", data={"error": f"UK.OBIE.{MARK}", "scope": MARK})
        await http.get("/oauth2/authorize", params={"client_id": MARK, "request_uri": MARK, "error": MARK})
        await http.get(f"/oauth2/register/{MARK}", headers={"authorization": f"Bearer {MARK}"})
        await http.post(
            ob, json={"Errors": [{"ErrorCode": f"UK.OBIE.{MARK}"}]}, headers={"authorization": MARK}
        )
        await http.get("/open-banking/v2.3/atms", headers={"x-api-key": f"kmn_{MARK}_{MARK}"})
    async with client_for(app, client_ip="127.0.0.1") as http:
        exposition = (await http.get("/metrics")).text
    assert MARK not in exposition.lower()
    routes = {route.path for route in app.router.router.routes}
    vocabulary = {
        "api": {api.name for api in app.components.apis.apis} | {"none"},
        "method": {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "other"},
        "route": routes | {"none"},
        "code": OB_ERROR_CODES | OAUTH_ERROR_CODES,
    }
    used: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            for label, value in sample.labels.items():
                used.setdefault(label, set()).add(value)
    for label, allowed in vocabulary.items():
        assert used[label] <= allowed, (label, used[label] - allowed)
    assert all(value.isdigit() for value in used["status"])
    assert "other" in used["method"]  # the unknown methods were counted, as "other"
    assert "none" in used["route"]
    assert set(used) <= {*vocabulary, "status", "le"}


def test_payload_values_outside_the_fixed_sets_are_counted_as_other() -> None:
    """What the events carry is Kaimen's own, but a value outside the fixed set (a payment risk check
    answering an outcome the engine does not have, say) must not become a series of its own."""
    events = EventBus()
    metrics = Metrics(events)
    call = finished(0, 400)
    call.error_code = "UK.OBIE.Made.Up"
    events.emit(API_CALL_COMPLETED, call)
    signal = SimpleNamespace(rule="made_up")
    decision = SimpleNamespace(stage="payment", outcome="unheard-of", signals=(signal,))
    events.emit(RISK_DECIDED, SimpleNamespace(decision=decision))
    events.emit(PAYMENT_PENDING, SimpleNamespace(risk_outcome="unheard-of"))
    events.emit(TOKEN_ISSUED, SimpleNamespace(grant_type="urn:made:up"))
    events.emit(LOGIN_FAILED, SimpleNamespace(request_id="r-1", reason="made_up"))
    events.emit(AUTHORIZATION_APPROVED, SimpleNamespace(scope="openid made_up"))
    sample = metrics.registry.get_sample_value
    assert sample("kaimen_error_responses_total", {"api": "test.public", "code": "other"}) == 1
    assert sample("kaimen_risk_decisions_total", {"stage": "payment", "outcome": "other"}) == 1
    assert sample("kaimen_risk_signals_total", {"stage": "payment", "rule": "other"}) == 1
    assert sample("kaimen_payments_total", {"status": "pending", "risk_outcome": "other"}) == 1
    assert sample("kaimen_tokens_issued_total", {"grant_type": "other"}) == 1
    labels = {"step": "password", "reason": "other", "pages": "authorization"}
    assert sample("kaimen_login_failures_total", labels) == 1
    assert sample("kaimen_authorizations_total", {"decision": "approved", "scope": "none"}) == 1


async def test_the_gateways_own_oauth_refusals_are_counted_by_code() -> None:
    """A DPoP-protected API outside the UK OB family is refused in RFC 6750 / RFC 9449 JSON by the
    gateway itself (kaimen.gateway.dpop_auth), before any handler: its code is counted too."""
    events = EventBus()
    metrics = Metrics(events)
    policy = ApiPolicy(tier=Tier.PARTNER, auth="dpop", scopes=["accounts"])
    api = Api(
        name="probe.plain", path="/probe", family=Family.PLAIN, media_type="application/json", policy=policy
    )

    async def unreachable(scope: dict[str, Any], receive: Any, send: Any) -> None:
        raise AssertionError("no token was valid")

    nothing: Any = None
    guarded = DpopAuth(unreachable, tokens=nothing, dpop=nothing, clients=nothing)
    app = Entry(guarded, apis=ApiTable([api]), client_ip=ClientIpResolver([]), events=events)
    async with client_for(app) as http:
        answers = [
            await http.get("/probe"),
            await http.get("/probe", headers={"authorization": "Bearer abc"}),
            await http.get("/probe", headers=[("authorization", "DPoP a"), ("authorization", "DPoP b")]),
        ]
    assert [(r.status_code, r.json()["error"]) for r in answers] == [
        (401, "invalid_token"),
        (401, "invalid_token"),
        (400, "invalid_request"),
    ]
    sample = metrics.registry.get_sample_value
    assert sample("kaimen_error_responses_total", {"api": "probe.plain", "code": "invalid_token"}) == 2
    assert sample("kaimen_error_responses_total", {"api": "probe.plain", "code": "invalid_request"}) == 1
