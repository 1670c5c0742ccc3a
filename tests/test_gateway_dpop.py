"""DpopAuth: protected APIs take Authorization: DPoP <token> plus a DPoP proof (issue 3 item 8).

A gateway of the real steps (Entry -> ErrorBoundary -> Identify -> DpopAuth -> TierPolicy -> RateLimit)
in front of a probe handler, on a real database holding two approved TPP applications with their OAuth
clients (a and b); each refusal is asserted exactly (status, error, WWW-Authenticate challenge, body in
the API family's shape). Review decisions and tier changes go through the real TPP registry, as an
operator's would."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest

from kaimen.authz.clients import Client, ClientRegistry
from kaimen.authz.dpop import DpopVerifier
from kaimen.authz.once import DatabaseOnce, OnceStore, RedisOnce
from kaimen.authz.tokens import TokenService
from kaimen.errors.render import Family
from kaimen.events import EventBus
from kaimen.gateway.apis import Api, ApiTable
from kaimen.gateway.boundary import ErrorBoundary
from kaimen.gateway.clientip import ClientIpResolver
from kaimen.gateway.context import Call
from kaimen.gateway.dpop_auth import DpopAuth
from kaimen.gateway.entry import Entry
from kaimen.gateway.identify import Identify
from kaimen.gateway.policy import TierPolicy
from kaimen.gateway.ratelimit import RateLimit
from kaimen.gateway.ratelimit_counters import Limiter, LocalCounters
from kaimen.settings import ApiPolicy, RedisDownPolicy, Settings
from kaimen.store.db import Database
from kaimen.store.direct import Statement
from kaimen.store.types import utcnow
from kaimen.store.watch import build_watcher
from kaimen.tiers import Tier
from kaimen.tpp.directory import CallerDirectory
from kaimen.tpp.registry import Registry, ReviewStatus
from tests.authz_clients_support import client_metadata
from tests.dpop_support import BASE, ec_key, proof, tokens_seen

OB_PATH = "/open-banking/v3.1/aisp/accounts"
PLAIN_PATH = "/probe/dpop"
ALGS = 'algs="ES256 PS256 EdDSA"'
APIS = [
    Api(
        name="probe.ob",
        path=OB_PATH,
        family=Family.OB,
        media_type="application/json",
        policy=ApiPolicy(tier=Tier.ACQUAINTANCE, auth="dpop", scopes=["accounts"]),
    ),
    Api(
        name="probe.plain",
        path=PLAIN_PATH,
        family=Family.PLAIN,
        media_type="application/json",
        policy=ApiPolicy(tier=Tier.PARTNER, auth="dpop", scopes=["accounts"], default_app_rate="3/minute"),
    ),
]


async def probe(scope: dict[str, Any], receive: Any, send: Any) -> None:
    call: Call = scope["kaimen"]
    token = call.token
    body = orjson.dumps(
        {
            "customer": token.customer_id,
            "client": token.client_id,
            "consent": token.consent_id,
            "application": call.caller.application_id if call.caller else None,
        }
    )
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]}
    )
    await send({"type": "http.response.body", "body": body})


@dataclass
class Stack:
    http: httpx.AsyncClient
    tokens: TokenService
    registry: Registry
    tpps: dict[str, Client]  # "a" and "b": approved PARTNER applications' clients
    db: Database
    watcher: Any

    async def token(self, scope: str = "openid accounts", tpp: str = "a", key: Any = None) -> str:
        issued = await self.tokens.issue(
            client_id=self.tpps[tpp].client_id,
            customer_id="cust-1",
            scope=scope,
            jkt=(key or ec_key()).thumbprint(),
            grant_id="grant-1",
            consent_id="aac-1",
            details={},
            refresh=False,
        )
        return issued.access_token

    async def get(
        self, path: str, token: str | None, *, scheme: str = "DPoP", **proof_kw: Any
    ) -> httpx.Response:
        headers: dict[str, str] = {}
        if token is not None:
            headers["authorization"] = f"{scheme} {token}"
        if proof_kw.get("omit_proof") is None:
            proof_kw.setdefault("url", BASE + path)
            headers["dpop"] = proof(token=token, **proof_kw)
        return await self.http.get(path, headers=headers)


async def approved_tpp(registry: Registry, clients: ClientRegistry, name: str) -> Client:
    """An approved PARTNER application of ``name`` and its OAuth client, made as the operator would."""
    app = await registry.register(
        organisation=f"TPP {name} Ltd",
        application=f"TPP {name}",
        tier=Tier.PARTNER,
        status=ReviewStatus.APPROVED,
    )
    return await clients.create_for_application(app.id, client_metadata())


@asynccontextmanager
async def gateway(
    settings: Settings,
    tpps: dict[str, Client] | None = None,
    once: Callable[[Database], OnceStore] = DatabaseOnce,
) -> AsyncIterator[Stack]:
    """The gateway of one worker; ``tpps``: those another worker on the same database already made;
    ``once``: where the proofs' jti are kept (the database, as without Redis, by default)."""
    db = Database(settings.sqlalchemy_url)
    watcher = build_watcher(settings, db)
    await watcher.start()
    tokens = TokenService(db, watcher, settings)
    dpop = DpopVerifier(once(db), settings, nonce_key=b"k" * 32)
    registry = Registry(db)
    clients = ClientRegistry(db, settings, watcher=watcher)
    if tpps is None:
        tpps = {name: await approved_tpp(registry, clients, name) for name in ("a", "b")}
    app: Any = RateLimit(
        probe, limiter=Limiter(LocalCounters()), on_store_down=RedisDownPolicy.REFUSE, events=EventBus()
    )
    app = TierPolicy(app)
    app = DpopAuth(app, tokens=tokens, dpop=dpop, clients=clients)
    app = Identify(app, directory=CallerDirectory(db, watcher))
    app = ErrorBoundary(app)
    app = Entry(app, apis=ApiTable(APIS), client_ip=ClientIpResolver([]), events=EventBus())
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 51234))
    try:
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
            yield Stack(http, tokens, registry, tpps, db, watcher)
    finally:
        await watcher.stop()
        await db.dispose()


