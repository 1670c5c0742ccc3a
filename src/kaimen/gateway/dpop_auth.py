"""DpopAuth: protected APIs take ``Authorization: DPoP <token>`` plus a DPoP proof (issue 3 item 8).

For an API whose policy says ``auth: dpop`` the gateway checks, before any handler runs:
- the token: one Authorization header, scheme DPoP, a token that is known, unexpired and unrevoked
  (RFC 6750 §3.1 invalid_token). RFC 9449 §7.2: a DPoP-bound token sent as ``Bearer`` is refused;
- the proof (RFC 9449 §4.3, kaimen.authz.dpop): htm, htu (built from the public base URL, never the
  Host header), iat, jti once, ath = hash of this token, nonce when configured;
- the binding, §4.3 item 12: "confirm that the public key to which the access token is bound matches
  the public key from the DPoP proof" (refused as invalid_token, as §7.1's example does);
- the scope: the API's ``policy.scopes`` all in the token's scope, else 403 insufficient_scope;
- the client: still an approved application, whose tier and rate limits then apply (TierPolicy and
  RateLimit read ``call.caller``, filled in here from the client). Status and tier come from the
  token's own lookup where the per-process client cache could lag a change made by another worker
  (``AccessToken.standing``, PostgreSQL), so a suspension counts on the next call without another
  database round trip.
It hands the handler the token (customer, client, consent id) in ``call.token``.

On PostgreSQL, for a token this worker already holds, the proof's jti is used up at the same time as
the token's liveness and standing are read: in one statement without Redis, concurrently with it
(``TokenService.live_read``, ``DpopVerifier.use_reading``); the proof is then checked before the token
is confirmed, where otherwise the token is looked up first.

RFC 9449 §7.1: a 401 carries ``WWW-Authenticate: DPoP`` with the error and ``algs``; RFC 6750 §3.1:
a request without any token gets the challenge without an error code. Errors of UK OB APIs are
rendered as OBErrorResponse1 through the ApiError path, others as RFC 6750 JSON; the challenge header
is there either way. The same check serves the userinfo endpoint (:class:`ResourceGuard`).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Protocol

from kaimen.authz.discovery import DPOP_ALGS
from kaimen.authz.dpop import PROOF_USED, single_proof
from kaimen.authz.errors import InvalidDpopProof, OAuthError, UseDpopNonce
from kaimen.authz.http import NO_STORE
from kaimen.authz.ports import Dpop
from kaimen.authz.tokens import AccessToken, LiveRead
from kaimen.errors import ApiError, BadRequest, Forbidden, Unauthorized
from kaimen.errors.render import Family
from kaimen.gateway.context import Call, Caller

# RFC 9449 §7.1 algs: the proof algorithms accepted (discovery.DPOP_ALGS), the most common first.
ALGS = 'algs="' + " ".join(sorted(DPOP_ALGS, key=("ES256", "PS256", "EdDSA").index)) + '"'
# RFC 6750 §2.1 b64token (the token68 syntax of RFC 9110 §11.2).
_TOKEN68 = re.compile(r"^[A-Za-z0-9\-._~+/]+=*$")
_APPROVED = "approved"


class ResourceRefusal(OAuthError):
    """A refusal at a protected resource: RFC 6750 §3.1 / RFC 9449 §7.1 error, status and challenge."""

    def __init__(self, error: str, status: int, description: str, headers: dict[str, str] | None = None):
        super().__init__(description)
        self.error = error
        self.status = status
        challenge = f'DPoP error="{error}", error_description="{self.description}", {ALGS}'
        if error == "":
            challenge = f"DPoP {ALGS}"  # RFC 6750 §3.1: no error code when no credentials were sent
            self.error = "invalid_token"
        self.headers = {"WWW-Authenticate": challenge, **(headers or {})}


class TokenLookup(Protocol):
    async def access(self, token: str) -> AccessToken | None: ...

    def live_read(self, token: str) -> LiveRead | None: ...

    async def read_live(self, live: LiveRead) -> list[tuple[Any, ...]]: ...

    def confirmed(self, live: LiveRead, rows: list[tuple[Any, ...]]) -> AccessToken | None: ...


class ClientLookup(Protocol):
    async def get(self, client_id: str) -> Any: ...  # has application_id, status, tier; or None


def _token_of(authorization: list[str]) -> str:
    if not authorization:
        raise ResourceRefusal("", 401, "an access token is required")
    if len(authorization) > 1:
        raise ResourceRefusal("invalid_request", 400, "more than one Authorization header")
    scheme, _, token = authorization[0].strip().partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer":
        # RFC 9449 §7.2: a DPoP-bound access token must be sent with the DPoP scheme.
        raise ResourceRefusal("invalid_token", 401, "DPoP-bound access tokens must use the DPoP scheme")
    if scheme != "dpop":
        raise ResourceRefusal("", 401, "an access token is required")
    token = token.strip()
    if not _TOKEN68.match(token):
        raise ResourceRefusal("invalid_token", 401, "the access token is malformed")
    return token


def _invalid_token() -> ResourceRefusal:
    return ResourceRefusal("invalid_token", 401, "the access token is invalid, expired or revoked")


@contextlib.contextmanager
def _proof_refusals() -> Iterator[None]:
    """A refused DPoP proof as the resource's refusal."""
    try:
        yield
    except UseDpopNonce as exc:
        # RFC 9449 §9: a resource server answers 401 with use_dpop_nonce and a DPoP-Nonce header.
        raise ResourceRefusal("use_dpop_nonce", 401, exc.description, exc.headers) from exc
    except InvalidDpopProof as exc:
        raise ResourceRefusal("invalid_dpop_proof", 401, exc.description) from exc


