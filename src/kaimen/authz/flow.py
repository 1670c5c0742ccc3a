"""Where the customer's pages (identity/) hand the authorization back: ``describe`` tells the consent page
what is asked, ``authenticated`` says whether the customer who just authenticated may go on to it, and
``finish`` turns the customer's decision into the authorization response.

Every authorization response is a 303 to the pushed, registered redirect URI with ``state`` exactly as
sent and ``iss`` (RFC 9207 §2: "the authorization server MUST ... include the iss parameter" in every
authorization response, error responses included). The pushed request is consumed in the transaction
that stores the code (RFC 9126 §4: one-time use), so a second ``finish`` for it is refused.

``finish`` raises InvalidRequestUri when the request is unknown, already completed, or older than the
PAR lifetime plus the login session lifetime: the page must then show an error, never redirect. It
raises UntrustedClient when the client is unknown or its application no longer approved (suspended,
revoked or deleted while the customer was on the pages): /oauth2/authorize would no longer redirect to
it, so neither does the answer (RFC 6749 §4.1.2.1: with an invalid client the server "MUST NOT
automatically redirect the user-agent"; issue 3, item 5). The request is consumed and its consent
rejected all the same, so it cannot be completed later.

The consent the request names (``openbanking_intent_id``, checked at PAR) is read again for the page
and again when the customer answers: it may have been deleted, or have expired, meanwhile. Approving it
moves the consent on (its kind's ``approve``, with the accounts the customer chose, which must be among
the accounts offered) before the code is stored; if the consent can no longer be approved, the answer
is ``access_denied``. Denying it rejects it.

Right after the customer authenticated (password and second factor), before the consent page shows
anything of the request, the authentication must be the one the client asked for (``authenticated``):
a ``sub`` requested with a value in ``claims.id_token`` must be the authenticated customer's (OIDC Core
§5.5.1), and an Essential ``acr`` must be met (OIDC Core §5.5.1.1, kaimen.authz.acr). When either is
not, the authorization ends there with the error redirect, and the consent is left as it was: the
person who logged in is not the one the client meant, so they are shown neither the TPP's request nor
the consent. The login pages are the only way to the consent step, so ``finish`` does not check them
again; the code's grant carries the acr the ID token will.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NoReturn, Protocol
from urllib.parse import urlencode

from kaimen.authz import acr as acr_values
from kaimen.authz.codes import AuthorizationCodes
from kaimen.authz.errors import AccessDenied, InvalidRequestUri, OAuthError, UntrustedClient
from kaimen.authz.ports import Clients, ClientView, Events, IntentKind
from kaimen.authz.pushed import PushedRequest, PushedRequests
from kaimen.authz.subject import PairwiseSubjects
from kaimen.events import AUTHORIZATION_APPROVED, AUTHORIZATION_DENIED
from kaimen.store.db import Database
from kaimen.store.types import utcnow


class CustomerAccounts(Protocol):
    async def accounts(self, customer_id: str) -> list[Any]: ...  # kaimen.ledger.core.Account


@dataclass(frozen=True, slots=True)
class OfferedAccount:
    account_id: str
    label: str


@dataclass(frozen=True)
class RequestSummary:
    client_name: str
    scopes: list[str]
    intent_id: str | None
    claims: dict[str, Any]
    intent: Any = None  # the consent (an IntentView), None when it can no longer be authorised
    accounts: tuple[OfferedAccount, ...] = ()  # the customer's accounts the consent may cover
    debtor_accounts: tuple[OfferedAccount, ...] = ()  # the accounts a payment may be made from


def account_label(account: Any) -> str:
    """What the customer recognises an account by: its nickname (or type), sort code and number."""
    name = account.nickname or account.name or str(account.account_subtype)
    number = account.identification
    if account.scheme_name.endswith("SortCodeAccountNumber") and len(number) == 14:
        number = f"{number[0:2]}-{number[2:4]}-{number[4:6]} {number[6:]}"
    return f"{name}, {number} ({account.currency})"


@dataclass(frozen=True, slots=True)
class Decision:
    """Payload of ``authorization.approved`` and ``authorization.denied`` (audit)."""

    client_id: str
    customer_id: str | None  # None when the request ended before anyone logged in
    scope: str
    intent_id: str | None
    acr: str | None = None
    amr: tuple[str, ...] = ()
    error: str | None = None  # the error code a denied request was answered with

    @classmethod
    def of(cls, pushed: PushedRequest, customer_id: str | None, **how: Any) -> Decision:
        scope = " ".join(pushed.params.scope)
        return cls(pushed.client_id, customer_id, scope, pushed.params.intent_id, **how)


def requested_sub_mismatch(
    pushed: PushedRequest, client: ClientView, customer_id: str, subjects: PairwiseSubjects
) -> OAuthError | None:
    """OIDC Core §5.5.1: "If a sub (subject) Claim is requested with a specific value for the ID
    Token, the Authorization Server MUST only send a positive response if the End-User identified by
    that sub value has an active session with the Authorization Server or has been Authenticated as a
    result of the request. The Authorization Server MUST NOT reply with an ID Token or Access Token for
    a different user". The customer's sub is the pairwise one the client's ID tokens carry.

    The error is access_denied (RFC 6749 §4.1.2.1: "The resource owner or authorization server denied
    the request"): the customer did authenticate, so OIDC Core §3.1.2.6's login_required ("cannot be
    completed without displaying a user interface for End-User authentication") does not fit."""
    requested = pushed.params.claims.get("id_token", {}).get("sub")
    if not isinstance(requested, dict) or "value" not in requested:
        return None
    if requested["value"] == subjects.sub(client.application_id, customer_id):
        return None
    return AccessDenied("the authenticated customer is not the requested sub")


def unmet_essential_acr(pushed: PushedRequest, performed: str) -> OAuthError | None:
    """OIDC Core §5.5.1.1: an Essential acr the authentication did not meet: "the Authorization Server
    MUST treat that outcome as a failed authentication attempt", which ends the authorization with
    access_denied (RFC 6749 §4.1.2.1)."""
    if acr_values.unmet(pushed.params.claims, performed):
        return AccessDenied("the essential acr requested was not met")
    return None


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
        intents: Mapping[str, IntentKind],
        customer_accounts: CustomerAccounts,
        subjects: PairwiseSubjects,
    ) -> None:
        self.db = db
        self.issuer = issuer
        self.clients = clients
        self.pushed = pushed
        self.codes = codes
        self.events = events
        self.session_ttl = timedelta(seconds=session_ttl_seconds)
        self.intents = intents
        self.customer_accounts = customer_accounts
        self.subjects = subjects

    async def _request(self, request_id: str) -> PushedRequest:
        pushed = await self.pushed.get(request_id)
        if pushed is None or pushed.consumed_at is not None:
            raise InvalidRequestUri("the authorization request is unknown or already completed")
        if utcnow() > pushed.expires_at + self.session_ttl:
            raise InvalidRequestUri("the authorization request has expired")
        return pushed

    def _kind(self, pushed: PushedRequest) -> IntentKind | None:
        scope = pushed.params.consent_scope
        return self.intents.get(scope) if scope is not None else None

    async def _intent(self, pushed: PushedRequest) -> tuple[IntentKind, Any] | None:
        """The request's consent and its kind, when it may still be authorised."""
        kind = self._kind(pushed)
        if kind is None or pushed.params.intent_id is None:
            return None
        intent = await kind.for_authorisation(pushed.params.intent_id, pushed.client_id)
        return (kind, intent) if intent is not None else None

    async def _offered(self, kind: IntentKind, intent: Any, customer_id: str) -> list[Any]:
        accounts = await self.customer_accounts.accounts(customer_id)
        return [account for account in accounts if kind.offers(intent, account)]

    async def describe(self, request_id: str, customer_id: str | None = None) -> RequestSummary:
        """What the pages show: the client, the scopes, and once the customer is known, the consent and
        the accounts it may cover."""
        pushed = await self._request(request_id)
        client = await self.clients.get(pushed.client_id)
        intent: Any = None
        offered: tuple[OfferedAccount, ...] = ()
        debtor = False
        if customer_id is not None:
            found = await self._intent(pushed)
            if found is not None:
                kind, intent = found
                debtor = kind.choice == "debtor"
                offered = tuple(
                    OfferedAccount(a.account_id, account_label(a))
                    for a in await self._offered(kind, intent, customer_id)
                )
        return RequestSummary(
            client_name=client.name if client is not None else pushed.client_id,
            scopes=list(pushed.params.scope),
            intent_id=pushed.params.intent_id,
            claims=pushed.params.claims,
            intent=intent,
            accounts=() if debtor else offered,
            debtor_accounts=offered if debtor else (),
        )

    async def authenticated(self, *, request_id: str, customer_id: str, acr: str) -> str | None:
        """The customer has just authenticated, with an authentication that achieved ``acr``: None when
        they may go on to the consent page, else the URL of the error redirect (303) that ends the
        authorization (request consumed, no code, ``authorization.denied``), before the page shows them
        anything of the request. A client no longer trusted raises UntrustedClient, as in ``finish``."""
        pushed = await self._request(request_id)
        client = await self._trusted_client(pushed, customer_id)
        refusal = requested_sub_mismatch(pushed, client, customer_id, self.subjects)
        refusal = refusal or unmet_essential_acr(pushed, acr)
        if refusal is None:
            return None
        return await self._deny(pushed, customer_id, refusal)

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
        await self._trusted_client(pushed, customer_id)
        found = await self._intent(pushed)
        # RFC 9126 §4, one-time use: the request is consumed before the consent changes, so that of two
        # submissions at once (two tabs, a double click) only the one that gets the code touches it.
        await self._consume(pushed)
        if not approved or found is None:
            if found is not None:
                await found[0].reject(found[1])
            return self._denied(pushed, customer_id)
        kind, intent = found
        answer = consent or {}
        if kind.choice == "debtor":
            chosen = [answer["debtor_account_id"]] if answer.get("debtor_account_id") else []
        else:
            chosen = sorted(set(answer.get("account_ids") or []))
        offered = {a.account_id for a in await self._offered(kind, intent, customer_id)}
        if not set(chosen) <= offered or not await kind.approve(intent, customer_id, chosen):
            return self._denied(pushed, customer_id)
        expires_at = intent.expires_at
        grant = {
            "nonce": pushed.params.nonce,
            "acr": acr_values.returned(pushed.params.claims, acr),
            "amr": list(amr),
            "auth_time": int(auth_time.timestamp()),
            "claims": pushed.params.claims,
            "intent_id": pushed.params.intent_id,
            "consent": {**answer, "account_ids": chosen},
            # Refresh tokens live no longer than the consent (issue 4, item 6).
            "consent_expires_at": int(expires_at.timestamp()) if expires_at is not None else None,
        }
        async with self.db.write() as session:
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

    async def refuse(self, pushed: PushedRequest, error: OAuthError) -> str:
        """End a valid request before any page is shown (OIDC Core §3.1.2.1 prompt=none): the error
        redirect, the request consumed, no customer, the consent untouched."""
        return await self._deny(pushed, None, error)

    async def _trusted_client(self, pushed: PushedRequest, customer_id: str) -> Any:
        """The request's client, confirmed approved in the database (a suspension by another worker
        counts at once, ClientRegistry.current); else the request ends as :meth:`_end_untrusted` says."""
        client = await self.clients.current(pushed.client_id)
        if client is None or client.status != "approved":
            await self._end_untrusted(pushed, customer_id)
        return client

    async def _end_untrusted(self, pushed: PushedRequest, customer_id: str) -> NoReturn:
        """The client is no longer trusted: reject the consent, consume the request, record the
        denial, and raise UntrustedClient for the page to show, instead of a redirect."""
        refusal = UntrustedClient("the client is unknown or not approved")
        found = await self._intent(pushed)
        if found is not None:
            await found[0].reject(found[1])
        await self._consume(pushed)
        self.events.emit(AUTHORIZATION_DENIED, Decision.of(pushed, customer_id, error=refusal.error))
        raise refusal

    async def _consume(self, pushed: PushedRequest) -> None:
        async with self.db.write() as session:
            if not await PushedRequests.consume(session, pushed.id):
                raise InvalidRequestUri("the authorization request is already completed")

    async def _deny(
        self, pushed: PushedRequest, customer_id: str | None, error: OAuthError | None = None
    ) -> str:
        """RFC 6749 §4.1.2.1: the error code (by default "access_denied: The resource owner or
        authorization server denied the request") with state and iss; no code is issued and the
        request is consumed."""
        await self._consume(pushed)
        return self._denied(pushed, customer_id, error)

    def _denied(self, pushed: PushedRequest, customer_id: str | None, error: OAuthError | None = None) -> str:
        """:meth:`_deny` for a request already consumed."""
        code = (error or AccessDenied()).error
        self.events.emit(AUTHORIZATION_DENIED, Decision.of(pushed, customer_id, error=code))
        return authorization_response(
            pushed.params.redirect_uri, {"error": code, "state": pushed.params.state, "iss": self.issuer}
        )
