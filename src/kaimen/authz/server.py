"""The authorization server's parts, built once per process and handed to the routes that need them.

Each part receives only what it needs (STYLE.md §6); app.py builds one AuthorizationServer and mounts
``routes()``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from starlette.routing import BaseRoute, Route

from kaimen.authz import endpoints
from kaimen.authz.authorize import AuthorizeEndpoint
from kaimen.authz.client_auth import ClientAuthenticator
from kaimen.authz.clients import ClientRegistry
from kaimen.authz.codes import AuthorizationCodes
from kaimen.authz.directory import DirectoryKey
from kaimen.authz.discovery import discovery_routes
from kaimen.authz.dpop import DpopVerifier
from kaimen.authz.flow import AuthorizationFlow, CustomerAccounts
from kaimen.authz.grants import AuthorizationCodeGrant, ClientCredentialsGrant, Grant, RefreshTokenGrant
from kaimen.authz.id_token import IdTokens
from kaimen.authz.introspect import IntrospectionEndpoint
from kaimen.authz.once import OnceStore, build_once_store
from kaimen.authz.par import ParEndpoint
from kaimen.authz.ports import IntentKind
from kaimen.authz.pushed import PushedRequests
from kaimen.authz.register import Registrar, registration_routes
from kaimen.authz.revoke import RevocationEndpoint
from kaimen.authz.sealing import Sealer, sealer_for
from kaimen.authz.signing import SigningKeys
from kaimen.authz.subject import PURPOSE as SUBJECT_PURPOSE
from kaimen.authz.subject import PairwiseSubjects
from kaimen.authz.token import TokenEndpoint
from kaimen.authz.tokens import TokenService
from kaimen.authz.userinfo import UserinfoEndpoint
from kaimen.errors.render import Family
from kaimen.events import CONSENT_DELETED, CONSENT_REVOKED
from kaimen.gateway.apis import Api
from kaimen.identity.customers import Customers
from kaimen.identity.interactions import Interactions
from kaimen.identity.passkeys import Passkeys
from kaimen.identity.routes import LoginPages
from kaimen.settings import Settings
from kaimen.store.db import Database
from kaimen.store.watch import Watcher
from kaimen.tpp.registry import Registry

log = logging.getLogger("kaimen.authz")
CONSENT_SCOPES_ORDER = ("accounts", "payments", "fundsconfirmations")


class AuthorizationServer:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        watcher: Watcher,
        events: Any,
        *,
        intents: Mapping[str, IntentKind],
        customer_accounts: CustomerAccounts,
    ) -> None:
        """``intents``: the kinds of consent served, by scope (each consent package supplies its own);
        ``customer_accounts``: where the consent page finds the customer's accounts (CoreBanking)."""
        self.settings = settings
        self.intents = dict(intents)
        self.customer_accounts = customer_accounts
        self.issuer = settings.public_base_url
        self.db = db
        self.events = events
        self.sealer: Sealer = sealer_for(settings)
        self.once: OnceStore = build_once_store(
            settings.redis_url, db, max_connections=settings.max_concurrent_requests
        )
        self.keys = SigningKeys(db, self.sealer, watcher)
        # --- F: clients, registration, client authentication ---
        self.clients = ClientRegistry(db, settings, watcher=watcher)
        self.client_auth = ClientAuthenticator(self.clients, self.once, settings)
        self.directory = DirectoryKey.for_settings(settings)
        self.registrar = Registrar(self.clients, Registry(db), self.directory, settings, events)
        # --- G: DPoP, tokens ---
        self.dpop = DpopVerifier(self.once, settings, nonce_key=self.sealer.derive_key("dpop-nonce"))
        self.tokens = TokenService(db, watcher, settings, events=events)
        self.subjects = PairwiseSubjects(self.sealer.derive_key(SUBJECT_PURPOSE))
        # --- H: customers, interactions (pages) ---
        self.customers = Customers(db, self.sealer, settings)
        self.passkeys = Passkeys(db, self.sealer, self.once, settings)
        self.interactions = Interactions(db, settings)
        # --- I: PAR, authorize, flow, token endpoint ---
        self._build_flow(settings, db, events)
        # A consent that ends takes its tokens with it. Subscribers must not block the request that
        # emitted the event, so the revocation runs as a task (stop() waits for those in flight).
        self._revoking: set[asyncio.Task[None]] = set()
        events.subscribe(CONSENT_REVOKED, self._consent_ended)
        events.subscribe(CONSENT_DELETED, self._consent_ended)

    def _consent_ended(self, _name: str, payload: Any) -> None:
        task = asyncio.get_running_loop().create_task(self.tokens.revoke_consent(payload.consent_id))
        self._revoking.add(task)
        task.add_done_callback(self._revoked)

    def _revoked(self, task: asyncio.Task[None]) -> None:
        self._revoking.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error(
                "revoking the tokens of an ended consent failed",
                extra={"error": type(task.exception()).__name__},
            )

    async def start(self) -> None:
        await self.keys.ensure()

    async def stop(self) -> None:
        if self._revoking:
            await asyncio.gather(*self._revoking, return_exceptions=True)
        await self.once.close()
        await self.customers.close()  # H: the login throttle's store

    def routes(self) -> list[BaseRoute]:
        consent_scopes = [scope for scope in CONSENT_SCOPES_ORDER if scope in self.intents]
        routes: list[BaseRoute] = [*discovery_routes(self.issuer, self.keys, consent_scopes)]
        routes += registration_routes(self.registrar)  # F
        # --- F routes --- G routes --- H routes --- I routes ---
        routes += LoginPages(
            self.interactions, self.customers, self.passkeys, self.flow, self.events
        ).routes()  # H
        routes += self._token_routes()
        routes += self._flow_routes()  # I
        return routes

    def _build_flow(self, settings: Settings, db: Database, events: Any) -> None:
        """I: pushed requests, codes, the flow the pages finish, the token endpoint and its grants."""
        oauth = settings.oauth
        self.pushed = PushedRequests(db, oauth.par_ttl_seconds)
        self.codes = AuthorizationCodes(db, oauth.code_ttl_seconds)
        self.flow = AuthorizationFlow(
            db=db,
            issuer=self.issuer,
            clients=self.clients,
            pushed=self.pushed,
            codes=self.codes,
            events=events,
            session_ttl_seconds=oauth.login_session_ttl_seconds,
            intents=self.intents,
            customer_accounts=self.customer_accounts,
            subjects=self.subjects,
        )
        self.id_tokens = IdTokens(
            issuer=self.issuer,
            keys=self.keys,
            clients=self.clients,
            subjects=self.subjects,
            ttl_seconds=oauth.access_token_ttl_seconds,
        )
        grants: dict[str, Grant] = {
            "authorization_code": AuthorizationCodeGrant(
                codes=self.codes,
                tokens=self.tokens,
                id_tokens=self.id_tokens,
                events=events,
                refresh_ttl_seconds=oauth.refresh_token_ttl_seconds,
            ),
            "refresh_token": RefreshTokenGrant(tokens=self.tokens, events=events),
            "client_credentials": ClientCredentialsGrant(tokens=self.tokens, events=events),
        }
        self.par = ParEndpoint(
            client_auth=self.client_auth,
            dpop=self.dpop,
            pushed=self.pushed,
            intents=self.intents,
            mint_account_consent=oauth.conformance_mint_account_consent,
        )
        self.token = TokenEndpoint(client_auth=self.client_auth, dpop=self.dpop, grants=grants)

    def _flow_routes(self) -> list[BaseRoute]:
        authorize = AuthorizeEndpoint(
            clients=self.clients, pushed=self.pushed, interactions=self.interactions, flow=self.flow
        )
        return [
            Route(endpoints.PAR, self.par.handle, methods=["POST"]),
            # OIDC Core §3.1.2.1: "MUST support the use of the HTTP GET and POST methods".
            Route(endpoints.AUTHORIZE, authorize.handle, methods=["GET", "POST"]),
            Route(endpoints.TOKEN, self.token.handle, methods=["POST"]),
        ]

    def _token_routes(self) -> list[BaseRoute]:
        """G: introspection (RFC 7662), revocation (RFC 7009), userinfo (OIDC Core §5.3)."""
        introspect = IntrospectionEndpoint(
            client_auth=self.client_auth, tokens=self.tokens, issuer=self.issuer, subjects=self.subjects
        )
        revoke = RevocationEndpoint(client_auth=self.client_auth, tokens=self.tokens)
        userinfo = UserinfoEndpoint(
            tokens=self.tokens, dpop=self.dpop, clients=self.clients, subjects=self.subjects
        )
        return [
            Route(endpoints.INTROSPECT, introspect.handle, methods=["POST"]),
            Route(endpoints.REVOKE, revoke.handle, methods=["POST"]),
            Route(endpoints.USERINFO, userinfo.handle, methods=["GET", "POST"]),
        ]


def authz_apis(settings: Settings) -> list[Api]:
    """The authorization server's paths in the gateway's table: audited and rate-limited per IP."""
    return [
        Api(
            name="oauth",
            path="/oauth2",
            family=Family.OAUTH,
            media_type="application/json",
            policy=settings.apis["oauth"],
            prefix=True,
        ),
        Api(
            name="oauth",
            path="/.well-known",
            family=Family.OAUTH,
            media_type="application/json",
            policy=settings.apis["oauth"],
            prefix=True,
        ),
        Api(
            name="login",
            path=endpoints.LOGIN,
            family=Family.PLAIN,
            media_type="application/json",
            policy=settings.apis["login"],
            prefix=True,
        ),
    ]
