"""The checks of an authorization request, as a pipeline of small named steps.

They run where the parameters arrive: at the PAR endpoint (RFC 9126 §2.1: "the authorization server
MUST validate the request in the same way as at the authorization endpoint"). The authorization
endpoint uses only ``client_id`` and ``request_uri`` and reads everything else from what was pushed
(RFC 9126 §4), so a request that reaches the customer has passed every step below.

Parameters other than the ones read here (max_age, login_hint, acr_values, ...) are ignored.
``state`` and ``nonce`` are carried unchanged (OIDC Core §3.1.2.1) up to ``MAX_STATE`` characters of
the RFC 6749 Appendix A.5 VSCHAR set (%x20-7E).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from kaimen.authz import acr, pkce
from kaimen.authz.errors import (
    InvalidRequest,
    InvalidScope,
    RequestNotSupported,
    UnauthorizedClient,
    UnsupportedResponseType,
)
from kaimen.authz.ports import ClientView

# Scopes (DESIGN.md sandbox contract): openid plus exactly one kind of consent.
CONSENT_SCOPES = frozenset({"accounts", "payments", "fundsconfirmations"})
MAX_STATE = 4096  # characters of state and of nonce (documented cap)
MAX_CLAIMS = 4096  # characters of the claims parameter
# OIDC Core §3.1.2.1's prompt values. Kaimen keeps no login session between authorization requests, so
# every request that shows pages asks the customer to log in (login), to say who they are
# (select_account) and to consent (consent); none ends with login_required (kaimen.authz.authorize).
PROMPTS = ("none", "login", "consent", "select_account")
INTENT_CLAIM = "openbanking_intent_id"
_VSCHAR = re.compile(r"[\x20-\x7e]*")
_INTENT_ID = re.compile(r"[\x21-\x7e]{1,128}")


@dataclass(frozen=True)
class PushedParams:
    """A validated authorization request: the only parameters the rest of the flow ever reads."""

    redirect_uri: str
    scope: tuple[str, ...]
    code_challenge: str
    state: str | None = None
    nonce: str | None = None
    claims: dict[str, Any] = field(default_factory=dict)  # {"id_token": {...}, "userinfo": {...}}
    intent_id: str | None = None
    prompt: tuple[str, ...] = ()

    @property
    def consent_scope(self) -> str | None:
        """The one kind of consent asked for (check_scope allows exactly one)."""
        return next((s for s in self.scope if s in CONSENT_SCOPES), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "response_type": "code",
            "redirect_uri": self.redirect_uri,
            "scope": " ".join(self.scope),
            "code_challenge": self.code_challenge,
            "code_challenge_method": "S256",
            "state": self.state,
            "nonce": self.nonce,
            "claims": self.claims,
            "intent_id": self.intent_id,
            "prompt": " ".join(self.prompt) or None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PushedParams:
        return cls(
            redirect_uri=data["redirect_uri"],
            scope=tuple(data["scope"].split()),
            code_challenge=data["code_challenge"],
            state=data.get("state"),
            nonce=data.get("nonce"),
            claims=dict(data.get("claims") or {}),
            intent_id=data.get("intent_id"),
            prompt=tuple((data.get("prompt") or "").split()),
        )


Step = Callable[[Mapping[str, str], ClientView, dict[str, Any]], None]


def refuse_request_objects(form: Mapping[str, str], client: ClientView, out: dict[str, Any]) -> None:
    """RFC 9126 §2.1: the request_uri parameter "MUST NOT be provided" in a pushed request.
    OIDC Core §3.1.2.6: request objects are not supported here -> request_not_supported."""
    if "request_uri" in form:
        raise InvalidRequest("request_uri must not be sent to the pushed authorization request endpoint")
    if "request" in form:
        raise RequestNotSupported("request objects are not supported")


def check_client_id(form: Mapping[str, str], client: ClientView, out: dict[str, Any]) -> None:
    """RFC 9126 §2.1: a client_id sent with the request must name the client that authenticated."""
    if "client_id" in form and form["client_id"] != client.client_id:
        raise InvalidRequest("client_id does not match the authenticated client")


def check_client_may_use_the_code_flow(
    form: Mapping[str, str], client: ClientView, out: dict[str, Any]
) -> None:
    """RFC 6749 §5.2 / RFC 7591 §2: a client not registered for the authorization_code grant is
    unauthorized_client."""
    grant_types = client.metadata.get("grant_types")
    if isinstance(grant_types, list) and "authorization_code" not in grant_types:
        raise UnauthorizedClient("the client is not registered for the authorization code flow")


def check_response_type(form: Mapping[str, str], client: ClientView, out: dict[str, Any]) -> None:
    """FAPI 2.0 §5.3.2.2: "shall support ... the authorization code grant" only: response_type=code.
    RFC 6749 §4.1.2.1: a response type the server does not support -> unsupported_response_type."""
    response_type = form.get("response_type")
    if not response_type:
        raise InvalidRequest("response_type is required")
    if response_type != "code":
        raise UnsupportedResponseType("only response_type=code is supported")
    if form.get("response_mode", "query") != "query":
        raise InvalidRequest("only response_mode=query is supported")


def check_redirect_uri(form: Mapping[str, str], client: ClientView, out: dict[str, Any]) -> None:
    """RFC 9700 §4.1.3 / FAPI 2.0 §5.3.2.2: redirect URIs are compared by exact string match with a
    registered one. PAR is a back channel, so a mismatch is an error response to the client."""
    redirect_uri = form.get("redirect_uri")
    if not redirect_uri:
        raise InvalidRequest("redirect_uri is required")
    if redirect_uri not in client.redirect_uris:
        raise InvalidRequest("redirect_uri is not registered for this client")
    out["redirect_uri"] = redirect_uri


def check_scope(form: Mapping[str, str], client: ClientView, out: dict[str, Any]) -> None:
    """Scope is required: openid and exactly one of accounts, payments, fundsconfirmations (RFC 6749
    §3.3: an unknown or unallowed scope -> invalid_scope), within the client's registered scope."""
    requested = form.get("scope", "").split(" ")
    scopes = tuple(dict.fromkeys(s for s in requested if s))
    if not scopes:
        raise InvalidScope("scope is required")
    if "openid" not in scopes:
        raise InvalidScope("scope must include openid")
    unknown = [s for s in scopes if s != "openid" and s not in CONSENT_SCOPES]
    if unknown:
        raise InvalidScope(f"unknown scope {unknown[0][:40]}")
    if len([s for s in scopes if s in CONSENT_SCOPES]) != 1:
        raise InvalidScope("scope must name exactly one of accounts, payments, fundsconfirmations")
    registered = client.metadata.get("scope")
    if isinstance(registered, str) and not set(scopes) <= set(registered.split()):
        raise InvalidScope("scope exceeds the client's registered scope")
    out["scope"] = scopes


