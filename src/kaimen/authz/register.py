"""Dynamic client registration (RFC 7591 §3) and its management protocol (RFC 7592), issue 3 item 2.

POST /oauth2/register                 register: software statement + metadata -> 201, client information
GET|PUT|DELETE /oauth2/register/{id}  read | replace | deregister, with the registration access token

Registration pipeline: ``json_body`` → ``verify_statement`` (register_statement.py) → metadata merged
with the statement's claims (which take precedence) → ``validate_metadata`` (clients_metadata.py) →
an organisation and application in the TPP registry (pending review unless
``settings.oauth.dcr_auto_approve``, at the statement's tier) → the client → 201.

The registration access token (RFC 7592 §1.3) has 256 random bits and only its SHA-256 is stored; a
presented token is compared in constant time. RFC 7592 §2: a wrong or missing token, or a client that
does not exist, is 401 ``invalid_token`` (RFC 6750 §3.1), never telling one case from the other.

RFC 7592 §3 lists ``registration_access_token`` as REQUIRED in the client information response that
answers a read (GET) and an update (PUT), and Kaimen cannot show a stored token again (it keeps only
the digest). So every successful read and update rotates it: a fresh token is issued, its digest
replaces the presented one's in one conditional write (the old token stops working at once; of two
requests presenting the same token, exactly one succeeds and the other gets invalid_token), and the
fresh token is returned. RFC 7592 §5 allows this: "the registration access token MAY be rotated when
the developer or client does a read or update operation on the client's client configuration
endpoint"; each token is still shown exactly once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from kaimen.authz import endpoints
from kaimen.authz.clients import Client, ClientRegistry
from kaimen.authz.clients_metadata import validate_metadata
from kaimen.authz.directory import DirectoryKey
from kaimen.authz.errors import InvalidClientMetadata, InvalidSoftwareStatement, InvalidToken
from kaimen.authz.http import json_response, oauth_endpoint
from kaimen.authz.register_statement import SoftwareStatement, verify_statement
from kaimen.events import CLIENT_DELETED, CLIENT_REGISTERED, CLIENT_UPDATED
from kaimen.settings import Settings
from kaimen.tpp.registry import Registry, ReviewStatus

TOKEN_BYTES = 32  # 256 bits
# RFC 7592 §2.2: "The client MUST NOT include the registration_access_token, registration_client_uri,
# client_secret_expires_at, or client_id_issued_at fields"; Kaimen issues no client_secret either.
_SERVER_FIELDS = (
    "registration_access_token",
    "registration_client_uri",
    "client_secret_expires_at",
    "client_id_issued_at",
    "client_secret",
)
_CHALLENGE = {"www-authenticate": 'Bearer error="invalid_token"'}


def _invalid_token() -> InvalidToken:
    return InvalidToken("the registration access token is not valid", headers=_CHALLENGE)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def json_body(request: Request) -> dict[str, Any]:
    """RFC 7591 §3.1: the metadata is a JSON object sent as application/json."""
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type != "application/json":
        raise InvalidClientMetadata("the body must be application/json")
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        raise InvalidClientMetadata("the body is not valid JSON") from exc
    if not isinstance(body, dict):
        raise InvalidClientMetadata("the body must be a JSON object")
    return body


class Registrar:
    def __init__(
        self,
        clients: ClientRegistry,
        registry: Registry,
        directory: DirectoryKey,
        settings: Settings,
        events: Any = None,
    ) -> None:
        self.clients = clients
        self.registry = registry
        self.directory = directory
        self.settings = settings
        self.events = events
        self.issuer = settings.public_base_url

    def client_uri(self, client_id: str) -> str:
        return f"{self.issuer}{endpoints.REGISTER}/{client_id}"

    def _emit(self, name: str, client: Client) -> None:
        if self.events is not None:
            self.events.emit(name, {"client_id": client.client_id, "application_id": client.application_id})

    def _stored_metadata(self, statement: SoftwareStatement, request: dict[str, Any]) -> dict[str, Any]:
        checked = validate_metadata(statement.merged_with(request), self.settings)
        return {
            **checked,
            "software_id": statement.software_id,
            "software_statement": statement.raw,
            "jws_iss": statement.jws_iss,
        }

    def information(self, client: Client) -> dict[str, Any]:
        """RFC 7591 §3.2.1 / RFC 7592 §3: every registered metadata value plus the server's fields."""
        return {
            **client.metadata,
            "client_id": client.client_id,
            "registration_client_uri": self.client_uri(client.client_id),
        }

    async def register(self, request: Request) -> Response:
        body = await json_body(request)
        statement = verify_statement(body.get("software_statement"), self.directory)
        metadata = self._stored_metadata(statement, body)
        metadata["client_id_issued_at"] = int(time.time())
        status = ReviewStatus.APPROVED if self.settings.oauth.dcr_auto_approve else ReviewStatus.PENDING
        application = await self.registry.register(
            organisation=statement.organisation,
            application=statement.application,
            tier=statement.tier,
            status=status,
        )
        token = secrets.token_urlsafe(TOKEN_BYTES)
        try:
            client = await self.clients.insert(
                application.id, metadata, registration_token_digest=token_digest(token)
            )
        except Exception:
            await self.registry.set_status(application.id, ReviewStatus.REVOKED)
            raise
        self._emit(CLIENT_REGISTERED, client)
        return self._information_response(client, token, status=201)

    async def authorised(self, request: Request) -> tuple[Client, str]:
        """RFC 7592 §2: the registration access token as a Bearer token (RFC 6750 §2.1). The client and
        the digest of the token presented."""
        client_id = request.path_params["client_id"]
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        presented = token_digest(token.strip()) if scheme.lower() == "bearer" and token.strip() else ""
        stored = await self.clients.registration_digest(client_id) or ""
        # Compare even when nothing is stored, so timing does not tell an unknown client apart.
        matches = hmac.compare_digest(presented or "x", stored or "y")
        client = await self.clients.get(client_id) if matches else None
        if client is None:
            raise _invalid_token()
        return client, presented

    async def _rotated(
        self, client: Client, presented: str, metadata: dict[str, Any] | None = None
    ) -> tuple[Client, str]:
        """RFC 7592 §3 / §5: a fresh registration access token replaces the presented one (and, for an
        update, ``metadata`` the registered metadata) in one write. Another request that presented the
        same token and rotated it first makes this one invalid_token, as if the token were wrong."""
        token = secrets.token_urlsafe(TOKEN_BYTES)
        stored = await self.clients.rotate_registration_token(
            client.client_id, presented, token_digest(token), metadata
        )
        if stored is None:
            raise _invalid_token()
        return stored, token

    def _information_response(self, client: Client, token: str, status: int = 200) -> Response:
        """RFC 7592 §3: the client information response (201 to a registration, 200 to a read or an
        update), with registration_access_token (REQUIRED) and registration_client_uri (REQUIRED)."""
        answer = {**self.information(client), "registration_access_token": token}
        return json_response(orjson.dumps(answer), status=status)

    async def read(self, request: Request) -> Response:
        client, presented = await self.authorised(request)
        client, token = await self._rotated(client, presented)
        return self._information_response(client, token)

    async def update(self, request: Request) -> Response:
        client, presented = await self.authorised(request)
        body = await json_body(request)
        # RFC 7592 §2.2: "The client MUST include its client_id field in the request, and it MUST be the
        # same as its currently issued client identifier."
        if body.get("client_id") != client.client_id:
            raise InvalidClientMetadata("client_id must be present and be this client's identifier")
        sent = [name for name in _SERVER_FIELDS if name in body]
        if sent:
            raise InvalidClientMetadata(f"{', '.join(sent)} must not be sent in an update")
        # The statement sent (or, when none, the one registered) is verified again and still wins.
        raw = body.get("software_statement", client.metadata.get("software_statement"))
        statement = verify_statement(raw, self.directory)
        if statement.software_id != client.metadata.get("software_id"):
            raise InvalidSoftwareStatement("software_statement is for another software_id")
        request_metadata = {k: v for k, v in body.items() if k != "client_id"}
        metadata = self._stored_metadata(statement, request_metadata)
        metadata["client_id_issued_at"] = client.metadata.get("client_id_issued_at")
        updated, token = await self._rotated(client, presented, metadata)
        self._emit(CLIENT_UPDATED, updated)
        return self._information_response(updated, token)

    async def delete(self, request: Request) -> Response:
        """RFC 7592 §2.3: the client and its registration access token stop working, and so does its
        application (revoked in the TPP registry), so every grant it held is refused from now on."""
        client, _ = await self.authorised(request)
        await self.clients.delete(client.client_id)
        await self.registry.set_status(client.application_id, ReviewStatus.REVOKED)
        self._emit(CLIENT_DELETED, client)
        return Response(status_code=204, headers={"cache-control": "no-store", "pragma": "no-cache"})


def registration_routes(registrar: Registrar) -> list[Route]:
    return [
        Route(endpoints.REGISTER, oauth_endpoint(registrar.register), methods=["POST"]),
        Route(endpoints.REGISTER + "/{client_id}", oauth_endpoint(registrar.read), methods=["GET"]),
        Route(endpoints.REGISTER + "/{client_id}", oauth_endpoint(registrar.update), methods=["PUT"]),
        Route(endpoints.REGISTER + "/{client_id}", oauth_endpoint(registrar.delete), methods=["DELETE"]),
    ]
