"""Where the customer's pages (identity/) hand the authorization back: ``describe`` tells the consent page
what is asked, ``finish`` turns the customer's decision into the authorization response.

Every authorization response is a 303 to the pushed, registered redirect URI with ``state`` exactly as
sent and ``iss`` (RFC 9207 §2: "the authorization server MUST ... include the iss parameter" in every
authorization response, error responses included). The pushed request is consumed in the transaction
that stores the code (RFC 9126 §4: one-time use), so a second ``finish`` for it is refused.

``finish`` raises InvalidRequestUri when the request is unknown, already completed, or older than the
PAR lifetime plus the login session lifetime: the page must then show an error, never redirect.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from kaimen.authz.codes import AuthorizationCodes
from kaimen.authz.errors import InvalidRequestUri
from kaimen.authz.ports import Clients, Events
from kaimen.authz.pushed import PushedRequest, PushedRequests
from kaimen.events import AUTHORIZATION_APPROVED, AUTHORIZATION_DENIED
from kaimen.store.db import Database
from kaimen.store.types import utcnow


@dataclass(frozen=True)
class RequestSummary:
    client_name: str
    scopes: list[str]
    intent_id: str | None
    claims: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Decision:
    """Payload of ``authorization.approved`` and ``authorization.denied`` (audit)."""

    client_id: str
    customer_id: str
    scope: str
    intent_id: str | None
    acr: str | None = None
    amr: tuple[str, ...] = ()

    @classmethod
    def of(cls, pushed: PushedRequest, customer_id: str, **how: Any) -> Decision:
        scope = " ".join(pushed.params.scope)
        return cls(pushed.client_id, customer_id, scope, pushed.params.intent_id, **how)


def authorization_response(redirect_uri: str, params: dict[str, str | None]) -> str:
    """RFC 6749 §4.1.2: parameters added to the query component of the redirect URI, keeping any query
    it already has (§3.1.2: "MUST retain the query component")."""
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return redirect_uri + ("&" if "?" in redirect_uri else "?") + query


class AuthorizationFlow:
    def __init__(
        self,
        *,
        db: Database,
        issuer: str,
        clients: Clients,
        pushed: PushedRequests,
        codes: AuthorizationCodes,
        events: Events,
        session_ttl_seconds: int,
    ) -> None:
        self.db = db
        self.issuer = issuer
        self.clients = clients
        self.pushed = pushed
        self.codes = codes
        self.events = events
        self.session_ttl = timedelta(seconds=session_ttl_seconds)

    async def _request(self, request_id: str) -> PushedRequest:
        pushed = await self.pushed.get(request_id)
        if pushed is None or pushed.consumed_at is not None:
            raise InvalidRequestUri("the authorization request is unknown or already completed")
        if utcnow() > pushed.expires_at + self.session_ttl:
            raise InvalidRequestUri("the authorization request has expired")
        return pushed

    async def describe(self, request_id: str) -> RequestSummary:
        pushed = await self._request(request_id)
        client = await self.clients.get(pushed.client_id)
        return RequestSummary(
            client_name=client.name if client is not None else pushed.client_id,
            scopes=list(pushed.params.scope),
            intent_id=pushed.params.intent_id,
            claims=pushed.params.claims,
        )

    async def finish(
        self,
        *,
        request_id: str,
        customer_id: str,
        amr: list[str],
        acr: str,
        auth_time: datetime,
        approved: bool,
        consent: dict[str, Any] | None = None,
    ) -> str:
        """The URL to send the customer back to the client with (303)."""
        pushed = await self._request(request_id)
        client = await self.clients.get(pushed.client_id)
        if not approved or client is None or client.status != "approved":
            return await self._deny(pushed, customer_id)
        grant = {
            "nonce": pushed.params.nonce,
            "acr": acr,
            "amr": list(amr),
            "auth_time": int(auth_time.timestamp()),
            "claims": pushed.params.claims,
            "intent_id": pushed.params.intent_id,
            "consent": consent or {},
        }
        async with self.db.write() as session:
            if not await PushedRequests.consume(session, pushed.id):
                raise InvalidRequestUri("the authorization request is already completed")
            code = self.codes.add(
                session,
                client_id=pushed.client_id,
                customer_id=customer_id,
                redirect_uri=pushed.params.redirect_uri,
                code_challenge=pushed.params.code_challenge,
                dpop_jkt=pushed.dpop_jkt,
                scope=" ".join(pushed.params.scope),
                grant=grant,
            )
        self.events.emit(AUTHORIZATION_APPROVED, Decision.of(pushed, customer_id, acr=acr, amr=tuple(amr)))
        return authorization_response(
            pushed.params.redirect_uri, {"code": code, "state": pushed.params.state, "iss": self.issuer}
        )

    async def _deny(self, pushed: PushedRequest, customer_id: str) -> str:
        """RFC 6749 §4.1.2.1: "access_denied: The resource owner or authorization server denied the
        request", with state and iss."""
        async with self.db.write() as session:
            if not await PushedRequests.consume(session, pushed.id):
                raise InvalidRequestUri("the authorization request is already completed")
        self.events.emit(AUTHORIZATION_DENIED, Decision.of(pushed, customer_id))
        return authorization_response(
            pushed.params.redirect_uri,
            {"error": "access_denied", "state": pushed.params.state, "iss": self.issuer},
        )