class ResourceGuard:
    """The resource-side check of a DPoP-bound access token; raises ResourceRefusal."""

    def __init__(self, tokens: TokenLookup, dpop: Dpop) -> None:
        self.tokens = tokens
        self.dpop = dpop

    async def check(
        self,
        *,
        authorization: list[str],
        proofs: list[str],
        method: str,
        path: str,
        required_scopes: Iterable[str] = (),
    ) -> AccessToken:
        token = _token_of(authorization)
        live = self.tokens.live_read(token)
        if live is not None:
            found, jkt = await self._held(token, live, proofs, method, path)
        else:
            found, jkt = await self._looked_up(token, proofs, method, path)
        if jkt != found.jkt:
            raise ResourceRefusal("invalid_token", 401, "invalid DPoP key binding")
        missing = set(required_scopes) - found.scope
        if missing:
            # RFC 6750 §3.1 insufficient_scope: 403, "MAY include the scope attribute".
            refusal = ResourceRefusal("insufficient_scope", 403, "the access token lacks a required scope")
            refusal.headers["WWW-Authenticate"] += f', scope="{" ".join(sorted(set(required_scopes)))}"'
            raise refusal
        return found

    async def _looked_up(
        self, token: str, proofs: list[str], method: str, path: str
    ) -> tuple[AccessToken, str]:
        """The token first (no signature is checked for a token that is not live), then the proof."""
        found = await self.tokens.access(token)
        if found is None:
            raise _invalid_token()
        with _proof_refusals():
            jkt = await self.dpop.verify(single_proof(proofs), method=method, url=path, access_token=token)
        return found, jkt

    async def _held(
        self, token: str, live: LiveRead, proofs: list[str], method: str, path: str
    ) -> tuple[AccessToken, str]:
        """A token this worker holds, on PostgreSQL (``TokenService.live_read``): the proof's one-time
        use and the token's liveness read go at once (one statement without Redis, concurrently with
        it: ``DpopVerifier.use_reading``), so the proof is checked first. The refusals are the ones the
        other order gives, whichever worker answers: a dead token is ``invalid_token`` whatever its
        proof, so a bad proof is reported only after the token is read alone."""
        with _proof_refusals():
            try:
                checked = self.dpop.check(single_proof(proofs), method=method, url=path, access_token=token)
            except (InvalidDpopProof, UseDpopNonce):
                if await self.tokens.access(token) is None:
                    raise _invalid_token() from None
                raise
        fresh, rows = await self.dpop.use_reading(
            checked, live.sql, live.params, lambda: self.tokens.read_live(live)
        )
        found = self.tokens.confirmed(live, rows)
        if found is None:
            raise _invalid_token()
        if not fresh:
            raise ResourceRefusal("invalid_dpop_proof", 401, PROOF_USED)
        return found, checked.jkt


