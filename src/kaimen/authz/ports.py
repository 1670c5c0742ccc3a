"""What the authorization flow (PAR, authorize, token endpoint) needs from the other parts, as small
protocols (STYLE.md §6): clients and client authentication (clients.py, client_auth.py), DPoP and tokens
(dpop.py, tokens.py), and the customer's pages (identity/). The real classes satisfy them structurally;
tests may hand in fakes that follow the same contract."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from joserfc.jwk import KeySet
from starlette.responses import Response


class ClientView(Protocol):
    """An OAuth client (a TPP application): the fields the flow reads."""

    @property
    def client_id(self) -> str: ...
    @property
    def application_id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def redirect_uris(self) -> tuple[str, ...]: ...
    @property
    def metadata(self) -> dict[str, Any]: ...


class Clients(Protocol):
    async def get(self, client_id: str) -> Any: ...  # a ClientView or None

    # get(), with the application's status and tier confirmed where the cache can lag another
    # worker's change (kaimen.authz.clients.ClientRegistry.current): for every decision to trust it.
    async def current(self, client_id: str) -> Any: ...

    async def keys(self, client: Any) -> KeySet: ...


class ClientAuth(Protocol):
    async def authenticate(
        self, form: Mapping[str, str], *, headers: Mapping[str, str] | None = None
    ) -> Any: ...  # a ClientView; raises InvalidClient

    async def verify(
        self, form: Mapping[str, str], *, headers: Mapping[str, str] | None = None
    ) -> Any: ...  # a client_auth.VerifiedAssertion, its jti not yet used up; raises InvalidClient

    async def use(self, verified: Any) -> Any: ...  # the ClientView, once the jti is recorded


class Dpop(Protocol):
    async def verify(
        self,
        proof: str | None,
        *,
        method: str,
        url: str,
        access_token: str | None = None,
        expected_jkt: str | None = None,
    ) -> str: ...

    def check(
        self, proof: str | None, *, method: str, url: str, access_token: str | None = None
    ) -> Any: ...  # a dpop.CheckedProof

    async def use(self, checked: Any) -> str: ...  # the key's thumbprint, once the proof is used up

    async def use_reading(
        self,
        checked: Any,
        sql: str,
        params: dict[str, Any],
        read: Callable[[], Awaitable[list[tuple[Any, ...]]]],
    ) -> tuple[bool, list[tuple[Any, ...]]]: ...

    def nonce_header(self) -> dict[str, str]: ...


class IssuedTokensView(Protocol):
    @property
    def access_token(self) -> str: ...
    @property
    def expires_in(self) -> int: ...
    @property
    def refresh_token(self) -> str | None: ...
    @property
    def refresh_expires_at(self) -> datetime | None: ...


class RefreshTokenView(Protocol):
    @property
    def client_id(self) -> str: ...
    @property
    def customer_id(self) -> str | None: ...
    @property
    def scope(self) -> frozenset[str]: ...
    @property
    def jkt(self) -> str | None: ...
    @property
    def consent_id(self) -> str | None: ...
    @property
    def grant_id(self) -> str: ...
    @property
    def expires_at(self) -> datetime: ...
    @property
    def details(self) -> dict[str, Any]: ...


class Tokens(Protocol):
    async def issue(
        self,
        *,
        client_id: str,
        customer_id: str | None,
        scope: str,
        jkt: str,
        grant_id: str,
        consent_id: str | None,
        details: dict[str, Any],
        refresh: bool,
        refresh_expires_at: datetime | None = None,
    ) -> Any: ...  # an IssuedTokensView

    async def refresh(self, token: str) -> Any: ...  # a RefreshTokenView or None

    async def issue_refreshed(
        self, refresh_token: str, *, client_id: str, scope: str, jkt: str
    ) -> Any: ...  # an IssuedTokensView, or None when the refresh token no longer holds

    async def revoke_grant(self, grant_id: str) -> None: ...


class Interactions(Protocol):
    async def start(self, request_id: str, response: Response) -> str: ...  # the login page's URL


class Events(Protocol):
    def emit(self, name: str, payload: Any) -> None: ...


class IntentView(Protocol):
    """A consent ("intent" in UK OB terms) named by a PAR request's ``openbanking_intent_id``: what the
    customer is asked to authorise."""

    @property
    def intent_id(self) -> str: ...
    @property
    def status(self) -> str: ...  # AwaitingAuthorisation, or Authorised when re-authenticating
    @property
    def expires_at(self) -> datetime | None: ...
    @property
    def permissions(self) -> tuple[str, ...]: ...  # UK OB permission codes; () when the kind has none
    @property
    def account_ids(self) -> tuple[str, ...]: ...  # chosen at an earlier authorisation, else ()


class IntentKind(Protocol):
    """One kind of consent (one consent scope: ``accounts``, ``fundsconfirmations``, ``payments``), as
    the authorization flow needs it. The consents' own package implements it."""

    # "accounts": the customer ticks the accounts to share (checkboxes account_id); "debtor": they pick
    # the one account to pay from (radios debtor_account_id). DESIGN.md sandbox contract.
    choice: str

    async def for_authorisation(self, intent_id: str, client_id: str) -> Any: ...

    # an IntentView when ``client_id`` may have it authorised now (its own, unexpired, awaiting
    # authorisation or, where the kind allows re-authentication, authorised); None otherwise

    def offers(self, intent: Any, account: Any) -> bool: ...

    # whether the customer may choose this account (a kaimen.ledger.core.Account) for it

    async def approve(self, intent: Any, customer_id: str, account_ids: list[str]) -> bool: ...

    # the customer approved it with these (offered) accounts; False when it can no longer be

    async def reject(self, intent: Any) -> bool: ...

    # the customer denied it; False when there was nothing to reject (e.g. already authorised)


@runtime_checkable
class MintsIntent(Protocol):
    """A kind of consent the authorization server may create itself, for a PAR request that names none
    (settings.oauth.conformance_mint_account_consent): only where a consent needs nothing the TPP or
    the customer must choose."""

    async def mint(self, client_id: str) -> str: ...  # the id of a new AwaitingAuthorisation consent