@pytest.fixture
async def stack(make_settings: Callable[..., Settings], database_url: str) -> AsyncIterator[Stack]:
    async with gateway(make_settings(database_url=database_url)) as built:
        yield built


def challenge(error: str, description: str) -> str:
    return f'DPoP error="{error}", error_description="{description}", {ALGS}'


def assert_oauth_refusal(response: httpx.Response, status: int, error: str, description: str) -> None:
    """RFC 6750 §3 / RFC 9449 §7.1: status, JSON error, and the DPoP challenge."""
    assert response.status_code == status
    assert response.json() == {"error": error, "error_description": description}
    assert response.headers["www-authenticate"] == challenge(error, description)
    assert response.headers["cache-control"] == "no-store"


async def test_a_bound_token_with_a_good_proof_reaches_the_handler(stack: Stack) -> None:
    response = await stack.get(PLAIN_PATH, await stack.token())
    assert response.status_code == 200
    assert response.json() == {
        "customer": "cust-1",
        "client": stack.tpps["a"].client_id,
        "consent": "aac-1",
        "application": stack.tpps["a"].application_id,
    }


async def test_no_token_gets_the_challenge_without_an_error_code(stack: Stack) -> None:
    response = await stack.http.get(PLAIN_PATH)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == f"DPoP {ALGS}"
    assert response.json()["error"] == "invalid_token"


async def test_dpop_token_sent_as_bearer(stack: Stack) -> None:
    response = await stack.get(PLAIN_PATH, await stack.token(), scheme="Bearer")
    assert_oauth_refusal(response, 401, "invalid_token", "DPoP-bound access tokens must use the DPoP scheme")


async def test_unknown_token(stack: Stack) -> None:
    response = await stack.get(PLAIN_PATH, "made-up-token")
    assert_oauth_refusal(response, 401, "invalid_token", "the access token is invalid, expired or revoked")


async def test_missing_proof(stack: Stack) -> None:
    response = await stack.get(PLAIN_PATH, await stack.token(), omit_proof=True)
    assert_oauth_refusal(response, 401, "invalid_dpop_proof", "a DPoP proof is required")


async def test_two_dpop_headers(stack: Stack) -> None:
    token = await stack.token()
    headers = [("authorization", f"DPoP {token}")]
    headers += [("dpop", proof(url=BASE + PLAIN_PATH, token=token)) for _ in range(2)]
    response = await stack.http.get(PLAIN_PATH, headers=headers)
    assert_oauth_refusal(response, 401, "invalid_dpop_proof", "more than one DPoP header")


