"""OAuth clients: the OAuth face of TPP applications (issue 3, item 2).

One client per application (``oauth_clients.application_id`` is unique). The application's review
status governs the client: only a client of an ``approved`` application may authenticate
(:mod:`kaimen.authz.client_auth` checks ``Client.approved``), so suspending or revoking an application
in the TPP registry stops its client at once, in every worker: lookups are cached per worker and the
cache drops whenever the ``registry`` generation moves (kaimen.store.watch), which the TPP registry
bumps on every review decision and this module bumps on every client change. On PostgreSQL that
drop comes by NOTIFY, milliseconds late, so the callers that decide on status or tier confirm it in
the database: client authentication through :meth:`ClientRegistry.current`, the resource APIs
through the token read they make on every call anyway (kaimen.authz.tokens, ``AccessToken.standing``).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from typing import Any

import httpx
from joserfc.jwk import KeySet
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from kaimen.authz.clients_jwks import JwksFetcher
from kaimen.authz.clients_metadata import validate_metadata
from kaimen.settings import Settings
from kaimen.store.authz_models import OAuthClient
from kaimen.store.db import Database
from kaimen.store.models import Application
from kaimen.store.types import utcnow
from kaimen.store.watch import Watcher, bump
from kaimen.tpp.views import ReviewStatus

GENERATION = "registry"
MAX_CACHED = 10_000
_STANDING = (
    "SELECT applications.status, applications.tier FROM oauth_clients"
    " JOIN applications ON applications.id = oauth_clients.application_id"
    " WHERE oauth_clients.client_id = :client_id"
)


class ClientError(Exception):
    """An operator request about clients that cannot be done; the message says why."""


@dataclass(frozen=True)
class Client:
    client_id: str
    application_id: str
    name: str
    status: str  # the application's ReviewStatus value
    tier: str
    redirect_uris: tuple[str, ...]
    # Registered metadata (RFC 7591 §2), as validate_metadata returned it, plus what a software
    # statement added (software_statement, jws_iss, ...).
    metadata: dict[str, Any]
    jws_iss: str | None

    @property
    def approved(self) -> bool:
        return self.status == ReviewStatus.APPROVED

    def has_redirect_uri(self, uri: str) -> bool:
        """RFC 9700 §4.1.3 / FAPI 2.0 §5.3.2.2: redirect URIs are compared by exact string match."""
        return uri in self.redirect_uris


def new_client_id() -> str:
    return f"client_{secrets.token_hex(16)}"


def _client(row: OAuthClient, status: str, tier: str, app_name: str) -> Client:
    metadata = dict(row.client_metadata)
    return Client(
        client_id=row.client_id,
        application_id=row.application_id,
        name=str(metadata.get("client_name") or app_name),
        status=status,
        tier=tier,
        redirect_uris=tuple(metadata.get("redirect_uris", ())),
        metadata=metadata,
        jws_iss=metadata.get("jws_iss"),
    )


class ClientRegistry:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        http: httpx.AsyncClient | None = None,
        *,
        watcher: Watcher | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.jwks_fetcher = JwksFetcher(settings, http)
        self.watcher = watcher
        self._cache: dict[str, Client | None] = {}
        self._inline_keys: dict[str, tuple[Any, KeySet]] = {}
        self._epoch = 0
        if watcher is not None:
            watcher.on_change(GENERATION, self.clear)

    def clear(self) -> None:
        self._epoch += 1
        self._cache.clear()
        self._inline_keys.clear()

    async def get(self, client_id: str) -> Client | None:
        """The client, whatever its application's status (callers check ``.approved``); None if unknown."""
        if len(client_id) > 64:
            return None
        watcher = self.watcher
        if watcher is None:
            return await self._read(client_id)
        watcher.poll()
        if watcher.healthy and client_id in self._cache:
            return self._cache[client_id]
        epoch = self._epoch
        found = await self._read(client_id)
        if epoch == self._epoch and watcher.healthy:
            if len(self._cache) >= MAX_CACHED:
                self._cache.pop(next(iter(self._cache)))
            self._cache[client_id] = found
        return found

    async def current(self, client_id: str) -> Client | None:
        """:meth:`get`, with the application's status and tier confirmed by one indexed read where the
        cache can lag another worker's change (PostgreSQL: the NOTIFY arrives milliseconds after the
        suspending worker answered). For every decision to trust a client: client authentication
        (token, PAR, introspection, revocation), /authorize and the login and consent steps; the
        resource APIs take status and tier from their per-call token read (kaimen.authz.tokens)."""
        client = await self.get(client_id)
        if client is None or self.db.is_sqlite:
            return client
        rows = await self.db.direct.rows(_STANDING, {"client_id": client_id})
        if not rows:
            return None  # deleted by another worker
        status, tier = rows[0]
        if (status, tier) == (client.status, client.tier):
            return client
        return replace(client, status=status, tier=tier)

    async def _read(self, client_id: str) -> Client | None:
        query = (
            select(OAuthClient, Application.status, Application.tier, Application.name)
            .join(Application, OAuthClient.application_id == Application.id)
            .where(OAuthClient.client_id == client_id)
        )
        async with self.db.read() as session:
            row = (await session.execute(query)).first()
        return None if row is None else _client(*row)

    async def keys(self, client: Client, *, refetch: bool = False) -> KeySet:
        """The client's public keys: its inline ``jwks``, or its ``jwks_uri`` fetched with a deadline
        and cached (raises :class:`kaimen.authz.clients_jwks.JwksUnavailable` when that fails)."""
        jwks = client.metadata.get("jwks")
        if jwks is None:
            return await self.jwks_fetcher.get(client.metadata["jwks_uri"], refetch=refetch)
        cached = self._inline_keys.get(client.client_id)
        if cached is not None and cached[0] == jwks:
            return cached[1]
        key_set = KeySet.import_key_set(jwks)
        self._inline_keys[client.client_id] = (jwks, key_set)
        return key_set

    async def create_for_application(self, application_id: str, metadata: dict[str, Any]) -> Client:
        """The operator's (and the demo's) path: a client for an existing application, validated."""
        return await self.insert(application_id, validate_metadata(metadata, self.settings))

    async def insert(
        self, application_id: str, metadata: dict[str, Any], *, registration_token_digest: str | None = None
    ) -> Client:
        """Store a client whose metadata is already validated."""
        client_id = new_client_id()
        try:
            async with self.db.write() as session:
                if await session.get(Application, application_id) is None:
                    raise ClientError(f"no application with id {application_id!r}")
                session.add(
                    OAuthClient(
                        client_id=client_id,
                        application_id=application_id,
                        client_metadata=metadata,
                        registration_token_digest=registration_token_digest,
                    )
                )
                await session.flush()
                await bump(session, GENERATION)
        except IntegrityError as exc:
            raise ClientError(f"application {application_id} already has an OAuth client") from exc
        return await self._must_read(client_id)

    async def replace_metadata(self, client_id: str, metadata: dict[str, Any]) -> Client:
        """RFC 7592 §2.2: the update replaces the registered metadata as a whole."""
        async with self.db.write() as session:
            row = await session.get(OAuthClient, client_id)
            if row is None:
                raise ClientError(f"no client with id {client_id!r}")
            row.client_metadata = metadata
            row.updated_at = utcnow()
            await bump(session, GENERATION)
        return await self._must_read(client_id)

    async def rotate_registration_token(
        self,
        client_id: str,
        presented_digest: str,
        fresh_digest: str,
        metadata: dict[str, Any] | None = None,
    ) -> Client | None:
        """Replace the digest of the registration access token just presented with ``fresh_digest``,
        and, for an RFC 7592 §2.2 update, the metadata with ``metadata``, in one transaction, only while
        the presented digest is still the stored one: of two requests presenting the same token exactly
        one wins, and the old token stops working the moment the new one exists. The client as stored
        now, or None when another request rotated the token first."""
        values: dict[str, Any] = {"registration_token_digest": fresh_digest}
        if metadata is None:
            values["updated_at"] = OAuthClient.updated_at  # a read changes the token, not the client
        else:
            values |= {"client_metadata": metadata, "updated_at": utcnow()}
        async with self.db.write() as session:
            result = await session.execute(
                update(OAuthClient)
                .where(
                    OAuthClient.client_id == client_id,
                    OAuthClient.registration_token_digest == presented_digest,
                )
                .values(**values)
            )
            if not result.rowcount:  # type: ignore[attr-defined]
                return None
            if metadata is not None:
                await bump(session, GENERATION)
        return await self._must_read(client_id)

    async def delete(self, client_id: str) -> None:
        async with self.db.write() as session:
            await session.execute(delete(OAuthClient).where(OAuthClient.client_id == client_id))
            await bump(session, GENERATION)

    async def registration_digest(self, client_id: str) -> str | None:
        """The SHA-256 digest of the client's registration access token (None: it has none)."""
        async with self.db.read() as session:
            row = await session.get(OAuthClient, client_id)
            return None if row is None else row.registration_token_digest

    async def for_application(self, application_id: str) -> Client | None:
        async with self.db.read() as session:
            client_id = (
                await session.execute(
                    select(OAuthClient.client_id).where(OAuthClient.application_id == application_id)
                )
            ).scalar_one_or_none()
        return None if client_id is None else await self._read(client_id)

    async def _must_read(self, client_id: str) -> Client:
        client = await self._read(client_id)
        if client is None:  # pragma: no cover (written in the transaction that just committed)
            raise ClientError(f"client {client_id} vanished")
        return client
