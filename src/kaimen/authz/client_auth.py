"""Client authentication: ``private_key_jwt`` only (RFC 7523 §2.2 and §3, OIDC Core §9), issue 3 item 3.

``ClientAuthenticator.authenticate(form)`` runs these steps in order; each raises ``InvalidClient``
(RFC 6749 §5.2, 401) or passes on:

1. ``single_method``: no client_secret, no HTTP Basic credentials. RFC 6749 §2.3: "The client MUST NOT
   use more than one authentication method in each request"; Kaimen offers private_key_jwt only. A
   Basic attempt is refused with a Basic challenge, RFC 6749 §5.2: "If the client attempted to
   authenticate via the "Authorization" request header field, the authorization server MUST respond
   with an HTTP 401 (Unauthorized) status code and include the "WWW-Authenticate" response header
   field matching the authentication scheme used by the client." (realm: the issuer identifier).
2. ``assertion_present``: ``client_assertion_type`` is
   urn:ietf:params:oauth:client-assertion-type:jwt-bearer and ``client_assertion`` is one JWS.
3. ``allowed_alg``: the header's ``alg`` is PS256 or ES256 (FAPI 2.0 §5.4.1); RS256, ``none`` and
   HMAC (whose "secret" an attacker could set to the client's public key) are refused before any key
   is looked at.
4. ``known_client``: ``sub`` names a client (RFC 7523 §3 item 2: "For client authentication, the
   subject MUST be the client_id of the OAuth client"); a ``client_id`` form parameter, when sent,
   must be the same; the client's application must be approved, as the database holds it now
   (:meth:`kaimen.authz.clients.ClientRegistry.current`: another worker's suspension counts at once).
5. ``registered_alg``: when the client registered ``token_endpoint_auth_signing_alg``, the header's
   ``alg`` is that one. OIDC Dynamic Client Registration 1.0 §2: "All Token Requests using these
   authentication methods from this Client MUST be rejected, if the JWT is not signed with this
   algorithm." Kaimen authenticates a client the same way at every endpoint (token, PAR,
   introspection, revocation), so the registered algorithm binds at all of them.
6. ``verified``: the signature verifies with a key of the client's registered JWKS (the one ``kid``
   names), by joserfc.
7. ``claims``: iss == sub == client_id; ``aud`` is the issuer identifier as a single string (FAPI 2.0
   §5.3.2.1: the AS "shall only accept its issuer identifier value ... as a string in the aud claim",
   so neither an array nor the token endpoint URL); ``exp`` present, in the future, and at most
   ``client_assertion_max_lifetime_seconds`` ahead (RFC 7523 §3 item 4: the AS "may reject JWTs with
   an exp claim value that is unreasonably far in the future"); ``nbf`` and ``iat`` at most
   ``FUTURE_SKEW_SECONDS`` ahead (FAPI 2.0: accept up to 10 seconds, reject 60 or more); ``jti`` present.
8. ``used_once``: the ``jti`` is recorded in the shared store until the assertion expires; a second use
   anywhere is refused (RFC 7523 §3 item 7: the AS "MAY ensure that JWTs are not replayed by
   maintaining the set of used "jti" values for the length of time for which the JWT would be
   considered valid").

Steps 1-7 are ``verify`` and step 8 is ``use``, so an endpoint can refuse a request for another reason
that the client is expected to retry (RFC 9449 §8 use_dpop_nonce, at the token endpoint and PAR) before
the assertion is used up; ``authenticate`` runs both.

All JWS work (header read to pick the key, signature check) is joserfc's; descriptions never echo
attacker input.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, NamedTuple

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jws import JWSRegistry

from kaimen.authz.clients import Client, ClientRegistry
from kaimen.authz.clients_jwks import JwksUnavailable
from kaimen.authz.clients_jws import Unverified, select_signing_key, unverified
from kaimen.authz.errors import InvalidClient
from kaimen.authz.once import OnceStore
from kaimen.settings import Settings

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ALGORITHMS = ("PS256", "ES256")
_REGISTRY = JWSRegistry(algorithms=list(ALGORITHMS))  # built once: joserfc builds one per call otherwise
FUTURE_SKEW_SECONDS = 10
MAX_ASSERTION_BYTES = 8 << 10
ONCE_NAMESPACE = "client_assertion"


class VerifiedAssertion(NamedTuple):
    """A client whose assertion passed steps 1-7; ``use`` records its jti (step 8)."""

    client: Client
    jti_key: str  # client_id:jti, the key of the one-time record
    ttl_seconds: int  # until the assertion expires, plus the allowed clock skew


class ClientAuthenticator:
    def __init__(self, clients: ClientRegistry, once: OnceStore, settings: Settings) -> None:
        self.clients = clients
        self.once = once
        self.issuer = settings.public_base_url
        self.max_lifetime = settings.oauth.client_assertion_max_lifetime_seconds
        self.basic_challenge = {"WWW-Authenticate": f'Basic realm="{self.issuer}"'}

    async def authenticate(
        self, form: Mapping[str, str], *, headers: Mapping[str, str] | None = None
    ) -> Client:
        """The authenticated client, its assertion used up; raises InvalidClient. ``headers``
        (optional) lets the caller pass the request headers so HTTP Basic sent alongside is refused as
        a second method."""
        return await self.use(await self.verify(form, headers=headers))

    async def verify(
        self, form: Mapping[str, str], *, headers: Mapping[str, str] | None = None
    ) -> VerifiedAssertion:
        """Steps 1-7: the client, once its assertion passed every check but the one-time use of its
        jti; raises InvalidClient."""
        self._single_method(form, headers or {})
        assertion = self._assertion_present(form)
        try:
            parsed = unverified(assertion)
        except ValueError as exc:
            raise InvalidClient("client_assertion is not a well-formed JWS") from exc
        self._allowed_alg(parsed.header)
        client = await self._known_client(form, parsed.claims)
        self._registered_alg(client, parsed.header)
        claims = await self._verified(client, parsed)
        now = int(time.time())
        self._claims(client, claims, now)
        ttl = max(1, int(claims["exp"]) - now + FUTURE_SKEW_SECONDS)
        return VerifiedAssertion(client, f"{client.client_id}:{claims['jti']}", ttl)

    async def use(self, verified: VerifiedAssertion) -> Client:
        """Step 8: the assertion's jti is recorded, across every worker, until it expires."""
        if not await self.once.use(ONCE_NAMESPACE, verified.jti_key, verified.ttl_seconds):
            raise InvalidClient("client_assertion jti has already been used")
        return verified.client

    def _single_method(self, form: Mapping[str, str], headers: Mapping[str, str]) -> None:
        scheme = headers.get("authorization", "").strip().partition(" ")[0]
        if scheme.lower() == "basic":  # RFC 7235 §2.1: the scheme name is case-insensitive
            raise InvalidClient(
                "HTTP Basic client authentication is not accepted: use private_key_jwt",
                headers=self.basic_challenge,
            )
        if "client_secret" in form:
            raise InvalidClient("client_secret is not accepted: use private_key_jwt")

    @staticmethod
    def _assertion_present(form: Mapping[str, str]) -> str:
        assertion_type = form.get("client_assertion_type")
        assertion = form.get("client_assertion")
        if assertion_type is None and assertion is None:
            raise InvalidClient("client authentication is required: use private_key_jwt")
        if assertion_type != ASSERTION_TYPE:
            raise InvalidClient(f"client_assertion_type must be {ASSERTION_TYPE}")
        if not assertion:
            raise InvalidClient("client_assertion is missing")
        if len(assertion) > MAX_ASSERTION_BYTES:
            raise InvalidClient("client_assertion is too large")
        return assertion

    @staticmethod
    def _allowed_alg(header: dict[str, Any]) -> None:
        if header.get("alg") not in ALGORITHMS:
            raise InvalidClient("client_assertion must be signed with PS256 or ES256")

    async def _known_client(self, form: Mapping[str, str], claims: dict[str, Any]) -> Client:
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub:
            raise InvalidClient("client_assertion sub is required and must be the client_id")
        if "client_id" in form and form["client_id"] != sub:
            raise InvalidClient("client_id does not match the client_assertion sub")
        client = await self.clients.current(sub)
        if client is None:
            raise InvalidClient("unknown client")
        # Before any key is looked at: a client under review (or suspended) never makes Kaimen fetch
        # its jwks_uri or spend a signature check.
        if not client.approved:
            raise InvalidClient("the client's application is not approved")
        return client

    @staticmethod
    def _registered_alg(client: Client, header: dict[str, Any]) -> None:
        registered = client.metadata.get("token_endpoint_auth_signing_alg")
        if registered is not None and header.get("alg") != registered:
            # The registered value was checked at registration (PS256 or ES256): no attacker input.
            raise InvalidClient(f"client_assertion must be signed with {registered}, the registered alg")

    async def _verified(self, client: Client, parsed: Unverified) -> dict[str, Any]:
        """The claims, once the signature checks out with the client's registered key. The JWS was
        parsed once (``unverified``); its claims are used only from here on."""
        header = parsed.header
        try:
            key = select_signing_key(await self.clients.keys(client), header)
            if key is None and "jwks_uri" in client.metadata:
                key = select_signing_key(await self.clients.keys(client, refetch=True), header)
        except JwksUnavailable as exc:
            raise InvalidClient("the client's jwks_uri could not be fetched") from exc
        if key is None:
            raise InvalidClient("no registered key of the client matches the client_assertion")
        try:
            valid = jws.validate_compact(parsed.compact, key, registry=_REGISTRY)
        except (JoseError, ValueError) as exc:
            raise InvalidClient("client_assertion signature is invalid") from exc
        if not valid:
            raise InvalidClient("client_assertion signature is invalid")
        return parsed.claims

    def _claims(self, client: Client, claims: dict[str, Any], now: int) -> None:
        if claims.get("iss") != client.client_id or claims.get("sub") != client.client_id:
            raise InvalidClient("client_assertion iss and sub must both be the client_id")
        aud = claims.get("aud")
        if not isinstance(aud, str):
            raise InvalidClient("client_assertion aud must be the issuer identifier as a single string")
        if aud != self.issuer:
            raise InvalidClient("client_assertion aud must be the issuer identifier")
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or isinstance(exp, bool):
            raise InvalidClient("client_assertion exp is required")
        if exp <= now:
            raise InvalidClient("client_assertion has expired")
        if exp > now + self.max_lifetime:
            raise InvalidClient("client_assertion exp is too far in the future")
        for name in ("nbf", "iat"):
            value = claims.get(name)
            if value is None:
                continue
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise InvalidClient(f"client_assertion {name} must be a NumericDate")
            if value > now + FUTURE_SKEW_SECONDS:
                raise InvalidClient(f"client_assertion {name} is in the future")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti or len(jti) > 256:
            raise InvalidClient("client_assertion jti is required")
