"""The client registry (issue 3, item 2) on SQLite and PostgreSQL, and the jwks_uri fetch (MockTransport,
never the network): deadline, cache, refetch floor, refusals."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest

from kaimen.authz.client_auth import ClientAuthenticator
from kaimen.authz.clients import ClientError, ClientRegistry
from kaimen.authz.clients_jwks import MIN_REFETCH_SECONDS, JwksFetcher, JwksUnavailable
from kaimen.authz.errors import InvalidClient
from kaimen.authz.once import DatabaseOnce
from kaimen.settings import Settings
from kaimen.store.db import Database
from kaimen.store.watch import build_watcher
from kaimen.tiers import Tier
from kaimen.tpp.registry import Registry, ReviewStatus
from tests.authz_clients_support import (
    REDIRECT_URI,
    approved_client,
    claims_for,
    client_metadata,
    ec_key,
    form_for,
    public_jwks,
    rsa_key,
    sign,
)
from tests.tpp_support import seen_by

JWKS_URI = "https://tpp.example/jwks.json"


@pytest.fixture
def settings(make_settings: Callable[..., Settings], database_url: str) -> Settings:
    return make_settings(database_url=database_url)


async def test_a_client_is_created_for_an_application(db: Database, settings: Settings) -> None:
    tpp = await approved_client(db, settings, client_name="Acme Budget App")
    client = tpp.client
    assert client.client_id.startswith("client_") and len(client.client_id) == 39
    assert (client.status, client.tier, client.name) == ("approved", "ACQUAINTANCE", "Acme Budget App")
    assert client.redirect_uris == (REDIRECT_URI,) and client.approved
    assert client.metadata["token_endpoint_auth_method"] == "private_key_jwt"
    assert await tpp.clients.get(client.client_id) == client
    assert await tpp.clients.for_application(client.application_id) == client


async def test_unknown_client_is_none(db: Database, settings: Settings) -> None:
    assert await ClientRegistry(db, settings).get("client_" + "0" * 32) is None


async def test_one_client_per_application(db: Database, settings: Settings) -> None:
    tpp = await approved_client(db, settings)
    with pytest.raises(ClientError, match="already has an OAuth client"):
        await tpp.clients.create_for_application(tpp.client.application_id, client_metadata())


async def test_a_client_needs_an_existing_application(db: Database, settings: Settings) -> None:
    with pytest.raises(ClientError, match="no application with id 'app_missing'"):
        await ClientRegistry(db, settings).create_for_application("app_missing", client_metadata())


async def test_redirect_uris_match_exactly(db: Database, settings: Settings) -> None:
    client = (await approved_client(db, settings)).client
    assert client.has_redirect_uri(REDIRECT_URI)
    for near_miss in (
        REDIRECT_URI + "/",
        REDIRECT_URI.upper(),
        REDIRECT_URI + "?x=1",
        "https://tpp.example/Callback",
    ):
        assert not client.has_redirect_uri(near_miss)


async def test_the_applications_review_status_governs_at_once_with_the_cache(
    db: Database, settings: Settings
) -> None:
    watcher = build_watcher(settings, db)
    await watcher.start()
    try:
        clients = ClientRegistry(db, settings, watcher=watcher)
        tpp = await approved_client(db, settings, clients)
        client_id = tpp.client.client_id
        assert (await clients.get(client_id)).status == "approved"  # type: ignore[union-attr]
        assert client_id in clients._cache  # cached
        await seen_by(db, watcher, tpp.registry.set_status(tpp.client.application_id, ReviewStatus.SUSPENDED))
        assert (await clients.get(client_id)).status == "suspended"  # type: ignore[union-attr]
        auth = ClientAuthenticator(clients, DatabaseOnce(db), settings)
        with pytest.raises(InvalidClient, match="not approved"):
            await auth.authenticate(form_for(sign(claims_for(client_id, settings.public_base_url))))
    finally:
        await watcher.stop()


# jwks_uri: fetched with a deadline, cached, refetched for an unknown kid no more than every 10 s.


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def serving(body: object, status: int = 200, calls: list[str] | None = None) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        if calls is not None:
            calls.append(str(request.url))
        return httpx.Response(status, json=body)

    return httpx.MockTransport(handler)


def fetcher(settings: Settings, transport: httpx.MockTransport, clock: Clock | None = None) -> JwksFetcher:
    return JwksFetcher(settings, httpx.AsyncClient(transport=transport), clock or Clock())


async def test_jwks_uri_is_fetched_and_cached(settings: Settings) -> None:
    calls: list[str] = []
    clock = Clock()
    jwks = fetcher(settings, serving(public_jwks(rsa_key()), calls=calls), clock)
    first = await jwks.get(JWKS_URI)
    assert [key.kid for key in first] == ["rsa-1"]
    assert await jwks.get(JWKS_URI) is first
    clock.now += settings.oauth.jwks_uri_cache_seconds - 1
    await jwks.get(JWKS_URI)
    assert calls == [JWKS_URI]
    clock.now += 1  # the cache lifetime is over
    await jwks.get(JWKS_URI)
    assert calls == [JWKS_URI, JWKS_URI]


async def test_concurrent_requests_share_one_fetch(settings: Settings) -> None:
    calls: list[str] = []
    jwks = fetcher(settings, serving(public_jwks(rsa_key()), calls=calls))
    await asyncio.gather(*(jwks.get(JWKS_URI) for _ in range(5)))
    assert calls == [JWKS_URI]


async def test_refetch_for_an_unknown_kid_has_a_floor(settings: Settings) -> None:
    calls: list[str] = []
    clock = Clock()
    jwks = fetcher(settings, serving(public_jwks(rsa_key()), calls=calls), clock)
    await jwks.get(JWKS_URI)
    await jwks.get(JWKS_URI, refetch=True)
    assert len(calls) == 1  # too soon
    clock.now += MIN_REFETCH_SECONDS
    await jwks.get(JWKS_URI, refetch=True)
    assert len(calls) == 2


async def test_a_slow_jwks_uri_times_out(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(oauth={"jwks_uri_timeout_seconds": 0.05})

    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(1)
        return httpx.Response(200, json=public_jwks(rsa_key()))

    jwks = JwksFetcher(settings, httpx.AsyncClient(transport=httpx.MockTransport(slow)))
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(JwksUnavailable, match="TimeoutError"):
        await jwks.get(JWKS_URI)
    assert loop.time() - started < 0.5


@pytest.mark.parametrize(
    "body,status,reason",
    [
        (public_jwks(rsa_key()), 404, "HTTPStatusError"),
        ({"keys": [rsa_key().as_dict(private=True)]}, 200, "InvalidClientMetadata"),
        ({"not": "a jwks"}, 200, "InvalidClientMetadata"),
        ({"keys": [{"kty": "oct", "k": "AAAA"}]}, 200, "InvalidClientMetadata"),
    ],
)
async def test_a_bad_jwks_uri_answer_is_unavailable(
    settings: Settings, body: object, status: int, reason: str
) -> None:
    with pytest.raises(JwksUnavailable, match=reason):
        await fetcher(settings, serving(body, status)).get(JWKS_URI)


async def test_an_oversized_jwks_is_unavailable(settings: Settings) -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=b" " * (70 << 10)))
    with pytest.raises(JwksUnavailable, match="HTTPError"):
        await fetcher(settings, transport).get(JWKS_URI)


async def test_redirects_are_not_followed(settings: Settings) -> None:
    transport = httpx.MockTransport(
        lambda request: httpx.Response(302, headers={"location": "http://169.254.169.254/"})
    )
    with pytest.raises(JwksUnavailable, match="HTTPStatusError"):
        await fetcher(settings, transport).get(JWKS_URI)


async def test_a_jwks_uri_client_authenticates_and_rotated_keys_are_picked_up(
    db: Database, settings: Settings
) -> None:
    served = {"jwks": public_jwks(rsa_key())}
    clock = Clock()
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=served["jwks"]))
    clients = ClientRegistry(db, settings, httpx.AsyncClient(transport=transport))
    clients.jwks_fetcher._clock = clock
    registry = Registry(db)
    app = await registry.register(
        organisation="Acme", application="A", tier=Tier.ACQUAINTANCE, status=ReviewStatus.APPROVED
    )
    metadata = client_metadata(jwks=None, jwks_uri=JWKS_URI)
    client = await clients.create_for_application(app.id, metadata)
    auth = ClientAuthenticator(clients, DatabaseOnce(db), settings)
    claims = claims_for(client.client_id, settings.public_base_url)
    assert (await auth.authenticate(form_for(sign(claims)))).client_id == client.client_id

    served["jwks"] = public_jwks(rsa_key(), ec_key())  # the client adds an EC key
    es256 = claims_for(client.client_id, settings.public_base_url)
    with pytest.raises(InvalidClient, match="no registered key"):
        await auth.authenticate(form_for(sign(es256, alg="ES256")))  # cached set, refetch floor not reached
    clock.now += MIN_REFETCH_SECONDS
    es256 = claims_for(client.client_id, settings.public_base_url)
    assert (await auth.authenticate(form_for(sign(es256, alg="ES256")))).client_id == client.client_id


async def test_an_unreachable_jwks_uri_refuses_the_client(db: Database, settings: Settings) -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(503))
    clients = ClientRegistry(db, settings, httpx.AsyncClient(transport=transport))
    tpp = await approved_client(db, settings, clients, jwks=None, jwks_uri=JWKS_URI)
    auth = ClientAuthenticator(clients, DatabaseOnce(db), settings)
    with pytest.raises(InvalidClient) as caught:
        await auth.authenticate(form_for(sign(claims_for(tpp.client.client_id, settings.public_base_url))))
    assert caught.value.description == "the client's jwks_uri could not be fetched"