def check_pkce(form: Mapping[str, str], client: ClientView, out: dict[str, Any]) -> None:
    """FAPI 2.0 §5.3.2.2: "shall require ... PKCE [RFC7636] with S256 as the code challenge method".
    RFC 7636 §4.4.1: a missing or unsupported challenge -> invalid_request."""
    challenge = form.get("code_challenge")
    if not challenge:
        raise InvalidRequest("code_challenge is required (PKCE)")
    if form.get("code_challenge_method") != "S256":
        raise InvalidRequest("code_challenge_method must be S256")
    if not pkce.is_challenge(challenge):
        raise InvalidRequest("code_challenge must be 43 base64url characters (S256)")
    out["code_challenge"] = challenge


def check_state_and_nonce(form: Mapping[str, str], client: ClientView, out: dict[str, Any]) -> None:
    """OIDC Core §3.1.2.1: state and nonce are optional and returned exactly as sent."""
    for name in ("state", "nonce"):
        value = form.get(name)
        if value is None:
            continue
        if len(value) > MAX_STATE or not _VSCHAR.fullmatch(value):
            raise InvalidRequest(f"{name} must be at most {MAX_STATE} printable ASCII characters")
        out[name] = value


def check_prompt(form: Mapping[str, str], client: ClientView, out: dict[str, Any]) -> None:
    """OIDC Core §3.1.2.1 prompt: "Space-delimited, case-sensitive list of ASCII string values"; "If
    this parameter contains none with any other value, an error is returned" (invalid_request). A value
    outside the four defined ones is not supported (discovery's prompt_values_supported) and is refused
    with invalid_request too, rather than silently ignored."""
    text = form.get("prompt")
    if text is None:
        return
    values = tuple(dict.fromkeys(value for value in text.split(" ") if value))
    if any(value not in PROMPTS for value in values):
        raise InvalidRequest("prompt carries an unsupported value")
    if "none" in values and len(values) > 1:
        raise InvalidRequest("prompt=none must not be combined with other values")
    out["prompt"] = values


