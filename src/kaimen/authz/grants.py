"""The token endpoint's grants (RFC 6749 §4.1.3, §6, §4.4). Each receives the form, the authenticated
client and the thumbprint of the DPoP proof's key (FAPI 2.0 §5.3.3.1: every token is DPoP-bound), and
answers the token response body.

Refresh tokens: issued with the authorization code grant for ``accounts`` and ``fundsconfirmations``
(long-lived consents a TPP reads again), never for ``payments`` (a payment consent is used once), and
only to clients whose registered grant_types include refresh_token. They are not rotated (FAPI 2.0
§5.3.2.1); a refresh issues a new access token bound to the key of that request's DPoP proof, and no
new ID token (OIDC Core §12.2 makes it optional).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from kaimen.authz import pkce
from kaimen.authz.codes import AuthorizationCodes, CodeGrant
from kaimen.authz.errors import InvalidGrant, InvalidRequest, InvalidScope
from kaimen.authz.id_token import IdTokens
from kaimen.authz.ports import ClientView, Events, Tokens
from kaimen.authz.requests import CONSENT_SCOPES
from kaimen.authz.tokens import new_grant_id
from kaimen.events import TOKEN_ISSUED, TOKEN_REFRESHED
from kaimen.store.types import utcnow

REFRESHABLE_SCOPES = frozenset({"accounts", "fundsconfirmations"})
DEFAULT_GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")


@dataclass(frozen=True, slots=True)
class TokenIssued:
    """Payload of ``token.issued`` and ``token.refreshed`` (audit): never the token itself."""

    grant_type: str
    client_id: str
    grant_id: str
    scope: str
    refresh_token: bool  # whether a refresh token came with it


class Grant(Protocol):
    async def __call__(self, form: Mapping[str, str], client: ClientView, jkt: str) -> dict[str, Any]: ...


def registered_grant_types(client: ClientView) -> tuple[str, ...]:
    grant_types = client.metadata.get("grant_types")
    return tuple(grant_types) if isinstance(grant_types, list) else DEFAULT_GRANT_TYPES


def token_body(issued: Any, scope: str) -> dict[str, Any]:
    """RFC 6749 §5.1 with RFC 9449 §5: token_type is DPoP."""
    body: dict[str, Any] = {
        "access_token": issued.access_token,
        "token_type": "DPoP",
        "expires_in": issued.expires_in,
        "scope": scope,
    }
    if issued.refresh_token is not None:
        body["refresh_token"] = issued.refresh_token
    return body


def _required(form: Mapping[str, str], name: str) -> str:
    value = form.get(name)
    if not value:
        raise InvalidRequest(f"{name} is required")
    return value


class AuthorizationCodeGrant:
    def __init__(
        self,
        *,
        codes: AuthorizationCodes,
        tokens: Tokens,
        id_tokens: IdTokens,
        events: Events,
        refresh_ttl_seconds: int,
    ) -> None:
        self.codes = codes
        self.tokens = tokens
        self.id_tokens = id_tokens
        self.events = events
        self.refresh_ttl = timedelta(seconds=refresh_ttl_seconds)

    async def __call__(self, form: Mapping[str, str], client: ClientView, jkt: str) -> dict[str, Any]:
        found = await self.codes.find(_required(form, "code"))
        if found is None:
            raise InvalidGrant("the authorization code is invalid")
        if found.consumed_at is not None:
            await self._reused(found)
        self.check_binding(found, form, client, form.get("code_verifier"), jkt)
        if not await self.codes.consume(found.digest):
            await self._reused(found)  # lost the race to another redemption, or expired meanwhile
        body = await self._issue(found, client, jkt)
        if await self.codes.was_reused(found.digest):
            # Another redemption came while these tokens were issued: revoke them, refuse.
            await self.tokens.revoke_grant(found.grant_id)
            raise InvalidGrant("the authorization code was already used")
        return body

    async def _reused(self, found: CodeGrant) -> None:
        """RFC 6749 §4.1.2 / RFC 9700 §4.5: deny, and revoke what the first use issued."""
        if found.consumed_at is None and found.expired:
            raise InvalidGrant("the authorization code has expired")
        await self.codes.mark_reused(found.digest)
        await self.tokens.revoke_grant(found.grant_id)
        raise InvalidGrant("the authorization code was already used")

    @staticmethod
    def check_binding(
        found: CodeGrant, form: Mapping[str, str], client: ClientView, verifier: str | None, jkt: str
    ) -> None:
        """RFC 6749 §4.1.3: the code was issued to this client, for this redirect_uri ("ensure that the
        redirect_uri parameter is present ... and if included ensure that their values are
        identical"), is unexpired (FAPI 2.0 §5.3.2.1: ≤ 60 s); RFC 7636 §4.6: the verifier matches the
        challenge ("If the values are not equal, an error response indicating "invalid_grant" as
        described in Section 5.2 of [RFC6749] MUST be returned"): every code carries a challenge, so a
        redemption without a verifier fails that check too (the FAPI 2.0 conformance module
        FAPI2SPFinalPAREnsurePKCECodeVerifierRequired expects invalid_grant); RFC 9449 §10: the proof's
        key is the one the code is bound to. A refusal here leaves the code unconsumed, so a request
        without the verifier cannot burn the legitimate client's code."""
        if found.expired:
            raise InvalidGrant("the authorization code has expired")
        if found.client_id != client.client_id:
            raise InvalidGrant("the authorization code was issued to another client")
        if form.get("redirect_uri") != found.redirect_uri:
            raise InvalidGrant("redirect_uri does not match the authorization request")
        if not verifier:
            raise InvalidGrant("code_verifier is required: the authorization code has a code_challenge")
        if not pkce.verifies(verifier, found.code_challenge):
            raise InvalidGrant("code_verifier does not match the code_challenge")
        if found.dpop_jkt is not None and found.dpop_jkt != jkt:
            raise InvalidGrant("the DPoP key is not the key the authorization code is bound to")

    async def _issue(self, found: CodeGrant, client: ClientView, jkt: str) -> dict[str, Any]:
        """The ID token is made first: if signing or encryption fails, no token has been issued."""
        scopes = set(found.scope.split())
        refresh = bool(scopes & REFRESHABLE_SCOPES) and "refresh_token" in registered_grant_types(client)
        grant = found.grant
        refresh_expires_at = None
        if refresh:
            refresh_expires_at = utcnow() + self.refresh_ttl
            consent_ends = grant.get("consent_expires_at")
            if consent_ends is not None:  # never past the consent (issue 4, item 6)
                refresh_expires_at = min(refresh_expires_at, datetime.fromtimestamp(consent_ends, UTC))
        claims = self.id_tokens.claims(
            client,
            customer_id=found.customer_id,
            grant=grant,
            now=int(time.time()),
            refresh_expires_at=refresh_expires_at,
        )
        id_token = await self.id_tokens.issue(client, claims)
        issued = await self.tokens.issue(
            client_id=client.client_id,
            customer_id=found.customer_id,
            scope=found.scope,
            jkt=jkt,
            grant_id=found.grant_id,
            consent_id=grant.get("intent_id"),
            details={
                "sub": claims["sub"],
                "acr": grant["acr"],
                "amr": grant["amr"],
                "auth_time": grant["auth_time"],
                "intent_id": grant.get("intent_id"),
                "consent": grant.get("consent", {}),
                "userinfo_claims": grant.get("claims", {}).get("userinfo", {}),
            },
            refresh=refresh,
            refresh_expires_at=refresh_expires_at,
        )
        self.events.emit(
            TOKEN_ISSUED,
            TokenIssued("authorization_code", client.client_id, found.grant_id, found.scope, refresh),
        )
        return {**token_body(issued, found.scope), "id_token": id_token}


class RefreshTokenGrant:
    def __init__(self, *, tokens: Tokens, events: Events) -> None:
        self.tokens = tokens
        self.events = events

    async def __call__(self, form: Mapping[str, str], client: ClientView, jkt: str) -> dict[str, Any]:
        """RFC 6749 §6: the refresh token must have been issued to the authenticated client ("the
        authorization server MUST ... validate the refresh token ... and ensure that the refresh token
        was issued to the authenticated client"); a narrower scope may be asked for, never a wider one."""
        found = await self.tokens.refresh(_required(form, "refresh_token"))
        if found is None or found.client_id != client.client_id:
            raise InvalidGrant("the refresh token is invalid")
        scopes = found.scope
        if "scope" in form:
            asked = frozenset(s for s in form["scope"].split(" ") if s)
            if not asked or not asked <= found.scope:
                raise InvalidScope("scope exceeds the scope originally granted")
            scopes = asked
        scope = " ".join(sorted(scopes))
        # Checked again, atomically with the insert: a revocation of the grant or consent may have
        # landed since the read above, and no token may be minted after it answered.
        issued = await self.tokens.issue_refreshed(
            form["refresh_token"], client_id=client.client_id, scope=scope, jkt=jkt
        )
        if issued is None:
            raise InvalidGrant("the refresh token is invalid")
        self.events.emit(
            TOKEN_REFRESHED, TokenIssued("refresh_token", client.client_id, found.grant_id, scope, False)
        )
        return token_body(issued, scope)


class ClientCredentialsGrant:
    def __init__(self, *, tokens: Tokens, events: Events) -> None:
        self.tokens = tokens
        self.events = events

    async def __call__(self, form: Mapping[str, str], client: ClientView, jkt: str) -> dict[str, Any]:
        """RFC 6749 §4.4: a token for the client itself (TPPs create consents with it). Scope from
        accounts, payments, fundsconfirmations; openid is refused (there is no customer); no refresh
        token (§4.4.3: "A refresh token SHOULD NOT be included"), no ID token."""
        asked = tuple(dict.fromkeys(s for s in form.get("scope", "").split(" ") if s))
        if not asked:
            raise InvalidScope("scope is required")
        if not set(asked) <= CONSENT_SCOPES:
            raise InvalidScope("scope must be among accounts, payments, fundsconfirmations")
        registered = client.metadata.get("scope")
        if isinstance(registered, str) and not set(asked) <= set(registered.split()):
            raise InvalidScope("scope exceeds the client's registered scope")
        scope = " ".join(asked)
        grant_id = new_grant_id()
        issued = await self.tokens.issue(
            client_id=client.client_id,
            customer_id=None,
            scope=scope,
            jkt=jkt,
            grant_id=grant_id,
            consent_id=None,
            details={},
            refresh=False,
        )
        self.events.emit(
            TOKEN_ISSUED, TokenIssued("client_credentials", client.client_id, grant_id, scope, False)
        )
        return token_body(issued, scope)