def header_values(headers: list[tuple[bytes, bytes]], name: bytes) -> list[str]:
    return [value.decode("latin-1") for key, value in headers if key == name]


def request_path(scope: Mapping[str, Any]) -> str:
    """The path as sent (percent-encoded, no query): what the client's htu names."""
    raw = scope.get("raw_path")
    path = raw.decode("latin-1") if raw else scope["path"]
    return str(path).split("?", 1)[0]


def _as_api_error(refusal: OAuthError) -> ApiError:
    """A refusal in the UK OB family (OBErrorResponse1), keeping the challenge headers."""
    if refusal.status == 403:
        return Forbidden(
            refusal.description, headers=refusal.headers, ob_code="UK.OBIE.Resource.ConsentMismatch"
        )
    if refusal.status == 400:
        return BadRequest(refusal.description, headers=refusal.headers, ob_code="UK.OBIE.Header.Invalid")
    missing = refusal.headers.get("WWW-Authenticate", "").startswith("DPoP algs")
    code = "UK.OBIE.Header.Missing" if missing else "UK.OBIE.Header.Invalid"
    return Unauthorized(refusal.description, headers=refusal.headers, ob_code=code)


async def _send_oauth_error(send: Any, refusal: OAuthError) -> None:
    body = refusal.body()
    headers = {**NO_STORE, **refusal.headers, "content-type": "application/json"}
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    raw.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": refusal.status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


async def approved_client(clients: ClientLookup, token: AccessToken) -> tuple[Any, Any]:
    """The token's client and its standing (status and tier), refused unless its application is still
    approved: the status and tier read with the token on this very call where the client cache can lag
    another worker's suspension or tier change (PostgreSQL, kaimen.authz.tokens), the cache's where it
    is exact (SQLite, ``standing`` is None). Every protected resource asks this, userinfo included."""
    client = await clients.get(token.client_id)
    standing = token.standing or client
    if client is None or str(standing.status) != _APPROVED:
        raise ResourceRefusal("invalid_token", 401, "the client is not approved")
    return client, standing


class DpopAuth:
    def __init__(self, app: Any, *, tokens: TokenLookup, dpop: Dpop, clients: ClientLookup) -> None:
        self.app = app
        self.guard = ResourceGuard(tokens, dpop)
        self.dpop = dpop
        self.clients = clients

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        call: Call | None = scope.get("kaimen") if scope["type"] == "http" else None
        api = call.api if call is not None else None
        if call is None or api is None or api.policy.auth != "dpop":
            await self.app(scope, receive, send)
            return
        headers = scope["headers"]
        try:
            token = await self.guard.check(
                authorization=header_values(headers, b"authorization"),
                proofs=header_values(headers, b"dpop"),
                method=scope["method"],
                path=request_path(scope),
                required_scopes=api.policy.scopes,
            )
            call.caller = await self._caller(token)
        except OAuthError as refusal:
            if api.family is Family.OB:
                raise _as_api_error(refusal) from None
            call.error_code = refusal.error  # for the metrics, as kaimen.authz.http does
            await _send_oauth_error(send, refusal)
            return
        call.token = token
        # RFC 9449 §9: a resource server may hand out the next nonce on any response.
        for name, value in self.dpop.nonce_header().items():
            call.extra_headers.append((name.lower().encode(), value.encode()))
        await self.app(scope, receive, send)

    async def _caller(self, token: AccessToken) -> Caller:
        """The client's application, for TierPolicy and RateLimit (counted per client)."""
        client, standing = await approved_client(self.clients, token)
        return Caller(
            application_id=client.application_id,
            organisation_id=str(getattr(client, "organisation_id", "")),
            tier=str(standing.tier),
            key_id="dpop:" + token.client_id,
        )