def check_claims(form: Mapping[str, str], client: ClientView, out: dict[str, Any]) -> None:
    """OIDC Core §5.5: claims is a JSON object whose id_token and userinfo members map claim names to
    null or to {essential, value, values}. The UK OB consent travels as the openbanking_intent_id claim;
    when both members carry one, they must agree."""
    text = form.get("claims")
    if text is None:
        return
    if len(text) > MAX_CLAIMS:
        raise InvalidRequest("claims is too long")
    try:
        claims = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise InvalidRequest("claims must be a JSON object") from None
    if not isinstance(claims, dict):
        raise InvalidRequest("claims must be a JSON object")
    kept: dict[str, Any] = {}
    intents: set[str] = set()
    for member in ("id_token", "userinfo"):  # other members "MUST be ignored" (OIDC Core §5.5)
        if member not in claims:
            continue
        requests = claims[member]
        if not isinstance(requests, dict) or not all(_claim_request_ok(v) for v in requests.values()):
            raise InvalidRequest(f"claims.{member} must map claim names to null or a claim request")
        if INTENT_CLAIM in requests:
            intents.add(_intent_value(requests[INTENT_CLAIM]))
        kept[member] = requests
    if len(intents) > 1:
        raise InvalidRequest("openbanking_intent_id differs between id_token and userinfo")
    out["claims"] = kept
    out["intent_id"] = intents.pop() if intents else None


def check_acr_request(form: Mapping[str, str], client: ClientView, out: dict[str, Any]) -> None:
    """OIDC Core §5.5.1.1: an Essential acr request "MUST" be met, else the outcome is "a failed
    authentication attempt". Values that are not in acr_values_supported cannot be met by any login, so
    a request naming only such values is refused here, before the customer logs in for nothing (RFC 9126
    §2.1: the PAR endpoint "MUST validate the request in the same way as at the authorization
    endpoint"; RFC 6749 §4.1.2.1 invalid_request). Values must be strings (OIDC Core §2: acr is a
    string)."""
    values, essential = acr.requested(out.get("claims", {}))
    if not all(isinstance(value, str) for value in values):
        raise InvalidRequest("claims.id_token.acr values must be strings")
    if essential and values and not set(values) & set(acr.SUPPORTED):
        raise InvalidRequest("none of the essential acr values requested is supported")


def _claim_request_ok(value: Any) -> bool:
    if value is None:
        return True
    if not isinstance(value, dict):
        return False
    if "essential" in value and not isinstance(value["essential"], bool):
        return False
    return "values" not in value or isinstance(value["values"], list)


def _intent_value(request: Any) -> str:
    value = request.get("value") if isinstance(request, dict) else None
    if not isinstance(value, str) or not _INTENT_ID.fullmatch(value):
        raise InvalidRequest("openbanking_intent_id must carry a value of 1 to 128 visible characters")
    return value


# The order is the order errors are reported in.
PIPELINE: tuple[Step, ...] = (
    refuse_request_objects,
    check_client_id,
    check_client_may_use_the_code_flow,
    check_response_type,
    check_redirect_uri,
    check_scope,
    check_pkce,
    check_state_and_nonce,
    check_prompt,
    check_claims,
    check_acr_request,
)


def validate(form: Mapping[str, str], client: ClientView) -> PushedParams:
    out: dict[str, Any] = {}
    for step in PIPELINE:
        step(form, client, out)
    return PushedParams(**out)
