"""The pushed authorization request endpoint (RFC 9126 §2), the only way into the authorization
endpoint (FAPI 2.0 §5.3.2.2: "shall require the use of pushed authorization requests").

Pipeline: read the form -> verify the client's assertion (private_key_jwt) -> check the DPoP proof, when
one is sent, server nonce included -> use up the assertion's jti -> the request checks shared with the
authorization endpoint (kaimen.authz.requests) -> the consent it names -> the DPoP binding of the code
(uses up the proof's jti) -> store -> 201. The assertion is used up only after the proof's check, for the
reason kaimen.authz.token gives (RFC 9449 §8): a request refused with use_dpop_nonce uses up neither the
assertion nor the proof, so the client's retry with the nonce may resend the same form.

The consent travels as the essential ``openbanking_intent_id`` claim (DESIGN.md sandbox contract; UK OB
v3.1.11 Security Profile: the TPP "MUST" pass the ConsentId as that claim). A request without one, or
naming a consent that is not the client's own, is expired, or is neither AwaitingAuthorisation nor (for
re-authentication) Authorised, is refused here, before the customer sees a page (issue 4, item 2).

Conformance testing (settings.oauth.conformance_mint_account_consent, off by default; README "Running
the OpenID Foundation conformance suite"): the FAPI 2.0 suite's plain_fapi profile never sends a claims
parameter, so with the setting on, an ``accounts`` request without the claim gets an account-access
consent minted for its client once every other check has passed, and goes on exactly as if the client
had named it as the essential openbanking_intent_id claim (of the ID token and of userinfo). Payment and
funds-confirmation consents carry what only the TPP can choose (amount, payee, debtor account): a
request for them must still name one. ``openid`` alone stays invalid_scope (kaimen.authz.requests): every
Kaimen authorization is bound to a consent the customer can see and revoke.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace

import orjson
from starlette.requests import Request
from starlette.responses import Response

from kaimen.authz import endpoints
from kaimen.authz.dpop import CheckedProof, single_proof
from kaimen.authz.errors import InvalidDpopProof, InvalidRequest, InvalidScope
from kaimen.authz.http import json_response, oauth_endpoint, read_form
from kaimen.authz.ports import ClientAuth, Dpop, IntentKind, MintsIntent
from kaimen.authz.pushed import PushedRequests
from kaimen.authz.requests import INTENT_CLAIM, PushedParams, validate

# RFC 7638 SHA-256 thumbprint, base64url without padding: 43 characters.
_JKT = re.compile(r"[A-Za-z0-9\-_]{43}")


class ParEndpoint:
    def __init__(
        self,
        *,
        client_auth: ClientAuth,
        dpop: Dpop,
        pushed: PushedRequests,
        intents: Mapping[str, IntentKind],
        mint_account_consent: bool = False,
    ) -> None:
        self.client_auth = client_auth
        self.dpop = dpop
        self.pushed = pushed
        self.intents = intents
        self.mint_account_consent = mint_account_consent
        self.handle = oauth_endpoint(self._handle)

    async def _handle(self, request: Request) -> Response:
        form = await read_form(request)
        verified = await self.client_auth.verify(form, headers=request.headers)
        proof = self.checked_proof(request)
        client = await self.client_auth.use(verified)
        params = validate(form, client)
        mint = await self.check_intent(params, client.client_id)
        jkt = await self.dpop_binding(proof, form.get("dpop_jkt"))
        if mint is not None:
            params = with_intent(params, await mint.mint(client.client_id))
        request_uri = await self.pushed.push(client.client_id, params, jkt)
        # RFC 9126 §2.2: "201 Created" with request_uri and expires_in.
        body = {"request_uri": request_uri, "expires_in": self.pushed.ttl_seconds}
        return json_response(orjson.dumps(body), status=201, headers=self.dpop.nonce_header())

    async def check_intent(self, params: PushedParams, client_id: str) -> MintsIntent | None:
        """The consent the request names is one the client may have authorised now; returns the kind
        that will mint one when the request names none and minting is on (the module docstring)."""
        scope = params.consent_scope
        kind = self.intents.get(scope) if scope is not None else None
        if kind is None:
            raise InvalidScope(f"{scope} consents are not served by this bank")
        if params.intent_id is None:
            if self.mint_account_consent and scope == "accounts" and isinstance(kind, MintsIntent):
                return kind
            raise InvalidRequest(f"the openbanking_intent_id claim naming the {scope} consent is required")
        if await kind.for_authorisation(params.intent_id, client_id) is None:
            raise InvalidRequest(
                "openbanking_intent_id does not name a consent of this client that awaits authorisation"
            )
        return None

    def checked_proof(self, request: Request) -> CheckedProof | None:
        """The DPoP proof sent to PAR, checked but not yet used up; None when there is none (neither a
        proof nor dpop_jkt is required at PAR: FAPI 2.0 §5.3.3.1)."""
        proof = single_proof(request.headers.getlist("dpop"))
        if proof is None:
            return None
        checked: CheckedProof = self.dpop.check(proof, method="POST", url=endpoints.PAR)
        return checked

    async def dpop_binding(self, proof: CheckedProof | None, dpop_jkt: str | None) -> str | None:
        """RFC 9449 §10: a dpop_jkt parameter or a DPoP proof at PAR binds the authorization code to
        that key. §10.1: "If both mechanisms are used at the same time, the authorization server MUST
        reject the request if the JWK Thumbprint in dpop_jkt does not match the public key in the DPoP
        header." The token endpoint always asks for a proof."""
        if dpop_jkt is not None and not _JKT.fullmatch(dpop_jkt):
            raise InvalidRequest("dpop_jkt must be a base64url SHA-256 JWK thumbprint")
        if proof is None:
            return dpop_jkt
        if dpop_jkt is not None and dpop_jkt != proof.jkt:
            raise InvalidDpopProof("dpop_jkt does not match the key of the DPoP proof")
        return await self.dpop.use(proof)


def with_intent(params: PushedParams, intent_id: str) -> PushedParams:
    """``params`` as if the client had sent ``intent_id`` as the essential openbanking_intent_id claim
    of the ID token and of userinfo (DESIGN.md sandbox contract), next to the claims it did send."""
    essential = {INTENT_CLAIM: {"value": intent_id, "essential": True}}
    claims = {member: {**params.claims.get(member, {}), **essential} for member in ("id_token", "userinfo")}
    return replace(params, intent_id=intent_id, claims={**params.claims, **claims})
