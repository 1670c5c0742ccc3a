"""Issue 6, item 2: every one-time thing and every limit holds across two ``kaimen serve`` instances
(A and B) sharing PostgreSQL and Redis, each call a real HTTP request to one instance's port
(tests.multiprocess_support says how they run).

Each test does the first use on A and the second on B: what A remembered in its own process only
would let B accept it again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from joserfc.jwk import ECKey

from tests.demo_flow_support import dpop_proof
from tests.multiprocess_support import (
    AISP,
    PCA,
    PUBLIC,
    TOKEN,
    Browser,
    Cluster,
    Instance,
    Pkce,
    code_of,
    two_instances,
)

pytestmark = [pytest.mark.server, pytest.mark.postgres, pytest.mark.redis]

RATE_LIMIT = 5
REVOCATION_ROUNDS = 40
CLIENT_CREDENTIALS = {"grant_type": "client_credentials", "scope": "accounts"}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with two_instances(
        tmp_path_factory.mktemp("multiprocess"), rate_limit=RATE_LIMIT, customers=7
    ) as running:
        yield running


@pytest.fixture
def key() -> ECKey:
    return ECKey.generate_key("P-256", private=True)


def oauth_error(response: httpx.Response, status: int, error: str, description: str | None = None) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"] == error, response.text
    if description is not None:
        assert response.json()["error_description"] == description


def ob_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert [e["ErrorCode"] for e in response.json()["Errors"]] == [code], response.text


def test_both_instances_are_ready_on_the_shared_stores(cluster: Cluster) -> None:
    for instance in (cluster.a, cluster.b):
        ready = httpx.get(instance.url("/readyz"), timeout=5)
        assert ready.status_code == 200
        assert ready.json() == {"status": "ready", "checks": {"database": "ok", "redis": "ok"}}
        assert httpx.get(instance.url("/livez"), timeout=5).json() == {"status": "ok"}
    # One issuer and one set of signing keys, whichever instance answers.
    meta_a, meta_b = (
        httpx.get(at.url("/.well-known/openid-configuration"), timeout=5).json()
        for at in (cluster.a, cluster.b)
    )
    for name in ("issuer", "pushed_authorization_request_endpoint", "token_endpoint", "jwks_uri"):
        assert meta_a[name] == meta_b[name] and meta_a[name].startswith(PUBLIC)
    jwks_path = meta_a["jwks_uri"][len(PUBLIC) :]
    jwks_a, jwks_b = (httpx.get(at.url(jwks_path), timeout=5).json() for at in (cluster.a, cluster.b))
    assert jwks_a == jwks_b and jwks_a["keys"]


def test_an_authorization_code_redeemed_on_a_is_refused_on_b(cluster: Cluster, key: ECKey) -> None:
    # FAPI 2.0 / RFC 6749 §4.1.2: a code is used once; a second use revokes what the first issued.
    tpp = cluster.tpp
    consent_id = tpp.create_consent(cluster.a, key)
    pkce = Pkce()
    request_uri = tpp.push(cluster.a, key, consent_id, pkce)
    browser = Browser(cluster.a)
    try:
        code = code_of(browser.approve(browser.log_in(tpp, request_uri, cluster.customer())))
    finally:
        browser.close()
    first = tpp.redeem(cluster.a, code, pkce, key)
    assert first.status_code == 200, first.text
    access = first.json()["access_token"]
    assert tpp.call(cluster.b, key, "GET", AISP + "/accounts", access).status_code == 200

    oauth_error(tpp.redeem(cluster.b, code, pkce, key), 400, "invalid_grant")
    # The replay revoked the tokens the first redemption issued, in both instances.
    for instance in (cluster.b, cluster.a):
        refused = tpp.call(instance, key, "GET", AISP + "/accounts", access)
        assert refused.status_code == 401, refused.text


def test_a_request_uri_consumed_on_a_is_refused_on_b(cluster: Cluster, key: ECKey) -> None:
    # RFC 9126 §4: the request_uri is one-time. Two customers' browsers start on it, one on each
    # instance; the first approval (on A) consumes it, the second (on B) gets no code.
    tpp = cluster.tpp
    consent_id = tpp.create_consent(cluster.a, key)
    request_uri = tpp.push(cluster.a, key, consent_id, Pkce())
    on_a, on_b = Browser(cluster.a), Browser(cluster.b)
    try:
        consent_on_a = on_a.log_in(tpp, request_uri, cluster.customer())
        consent_on_b = on_b.log_in(tpp, request_uri, cluster.customer())
        answer_on_b = on_b.consent_form(consent_on_b)  # B's page shown while the request is unused
        code_of(on_a.approve(consent_on_a))
        late = on_b.post(consent_on_b, answer_on_b)
        assert late.status_code == 400, late.text
        assert "location" not in late.headers
        assert late.headers["content-type"].startswith("text/html")
        assert "Your login session has expired or was not found" in late.text
    finally:
        on_a.close()
        on_b.close()
    again = httpx.get(tpp.authorize_url(cluster.b, request_uri), timeout=10)
    assert again.status_code == 400, again.text
    assert "location" not in again.headers
    assert "already used" in again.text


def at_once(*calls: Callable[[], httpx.Response]) -> list[httpx.Response]:
    """Send every call at the same moment, each from its own thread."""
    start = threading.Barrier(len(calls))

    def run(call: Callable[[], httpx.Response]) -> httpx.Response:
        start.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def test_one_code_redeemed_on_a_and_b_at_the_same_moment_issues_tokens_once(
    cluster: Cluster, key: ECKey
) -> None:
    tpp = cluster.tpp
    consent_id = tpp.create_consent(cluster.a, key)
    pkce = Pkce()
    request_uri = tpp.push(cluster.a, key, consent_id, pkce)
    browser = Browser(cluster.b)
    try:
        code = code_of(browser.approve(browser.log_in(tpp, request_uri, cluster.customer())))
    finally:
        browser.close()
    answers = at_once(*(lambda at=at: tpp.redeem(at, code, pkce, key) for at in (cluster.a, cluster.b)))
    # One redemption wins the consume; the other is a second use, which RFC 6749 §4.1.2 says to deny
    # and to answer by revoking what the first issued. So: at most one 200, and no usable token.
    statuses = sorted(r.status_code for r in answers)
    assert statuses in ([200, 400], [400, 400]), [r.text for r in answers]
    for refused in (r for r in answers if r.status_code == 400):
        oauth_error(refused, 400, "invalid_grant", "the authorization code was already used")
    for issued in (r.json()["access_token"] for r in answers if r.status_code == 200):
        for instance in (cluster.a, cluster.b):
            assert tpp.call(instance, key, "GET", AISP + "/accounts", issued).status_code == 401


def test_one_assertion_and_proof_sent_to_a_and_b_at_the_same_moment_are_accepted_once(
    cluster: Cluster, key: ECKey
) -> None:
    tpp = cluster.tpp

    def send(at: Instance, assertion: dict[str, str], proof: str) -> Callable[[], httpx.Response]:
        return lambda: tpp.token(at, CLIENT_CREDENTIALS, key, assertion=assertion, proof=proof)

    for _ in range(5):
        assertion, proof = tpp.assertion(), dpop_proof(key, "POST", PUBLIC + TOKEN)
        answers = at_once(send(cluster.a, assertion, proof), send(cluster.b, assertion, proof))
        assert sorted(r.status_code for r in answers) in ([200, 400], [200, 401]), [r.text for r in answers]


def test_a_client_assertion_used_on_a_is_refused_on_b(cluster: Cluster, key: ECKey) -> None:
    # RFC 7523 §3 item 7: the authorization server "MAY ensure that JWTs are not replayed by
    # maintaining the set of used jti values"; FAPI 2.0 makes it one-time across every worker.
    tpp = cluster.tpp
    assertion = tpp.assertion()
    assert tpp.token(cluster.a, CLIENT_CREDENTIALS, key, assertion=assertion).status_code == 200
    replayed = tpp.token(cluster.b, CLIENT_CREDENTIALS, key, assertion=assertion)
    oauth_error(replayed, 401, "invalid_client", "client_assertion jti has already been used")
    # A fresh assertion still works on B: the refusal was the replay, nothing else.
    assert tpp.token(cluster.b, CLIENT_CREDENTIALS, key).status_code == 200


def test_a_dpop_proof_used_on_a_is_refused_on_b(cluster: Cluster, key: ECKey) -> None:
    # RFC 9449 §11.1: a proof's jti is accepted once; htu is the public URL, valid on either instance.
    tpp = cluster.tpp
    proof = dpop_proof(key, "POST", PUBLIC + TOKEN)
    assert tpp.token(cluster.a, CLIENT_CREDENTIALS, key, proof=proof).status_code == 200
    replayed = tpp.token(cluster.b, CLIENT_CREDENTIALS, key, proof=proof)
    oauth_error(replayed, 400, "invalid_dpop_proof", "the DPoP proof was already used")

    # At a resource too: the same proof and token, replayed on B after A accepted it.
    token = tpp.own_token(cluster.a, key)
    path = AISP + "/account-access-consents"
    body = b'{"Data": {"Permissions": ["ReadAccountsBasic"]}, "Risk": {}}'
    headers = {
        "Authorization": f"DPoP {token}",
        "DPoP": dpop_proof(key, "POST", PUBLIC + path, token),
        "Content-Type": "application/json",
    }
    assert httpx.post(cluster.a.url(path), content=body, headers=headers, timeout=10).status_code == 201
    replayed = httpx.post(cluster.b.url(path), content=body, headers=headers, timeout=10)
    assert replayed.status_code == 401, replayed.text
    assert replayed.headers["www-authenticate"].startswith('DPoP error="invalid_dpop_proof"')


def test_rate_limits_hold_in_sum_across_instances(cluster: Cluster) -> None:
    headers = {"x-api-key": cluster.tpp.api_key}
    answers = [
        httpx.get((cluster.a, cluster.b)[n % 2].url(PCA), headers=headers, timeout=10)
        for n in range(cluster.rate_limit + 1)
    ]
    assert [r.status_code for r in answers] == [200] * cluster.rate_limit + [429]
    assert [r.headers["ratelimit-remaining"] for r in answers[:-1]] == [
        str(n) for n in reversed(range(cluster.rate_limit))
    ]
    refused = answers[-1]
    assert refused.headers["ratelimit-limit"] == str(cluster.rate_limit)
    assert refused.headers["retry-after"] == refused.headers["ratelimit-reset"]
    assert refused.json()["status"] == "429"
    # Refused on A as well: the two instances count one budget.
    assert httpx.get(cluster.a.url(PCA), headers=headers, timeout=10).status_code == 429


def test_a_token_revoked_on_a_is_refused_on_b_at_once(cluster: Cluster, key: ECKey) -> None:
    tpp = cluster.tpp
    _, tokens = cluster.authorized(cluster.a, key)
    access, refresh = tokens["access_token"], tokens["refresh_token"]
    for _ in range(2):  # B has it cached now
        assert tpp.call(cluster.b, key, "GET", AISP + "/accounts", access).status_code == 200

    # RFC 7009 §2.2: 200 once the token is revoked; the very next call to B must fail.
    revoked = httpx.post(
        cluster.a.url("/oauth2/revoke"), data={**tpp.assertion(), "token": access}, timeout=10
    )
    assert revoked.status_code == 200, revoked.text
    started = time.monotonic()
    refused = tpp.call(cluster.b, key, "GET", AISP + "/accounts", access)
    assert refused.status_code == 401, refused.text
    assert 'error="invalid_token"' in refused.headers["www-authenticate"]
    assert time.monotonic() - started < 5

    # The refresh token, revoked on A, is refused on B as well.
    revoked = httpx.post(
        cluster.a.url("/oauth2/revoke"), data={**tpp.assertion(), "token": refresh}, timeout=10
    )
    assert revoked.status_code == 200, revoked.text
    form = {"grant_type": "refresh_token", "refresh_token": refresh}
    oauth_error(tpp.token(cluster.b, form, key), 400, "invalid_grant")


def test_revocation_on_a_wins_the_race_with_the_next_call_on_b(cluster: Cluster, key: ECKey) -> None:
    # The tightest case: kept-alive connections to both, B's next request sent the moment A has
    # answered the revocation. Before kaimen.authz.tokens stopped caching live tokens on PostgreSQL,
    # about one round in 150 found B still serving from its cache: PostgreSQL's NOTIFY reaches B
    # milliseconds after A has answered.
    tpp = cluster.tpp
    consent_id = tpp.create_consent(cluster.a, key)
    path = f"{AISP}/account-access-consents/{consent_id}"
    tokens = [tpp.own_token(cluster.a, key) for _ in range(REVOCATION_ROUNDS)]
    served_after_revocation = []
    with httpx.Client(timeout=10) as to_a, httpx.Client(timeout=10) as to_b:
        for token in tokens:
            warm = {"Authorization": f"DPoP {token}", "DPoP": dpop_proof(key, "GET", PUBLIC + path, token)}
            assert to_b.get(cluster.b.url(path), headers=warm).status_code == 200
            next_call = {
                "Authorization": f"DPoP {token}",
                "DPoP": dpop_proof(key, "GET", PUBLIC + path, token),
            }
            form = {**tpp.assertion(), "token": token}
            assert to_a.post(cluster.a.url("/oauth2/revoke"), data=form).status_code == 200
            answer = to_b.get(cluster.b.url(path), headers=next_call)
            if answer.status_code != 401:
                served_after_revocation.append(answer.status_code)
    assert served_after_revocation == []


def test_a_consent_deleted_on_a_stops_the_token_on_b_at_once(cluster: Cluster, key: ECKey) -> None:
    tpp = cluster.tpp
    consent_id, tokens = cluster.authorized(cluster.a, key)
    access = tokens["access_token"]
    assert tpp.call(cluster.b, key, "GET", AISP + "/accounts", access).status_code == 200

    own = tpp.own_token(cluster.a, key)
    gone = tpp.call(cluster.a, key, "DELETE", f"{AISP}/account-access-consents/{consent_id}", own)
    assert gone.status_code == 204, gone.text
    # The consent is read afresh on every call (403 InvalidConsentStatus); its tokens are revoked
    # right after the DELETE answers (401), whichever of the two B sees first, the token is refused.
    refused = tpp.call(cluster.b, key, "GET", AISP + "/accounts", access)
    expected = {403: "UK.OBIE.Resource.InvalidConsentStatus", 401: "UK.OBIE.Header.Invalid"}
    assert refused.status_code in expected, refused.text
    ob_error(refused, refused.status_code, expected[refused.status_code])
    # And the consent took its tokens with it: introspection on B says so (RFC 7662 §2.2).
    deadline = time.monotonic() + 5
    while True:
        introspected = httpx.post(
            cluster.b.url("/oauth2/introspect"), data={**tpp.assertion(), "token": access}, timeout=10
        )
        assert introspected.status_code == 200, introspected.text
        if introspected.json() == {"active": False} or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert introspected.json() == {"active": False}
    lookup = tpp.call(cluster.b, key, "GET", f"{AISP}/account-access-consents/{consent_id}", own)
    ob_error(lookup, 400, "UK.OBIE.Resource.NotFound")


def test_zz_both_instances_are_still_up_after_the_module(cluster: Cluster) -> None:
    # Named to run last: nothing above crashed either process, and each still answers on its own port.
    assert (cluster.a.process.pid, cluster.a.port) != (cluster.b.process.pid, cluster.b.port)
    for instance in (cluster.a, cluster.b):
        assert instance.process.poll() is None, instance.output()
        assert httpx.get(instance.url("/livez"), timeout=5).status_code == 200
        assert "Traceback" not in instance.output()