async def test_wrong_ath(stack: Stack) -> None:
    token = await stack.token()
    response = await stack.http.get(
        PLAIN_PATH,
        headers={"authorization": f"DPoP {token}", "dpop": proof(url=BASE + PLAIN_PATH, token="other")},
    )
    assert_oauth_refusal(response, 401, "invalid_dpop_proof", "ath does not match the access token")


async def test_missing_ath_with_a_token(stack: Stack) -> None:
    token = await stack.token()
    response = await stack.http.get(
        PLAIN_PATH, headers={"authorization": f"DPoP {token}", "dpop": proof(url=BASE + PLAIN_PATH)}
    )
    assert_oauth_refusal(response, 401, "invalid_dpop_proof", "ath is required with an access token")


async def test_wrong_htm(stack: Stack) -> None:
    response = await stack.get(PLAIN_PATH, await stack.token(), method="POST")
    assert_oauth_refusal(response, 401, "invalid_dpop_proof", "htm does not match the request method")


async def test_wrong_htu(stack: Stack) -> None:
    response = await stack.get(PLAIN_PATH, await stack.token(), url=BASE + OB_PATH)
    assert_oauth_refusal(response, 401, "invalid_dpop_proof", "htu does not match the request URL")


async def test_host_header_trick(stack: Stack) -> None:
    # The attacker's proof names evil.example and the request says Host: evil.example; the URL the
    # proof is compared with comes from the configured public base URL, so it is refused.
    token = await stack.token()
    response = await stack.http.get(
        PLAIN_PATH,
        headers={
            "host": "evil.example",
            "authorization": f"DPoP {token}",
            "dpop": proof(url="http://evil.example" + PLAIN_PATH, token=token),
        },
    )
    assert_oauth_refusal(response, 401, "invalid_dpop_proof", "htu does not match the request URL")


async def test_replayed_proof(stack: Stack) -> None:
    token = await stack.token()
    headers = {"authorization": f"DPoP {token}", "dpop": proof(url=BASE + PLAIN_PATH, token=token)}
    assert (await stack.http.get(PLAIN_PATH, headers=headers)).status_code == 200
    response = await stack.http.get(PLAIN_PATH, headers=headers)
    assert_oauth_refusal(response, 401, "invalid_dpop_proof", "the DPoP proof was already used")


async def test_key_other_than_the_bound_one(stack: Stack) -> None:
    response = await stack.get(PLAIN_PATH, await stack.token(), key=ec_key("attacker"))
    assert_oauth_refusal(response, 401, "invalid_token", "invalid DPoP key binding")


async def test_insufficient_scope(stack: Stack) -> None:
    response = await stack.get(PLAIN_PATH, await stack.token(scope="openid payments"))
    assert response.status_code == 403
    assert response.json() == {
        "error": "insufficient_scope",
        "error_description": "the access token lacks a required scope",
    }
    assert response.headers["www-authenticate"] == (
        challenge("insufficient_scope", "the access token lacks a required scope") + ', scope="accounts"'
    )


@pytest.mark.parametrize("status", [ReviewStatus.SUSPENDED, ReviewStatus.REVOKED])
async def test_client_no_longer_approved(stack: Stack, status: ReviewStatus) -> None:
    # Suspensions take effect at once: the next call is refused, though the client was just served and
    # cached. (Before another worker has heard of it: tests/test_client_standing_window.py.)
    token = await stack.token()
    assert (await stack.get(PLAIN_PATH, token)).status_code == 200
    await stack.registry.set_status(stack.tpps["a"].application_id, status)
    response = await stack.get(PLAIN_PATH, token)
    assert_oauth_refusal(response, 401, "invalid_token", "the client is not approved")


async def test_client_tier_too_open_for_the_api(stack: Stack) -> None:
    # A PARTNER API; the application, just served at PARTNER, is moved to the more open ACQUAINTANCE.
    token = await stack.token()
    assert (await stack.get(PLAIN_PATH, token)).status_code == 200
    await stack.registry.set_tier(stack.tpps["a"].application_id, Tier.ACQUAINTANCE)
    response = await stack.get(PLAIN_PATH, token)
    assert response.status_code == 403
    assert response.json()["title"] == "Forbidden"


