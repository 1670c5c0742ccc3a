"""Dynamic client registration (RFC 7591) and its management (RFC 7592), issue 3 item 2, on SQLite and
PostgreSQL: the happy path, each invalid_* error, and the registration access token (required, shown
once, stored as a digest)."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest
from joserfc.jwk import RSAKey
from sqlalchemy import select
from starlette.applications import Starlette

from kaimen.authz.client_auth import ClientAuthenticator
from kaimen.authz.clients import ClientRegistry
from kaimen.authz.directory import DirectoryKey
from kaimen.authz.once import DatabaseOnce
from kaimen.authz.register import Registrar, registration_routes
from kaimen.events import CLIENT_DELETED, CLIENT_REGISTERED, EventBus
from kaimen.settings import Settings
from kaimen.store.authz_models import OAuthClient
from kaimen.store.db import Database
from kaimen.tpp.registry import Registry, ReviewStatus
from tests.authz_clients_support import claims_for, form_for, public_jwks, rsa_key, sign

ISSUER = "http://localhost:8000"
TPP_REDIRECT = "https://tpp.example/cb"


@dataclass
class Dcr:
    http: httpx.AsyncClient
    directory: DirectoryKey
    registry: Registry
    clients: ClientRegistry
    db: Database
    settings: Settings
    events: list[tuple[str, Any]]

    def statement(self, **claims: Any) -> str:
        base = {
            "software_id": "budget-app",
            "org_id": "0015800001041RHAAY",
            "org_name": "Acme Ltd",
            "software_client_name": "Acme Budget",
            "tier": "MEMBER",
            "redirect_uris": [TPP_REDIRECT],
            "jwks": public_jwks(rsa_key()),
        }
        return self.directory.sign_software_statement(
            {k: v for k, v in {**base, **claims}.items() if v is not None}
        )

    async def register(self, body: dict[str, Any] | None = None, **claims: Any) -> httpx.Response:
        if body is None:
            body = {"software_statement": self.statement(**claims)}
        return await self.http.post("/oauth2/register", json=body)

    async def registered(self, **claims: Any) -> dict[str, Any]:
        response = await self.register(**claims)
        assert response.status_code == 201, response.text
        answer: dict[str, Any] = response.json()
        return answer


def make_dcr(db: Database, settings: Settings) -> tuple[Starlette, Dcr]:
    events = EventBus()
    seen: list[tuple[str, Any]] = []
    for name in (CLIENT_REGISTERED, CLIENT_DELETED):
        events.subscribe(name, lambda n, p: seen.append((n, p)))
    clients = ClientRegistry(db, settings)
    directory = DirectoryKey.for_settings(settings)
    registry = Registry(db)
    app = Starlette(routes=registration_routes(Registrar(clients, registry, directory, settings, events)))
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=ISSUER)
    return app, Dcr(http, directory, registry, clients, db, settings, seen)


@pytest.fixture
async def dcr(db: Database, make_settings: Callable[..., Settings], database_url: str) -> AsyncIterator[Dcr]:
    _, env = make_dcr(db, make_settings(database_url=database_url))
    async with env.http:
        yield env


def assert_error(response: httpx.Response, status: int, error: str, description: str) -> None:
    assert response.status_code == status
    assert response.json() == {"error": error, "error_description": description}
    assert response.headers["cache-control"] == "no-store"


# --- registration (RFC 7591 §3) ---


async def test_registration_creates_a_pending_client_at_the_statements_tier(dcr: Dcr) -> None:
    response = await dcr.register(
        {
            "software_statement": dcr.statement(),
            "redirect_uris": ["https://attacker.example/cb"],  # the statement's claims take precedence
            "client_name": "Requested name",
            "id_token_signed_response_alg": "ES256",
            "grant_types": ["authorization_code", "client_credentials"],
        }
    )
    assert response.status_code == 201
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    client_id = body["client_id"]
    assert body["registration_client_uri"] == f"{ISSUER}/oauth2/register/{client_id}"
    assert body["redirect_uris"] == [TPP_REDIRECT]
    assert body["client_name"] == "Acme Budget"  # the statement's software_client_name wins
    assert body["id_token_signed_response_alg"] == "ES256"
    assert body["token_endpoint_auth_method"] == "private_key_jwt"
    assert body["grant_types"] == ["authorization_code", "client_credentials"]
    assert body["software_id"] == "budget-app"
    assert body["jws_iss"] == "0015800001041RHAAY/budget-app"
    assert abs(body["client_id_issued_at"] - time.time()) < 5
    assert "client_secret" not in body

    client = await dcr.clients.get(client_id)
    assert client is not None
    assert (client.status, client.tier) == ("pending", "MEMBER")
    app = await dcr.registry.get(client.application_id)
    assert (app.organisation_name, app.name, app.status) == ("Acme Ltd", "Acme Budget", ReviewStatus.PENDING)
    assert dcr.events == [(CLIENT_REGISTERED, {"client_id": client_id, "application_id": app.id})]


async def stored_row(dcr: Dcr, client_id: str) -> OAuthClient:
    async with dcr.db.read() as session:
        return (
            await session.execute(select(OAuthClient).where(OAuthClient.client_id == client_id))
        ).scalar_one()


async def test_the_registration_access_token_is_stored_only_as_a_digest(dcr: Dcr) -> None:
    body = await dcr.registered()
    token = body["registration_access_token"]
    assert len(token) >= 43  # 256 bits, base64url
    row = await stored_row(dcr, body["client_id"])
    assert row.registration_token_digest == hashlib.sha256(token.encode()).hexdigest()
    assert token not in orjson.dumps(row.client_metadata).decode()


async def test_a_read_rotates_the_registration_access_token(dcr: Dcr) -> None:
    # RFC 7592 §3: registration_access_token and registration_client_uri are REQUIRED in the client
    # information response; Kaimen keeps only a digest, so it issues a fresh token (RFC 7592 §5: it "MAY
    # be rotated when the developer or client does a read or update operation").
    body = await dcr.registered()
    old = body["registration_access_token"]
    read = await dcr.http.get(body["registration_client_uri"], headers={"authorization": f"Bearer {old}"})
    assert read.status_code == 200
    fresh = read.json()["registration_access_token"]
    assert len(fresh) >= 43 and fresh != old
    assert read.json()["registration_client_uri"] == body["registration_client_uri"]
    row = await stored_row(dcr, body["client_id"])
    assert row.registration_token_digest == hashlib.sha256(fresh.encode()).hexdigest()
    # The old token stopped working the moment the fresh one was issued; the fresh one works.
    assert_invalid_token(
        await dcr.http.get(body["registration_client_uri"], headers={"authorization": f"Bearer {old}"})
    )
    again = await dcr.http.get(body["registration_client_uri"], headers={"authorization": f"Bearer {fresh}"})
    assert again.status_code == 200 and again.json()["registration_access_token"] not in (old, fresh)


async def test_a_read_does_not_touch_the_clients_updated_at(dcr: Dcr) -> None:
    body = await dcr.registered()
    before = (await stored_row(dcr, body["client_id"])).updated_at
    headers = {"authorization": f"Bearer {body['registration_access_token']}"}
    assert (await dcr.http.get(body["registration_client_uri"], headers=headers)).status_code == 200
    assert (await stored_row(dcr, body["client_id"])).updated_at == before


async def test_two_reads_with_the_same_token_exactly_one_wins(dcr: Dcr) -> None:
    body = await dcr.registered()
    headers = {"authorization": f"Bearer {body['registration_access_token']}"}
    uri = body["registration_client_uri"]
    responses = await asyncio.gather(*(dcr.http.get(uri, headers=headers) for _ in range(2)))
    assert sorted(r.status_code for r in responses) == [200, 401]
    winner = next(r for r in responses if r.status_code == 200)
    assert_invalid_token(next(r for r in responses if r.status_code == 401))
    row = await stored_row(dcr, body["client_id"])
    fresh = winner.json()["registration_access_token"]
    assert row.registration_token_digest == hashlib.sha256(fresh.encode()).hexdigest()


async def test_statement_defaults_to_acquaintance_and_auto_approve_lets_the_client_authenticate(
    db: Database, make_settings: Callable[..., Settings], database_url: str
) -> None:
    settings = make_settings(database_url=database_url, oauth={"dcr_auto_approve": True})
    _, dcr = make_dcr(db, settings)
    async with dcr.http:
        body = await dcr.registered(tier=None)
    client = await dcr.clients.get(body["client_id"])
    assert client is not None and (client.status, client.tier) == ("approved", "ACQUAINTANCE")
    auth = ClientAuthenticator(dcr.clients, DatabaseOnce(db), settings)
    assertion = sign(claims_for(client.client_id, ISSUER))
    assert (await auth.authenticate(form_for(assertion))).client_id == client.client_id


async def test_a_pending_registered_client_cannot_authenticate(dcr: Dcr) -> None:
    body = await dcr.registered()
    auth = ClientAuthenticator(dcr.clients, DatabaseOnce(dcr.db), dcr.settings)
    from kaimen.authz.errors import InvalidClient

    with pytest.raises(InvalidClient, match="not approved"):
        await auth.authenticate(form_for(sign(claims_for(body["client_id"], ISSUER))))


# --- invalid_software_statement / unapproved_software_statement (RFC 7591 §3.2.2) ---


def _foreign_statement(**claims: Any) -> str:
    foreign = RSAKey.generate_key(2048, parameters={"kid": "foreign"}, private=True)
    body = {
        "iss": "kaimen-sandbox-directory",
        "iat": int(time.time()),
        "software_id": "x",
        "org_name": "X",
        **claims,
    }
    return sign(body, foreign)


@pytest.mark.parametrize(
    "statement,description",
    [
        (None, "a software_statement signed by the directory is required"),
        ("not-a-jws", "software_statement is not a compact JWS"),
    ],
)
async def test_missing_or_malformed_statement(dcr: Dcr, statement: str | None, description: str) -> None:
    body = {"redirect_uris": [TPP_REDIRECT], "jwks": public_jwks(rsa_key())}
    if statement is not None:
        body["software_statement"] = statement
    assert_error(await dcr.register(body), 400, "invalid_software_statement", description)


async def test_statement_signed_by_another_key(dcr: Dcr) -> None:
    response = await dcr.register({"software_statement": _foreign_statement()})
    assert_error(
        response, 400, "invalid_software_statement", "software_statement is not signed by a directory key"
    )


async def test_statement_with_a_forged_signature_under_the_directorys_kid(dcr: Dcr) -> None:
    assert dcr.directory._private is not None and dcr.directory._private.kid is not None
    forger = RSAKey.generate_key(2048, parameters={"kid": dcr.directory._private.kid}, private=True)
    body = {"iss": dcr.directory.issuer, "iat": int(time.time()), "software_id": "x", "org_name": "X"}
    response = await dcr.register({"software_statement": sign(body, forger)})
    assert_error(response, 400, "invalid_software_statement", "software_statement signature is invalid")


async def test_statement_signed_with_rs256(dcr: Dcr) -> None:
    key = dcr.directory._private
    assert key is not None
    body = {"iss": dcr.directory.issuer, "iat": int(time.time()), "software_id": "x", "org_name": "X"}
    response = await dcr.register({"software_statement": sign(body, key, alg="RS256")})
    assert_error(
        response, 400, "invalid_software_statement", "software_statement must be signed with PS256 or ES256"
    )


@pytest.mark.parametrize(
    "claims,description",
    [
        ({"iss": "another-directory"}, "software_statement iss is not the directory"),
        ({"iat": None}, "software_statement iat is required"),
        ({"iat": int(time.time()) + 3600}, "software_statement iat is in the future"),
        ({"exp": int(time.time()) - 1}, "software_statement has expired"),
        ({"nbf": int(time.time()) + 3600}, "software_statement is not yet valid"),
        ({"software_id": None}, "software_statement must name software_id and org_name or org_id"),
        (
            {"org_name": None, "org_id": None},
            "software_statement must name software_id and org_name or org_id",
        ),
        ({"tier": "GOLD"}, "software_statement tier is not a known access tier"),
    ],
)
async def test_invalid_statement_claims(dcr: Dcr, claims: dict[str, Any], description: str) -> None:
    statement = dcr.statement(**claims)
    if claims.get("iat", 0) is None:  # sign_software_statement fills iat in; drop it by hand
        statement = sign(
            {"iss": dcr.directory.issuer, "software_id": "x", "org_name": "X"},
            dcr.directory._private,
        )
    response = await dcr.register({"software_statement": statement})
    assert_error(response, 400, "invalid_software_statement", description)


async def test_private_tier_is_never_granted_by_registration(dcr: Dcr) -> None:
    response = await dcr.register(tier="PRIVATE")
    assert_error(
        response,
        400,
        "unapproved_software_statement",
        "the PRIVATE tier is not granted by dynamic registration",
    )


# --- invalid_client_metadata / invalid_redirect_uri ---


@pytest.mark.parametrize(
    "request_metadata,description",
    [
        (
            {"token_endpoint_auth_method": "client_secret_basic"},
            "token_endpoint_auth_method must be private_key_jwt",
        ),
        (
            {"grant_types": ["password"]},
            "grant_types must be a non-empty subset of authorization_code, refresh_token, client_credentials",
        ),
        (
            {"response_types": ["code", "token"]},
            "response_types must be [code] with the authorization_code grant, and empty without it",
        ),
        ({"id_token_signed_response_alg": "RS256"}, "id_token_signed_response_alg must be PS256 or ES256"),
        (
            {"id_token_encrypted_response_alg": "RSA1_5", "id_token_encrypted_response_enc": "A256GCM"},
            "ID token encryption must be id_token_encrypted_response_alg RSA-OAEP-256 with "
            "id_token_encrypted_response_enc A256GCM",
        ),
        (
            # RFC 7591 §2: the server MAY reject a value it does not support "by returning an error
            # response"; Kaimen never signs UserInfo responses, so it must not seem to accept this.
            {"userinfo_signed_response_alg": "PS256"},
            "userinfo_signed_response_alg: UserInfo responses are not signed or encrypted",
        ),
    ],
)
async def test_invalid_client_metadata(dcr: Dcr, request_metadata: dict[str, Any], description: str) -> None:
    response = await dcr.register({"software_statement": dcr.statement(), **request_metadata})
    assert_error(response, 400, "invalid_client_metadata", description)


async def test_private_key_in_the_statements_jwks(dcr: Dcr) -> None:
    response = await dcr.register(jwks={"keys": [rsa_key().as_dict(private=True)]})
    assert_error(response, 400, "invalid_client_metadata", "the JWKS must hold public keys only")


async def test_jwks_and_jwks_uri_both_in_the_statement(dcr: Dcr) -> None:
    response = await dcr.register(jwks_uri="https://tpp.example/jwks")
    assert_error(response, 400, "invalid_client_metadata", "jwks and jwks_uri must not both be present")


async def test_the_statements_key_location_replaces_the_requests(dcr: Dcr) -> None:
    # RFC 7591 §2.3: the statement's jwks wins, and the request's jwks_uri is not kept beside it.
    response = await dcr.register(
        {"software_statement": dcr.statement(), "jwks_uri": "https://attacker.example/j"}
    )
    assert response.status_code == 201
    assert "jwks_uri" not in response.json() and response.json()["jwks"] == public_jwks(rsa_key())


@pytest.mark.parametrize("body", [b"[]", b"{not json", b'"text"'])
async def test_a_body_that_is_not_a_json_object(dcr: Dcr, body: bytes) -> None:
    response = await dcr.http.post(
        "/oauth2/register", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400 and response.json()["error"] == "invalid_client_metadata"


async def test_a_form_body_is_refused(dcr: Dcr) -> None:
    response = await dcr.http.post("/oauth2/register", data={"software_statement": dcr.statement()})
    assert_error(response, 400, "invalid_client_metadata", "the body must be application/json")


@pytest.mark.parametrize(
    "uri,reason",
    [
        ("https://tpp.example/cb#x", "must not include a fragment (RFC 6749 section 3.1.2)"),
        ("http://tpp.example/cb", "must use https"),
        ("/cb", "must be an absolute URI with a host"),
    ],
)
async def test_invalid_redirect_uri(dcr: Dcr, uri: str, reason: str) -> None:
    response = await dcr.register(redirect_uris=[uri])
    assert_error(response, 400, "invalid_redirect_uri", f"redirect_uri {reason}")


async def test_no_redirect_uri_for_the_code_flow(dcr: Dcr) -> None:
    response = await dcr.register(redirect_uris=None)
    assert_error(
        response, 400, "invalid_redirect_uri", "redirect_uris are required for the authorization_code grant"
    )


# --- client configuration endpoint (RFC 7592) ---

INVALID_TOKEN = ("invalid_token", "the registration access token is not valid")


def assert_invalid_token(response: httpx.Response) -> None:
    assert_error(response, 401, *INVALID_TOKEN)
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_the_registration_access_token_is_required(dcr: Dcr, method: str) -> None:
    body = await dcr.registered()
    token = body["registration_access_token"]
    for authorization in (None, "Bearer ", "Bearer wrong-token", f"Bearer {token}x", f"Basic {token}", token):
        headers = {"authorization": authorization} if authorization else {}
        response = await dcr.http.request(method, body["registration_client_uri"], headers=headers, json={})
        assert_invalid_token(response)
    assert await dcr.clients.get(body["client_id"]) is not None  # nothing was changed or deleted


async def test_another_clients_token_is_refused(dcr: Dcr) -> None:
    first, second = await dcr.registered(), await dcr.registered(software_id="other-app")
    headers = {"authorization": f"Bearer {second['registration_access_token']}"}
    assert_invalid_token(await dcr.http.get(first["registration_client_uri"], headers=headers))


async def test_an_unknown_client_is_401_not_404(dcr: Dcr) -> None:
    body = await dcr.registered()
    headers = {"authorization": f"Bearer {body['registration_access_token']}"}
    assert_invalid_token(await dcr.http.get("/oauth2/register/client_" + "0" * 32, headers=headers))


async def test_an_operator_created_client_has_no_registration_token(dcr: Dcr) -> None:
    from tests.authz_clients_support import approved_client

    tpp = await approved_client(dcr.db, dcr.settings, dcr.clients)
    uri = f"/oauth2/register/{tpp.client.client_id}"
    assert_invalid_token(await dcr.http.get(uri, headers={"authorization": "Bearer anything"}))


async def test_read_returns_the_registered_metadata(dcr: Dcr) -> None:
    body = await dcr.registered()
    token = body.pop("registration_access_token")
    read = await dcr.http.get(body["registration_client_uri"], headers={"authorization": f"Bearer {token}"})
    assert read.status_code == 200 and read.headers["cache-control"] == "no-store"
    answer = read.json()
    assert isinstance(answer.pop("registration_access_token"), str)
    assert answer == body


async def test_update_replaces_the_metadata_and_the_statement_still_wins(dcr: Dcr) -> None:
    body = await dcr.registered()
    token = body.pop("registration_access_token")
    headers = {"authorization": f"Bearer {token}"}
    update = {k: v for k, v in body.items() if k not in ("registration_client_uri", "client_id_issued_at")}
    update |= {"logo_uri": "https://tpp.example/logo.png", "redirect_uris": ["https://attacker.example/cb"]}
    response = await dcr.http.put(body["registration_client_uri"], headers=headers, json=update)
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["logo_uri"] == "https://tpp.example/logo.png"
    assert updated["redirect_uris"] == [TPP_REDIRECT]
    assert updated["client_id_issued_at"] == body["client_id_issued_at"]
    # RFC 7592 §3: the update's client information response carries a registration access token, a
    # fresh one (the digest is all Kaimen keeps), and the one the update was sent with stops working.
    assert updated["registration_client_uri"] == body["registration_client_uri"]
    fresh = updated["registration_access_token"]
    assert fresh != token
    row = await stored_row(dcr, body["client_id"])
    assert row.registration_token_digest == hashlib.sha256(fresh.encode()).hexdigest()
    assert_invalid_token(await dcr.http.get(body["registration_client_uri"], headers=headers))


async def test_a_refused_update_keeps_the_registration_access_token(dcr: Dcr) -> None:
    body = await dcr.registered()
    headers = {"authorization": f"Bearer {body['registration_access_token']}"}
    update = {"client_id": body["client_id"], "grant_types": ["implicit"]}
    response = await dcr.http.put(body["registration_client_uri"], headers=headers, json=update)
    assert response.status_code == 400
    assert (await dcr.http.get(body["registration_client_uri"], headers=headers)).status_code == 200


@pytest.mark.parametrize(
    "change,error,description",
    [
        (
            {"client_id": "client_other"},
            "invalid_client_metadata",
            "client_id must be present and be this client's identifier",
        ),
        (
            {"registration_access_token": "x"},
            "invalid_client_metadata",
            "registration_access_token must not be sent in an update",
        ),
        ({"client_secret": "x"}, "invalid_client_metadata", "client_secret must not be sent in an update"),
        (
            {"grant_types": ["implicit"]},
            "invalid_client_metadata",
            "grant_types must be a non-empty subset of authorization_code, refresh_token, client_credentials",
        ),
    ],
)
async def test_bad_updates_are_refused(
    dcr: Dcr, change: dict[str, Any], error: str, description: str
) -> None:
    body = await dcr.registered()
    headers = {"authorization": f"Bearer {body['registration_access_token']}"}
    update = {"client_id": body["client_id"], "software_statement": body["software_statement"], **change}
    response = await dcr.http.put(body["registration_client_uri"], headers=headers, json=update)
    assert_error(response, 400, error, description)


async def test_update_with_a_statement_for_other_software_is_refused(dcr: Dcr) -> None:
    body = await dcr.registered()
    headers = {"authorization": f"Bearer {body['registration_access_token']}"}
    update = {"client_id": body["client_id"], "software_statement": dcr.statement(software_id="another")}
    response = await dcr.http.put(body["registration_client_uri"], headers=headers, json=update)
    assert_error(response, 400, "invalid_software_statement", "software_statement is for another software_id")


async def test_delete_deregisters_the_client_and_revokes_its_application(dcr: Dcr) -> None:
    body = await dcr.registered()
    headers = {"authorization": f"Bearer {body['registration_access_token']}"}
    client = await dcr.clients.get(body["client_id"])
    assert client is not None
    response = await dcr.http.delete(body["registration_client_uri"], headers=headers)
    assert response.status_code == 204 and response.content == b""
    assert await dcr.clients.get(body["client_id"]) is None
    assert (await dcr.registry.get(client.application_id)).status is ReviewStatus.REVOKED
    assert_invalid_token(await dcr.http.get(body["registration_client_uri"], headers=headers))
    assert dcr.events[-1] == (
        CLIENT_DELETED,
        {"client_id": client.client_id, "application_id": client.application_id},
    )