async def test_dpop_callers_are_rate_limited_per_client(stack: Stack) -> None:
    token = await stack.token()
    statuses = [(await stack.get(PLAIN_PATH, token)).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    # Another client has its own count.
    assert (await stack.get(PLAIN_PATH, await stack.token(tpp="b"))).status_code == 200


async def test_an_api_key_does_not_open_a_dpop_api(stack: Stack) -> None:
    response = await stack.http.get(PLAIN_PATH, headers={"x-api-key": "kmn_live_whatever"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == f"DPoP {ALGS}"


async def test_ob_apis_answer_obErrorResponse1_with_the_challenge(stack: Stack) -> None:
    response = await stack.get(OB_PATH, await stack.token(), scheme="Bearer")
    assert response.status_code == 401
    description = "DPoP-bound access tokens must use the DPoP scheme"
    assert response.headers["www-authenticate"] == challenge("invalid_token", description)
    body = response.json()
    assert body["Code"] == "401 Unauthorized"
    assert body["Errors"] == [{"ErrorCode": "UK.OBIE.Header.Invalid", "Message": description}]
    assert body["Id"] == response.headers["x-fapi-interaction-id"]


async def test_ob_api_insufficient_scope(stack: Stack) -> None:
    response = await stack.get(OB_PATH, await stack.token(scope="openid payments"))
    assert response.status_code == 403
    assert response.json()["Errors"][0]["ErrorCode"] == "UK.OBIE.Resource.ConsentMismatch"
    assert response.headers["www-authenticate"].startswith('DPoP error="insufficient_scope"')


async def test_ob_api_happy_path(stack: Stack) -> None:
    response = await stack.get(OB_PATH, await stack.token())
    assert response.status_code == 200
    assert response.json()["consent"] == "aac-1"


async def test_revoked_token_refused_at_once_by_another_instance(
    make_settings: Callable[..., Settings], database_url: str
) -> None:
    settings = make_settings(database_url=database_url)
    async with gateway(settings) as first, gateway(settings, first.tpps) as second:
        token = await first.token()
        assert (await second.get(PLAIN_PATH, token)).status_code == 200  # cached by the second
        await first.tokens.revoke(token, first.tpps["a"].client_id)
        await tokens_seen(second.db, second.watcher)
        response = await second.get(PLAIN_PATH, token)
        assert_oauth_refusal(
            response, 401, "invalid_token", "the access token is invalid, expired or revoked"
        )


class StatementCounter:
    """Counts the direct statements a database sends (kaimen.store.direct), one per round trip."""

    def __init__(self, db: Database) -> None:
        self.sent: list[str] = []
        direct = db.direct
        rows, run = direct.rows, direct.run

        async def counted_rows(sql: str, params: Any) -> Any:
            self.sent.append(sql)
            return await rows(sql, params)

        async def counted_run(statements: Any) -> Any:
            self.sent.append("; ".join(statement.sql for statement in statements))
            return await run(statements)

        direct.rows, direct.run = counted_rows, counted_run  # type: ignore[method-assign]


async def test_a_held_token_costs_one_round_trip_with_its_proof_on_postgres(stack: Stack) -> None:
    """PostgreSQL without Redis: for a token this worker holds, the proof's jti is used up and the
    token's liveness and client standing read in one statement; a revocation no NOTIFY has announced
    yet, or a replayed proof, is still refused on that path."""
    token = await stack.token()
    assert (await stack.get(PLAIN_PATH, token)).status_code == 200  # now held by this worker
    counter = StatementCounter(stack.db)
    assert (await stack.get(PLAIN_PATH, token)).status_code == 200
    if stack.db.is_sqlite:  # exact caches, jti in memory in embedded mode; DatabaseOnce here
        assert len(counter.sent) == 1 and counter.sent[0].startswith("INSERT INTO used_once")
        return
    assert len(counter.sent) == 1
    assert counter.sent[0].startswith("WITH claimed AS (INSERT INTO used_once")
    assert "FROM tokens" in counter.sent[0]

    headers = {"authorization": f"DPoP {token}", "dpop": proof(url=BASE + PLAIN_PATH, token=token)}
    assert (await stack.http.get(PLAIN_PATH, headers=headers)).status_code == 200
    replayed = await stack.http.get(PLAIN_PATH, headers=headers)
    assert_oauth_refusal(replayed, 401, "invalid_dpop_proof", "the DPoP proof was already used")

    # Revoked behind this worker's back (as another worker would, its NOTIFY still on the way).
    await stack.db.direct.run(
        [Statement("UPDATE tokens SET revoked_at = :now WHERE revoked_at IS NULL", {"now": utcnow()})]
    )
    assert stack.tokens.live_read(token) is not None  # still held
    # Whatever the proof, the dead token is what is refused, as a worker that does not hold it says.
    for response in (
        await stack.get(PLAIN_PATH, token),  # a good proof
        await stack.get(PLAIN_PATH, token, omit_proof=True),
        await stack.get(PLAIN_PATH, token, method="POST"),  # a proof for another method
        await stack.http.get(PLAIN_PATH, headers=headers),  # a proof used before
    ):
        assert_oauth_refusal(
            response, 401, "invalid_token", "the access token is invalid, expired or revoked"
        )


async def test_with_redis_a_held_tokens_read_and_its_proofs_claim_go_at_once(
    make_settings: Callable[..., Settings], database_url: str, redis_url: str
) -> None:
    """PostgreSQL with Redis (production): the proof's jti is claimed in Redis while the held token's
    liveness is read, not after it; the refusals are those of the other order."""
    redis_once = RedisOnce(redis_url)
    try:
        async with gateway(make_settings(database_url=database_url), once=lambda _: redis_once) as stack:
            token = await stack.token()
            assert (await stack.get(PLAIN_PATH, token)).status_code == 200  # now held by this worker
            order: list[str] = []
            use, rows = redis_once.use, stack.db.direct.rows

            async def traced_use(*args: Any) -> bool:
                order.append("claim starts")
                used = await use(*args)
                order.append("claim ends")
                return used

            async def traced_rows(sql: str, params: Any) -> Any:
                order.append("read starts")
                found = await rows(sql, params)
                order.append("read ends")
                return found

            redis_once.use = traced_use  # type: ignore[method-assign]
            stack.db.direct.rows = traced_rows  # type: ignore[method-assign]
            assert (await stack.get(PLAIN_PATH, token)).status_code == 200
            if stack.db.is_sqlite:  # SQLite's token cache is exact: no read at all
                assert order == ["claim starts", "claim ends"], order
            else:
                assert sorted(order[:2]) == ["claim starts", "read starts"], order

            headers = {"authorization": f"DPoP {token}", "dpop": proof(url=BASE + PLAIN_PATH, token=token)}
            assert (await stack.http.get(PLAIN_PATH, headers=headers)).status_code == 200
            replayed = await stack.http.get(PLAIN_PATH, headers=headers)
            assert_oauth_refusal(replayed, 401, "invalid_dpop_proof", "the DPoP proof was already used")

            if stack.db.is_sqlite:
                return  # every revocation moves SQLite's generation: no worker holds a revoked token
            # Revoked behind this worker's back, as another worker would, its NOTIFY still on the way.
            await stack.db.direct.run(
                [Statement("UPDATE tokens SET revoked_at = :now WHERE revoked_at IS NULL", {"now": utcnow()})]
            )
            for response in (
                await stack.get(PLAIN_PATH, token),
                await stack.get(PLAIN_PATH, token, omit_proof=True),
                await stack.http.get(PLAIN_PATH, headers=headers),
            ):
                assert_oauth_refusal(
                    response, 401, "invalid_token", "the access token is invalid, expired or revoked"
                )
    finally:
        await redis_once.close()


async def test_nonce_required_at_a_resource(
    make_settings: Callable[..., Settings], database_url: str
) -> None:
    settings = make_settings(database_url=database_url, oauth={"dpop_nonce_required": True})
    async with gateway(settings) as stack:
        token = await stack.token()
        first = await stack.get(PLAIN_PATH, token)
        # RFC 9449 §9: 401 with use_dpop_nonce in the challenge and a fresh DPoP-Nonce.
        assert first.status_code == 401
        assert first.headers["www-authenticate"] == challenge(
            "use_dpop_nonce", "a fresh DPoP nonce is required"
        )
        nonce = first.headers["dpop-nonce"]
        second = await stack.get(PLAIN_PATH, token, nonce=nonce)
        assert second.status_code == 200
        assert second.headers["dpop-nonce"]
