"""Helpers of the customer-header and customer-presence tests: the real gateway steps (Entry,
ErrorBoundary, TierPolicy, RateLimit) around a stand-in for DpopAuth that sets the caller and the token
from test headers, in front of a handler that answers with what the gateway recorded on the call."""

from __future__ import annotations

import email.utils
from datetime import datetime, timedelta
from typing import Any

import orjson

from kaimen.authz.tokens import AccessToken
from kaimen.errors.render import Family
from kaimen.events import EventBus
from kaimen.gateway.apis import Api, ApiTable
from kaimen.gateway.boundary import ErrorBoundary
from kaimen.gateway.clientip import ClientIpResolver
from kaimen.gateway.context import Caller, call_of
from kaimen.gateway.entry import Entry
from kaimen.gateway.policy import TierPolicy
from kaimen.gateway.ratelimit import RateLimit
from kaimen.gateway.ratelimit_counters import Limiter
from kaimen.settings import ApiPolicy, RedisDownPolicy
from kaimen.store.types import utcnow
from kaimen.tiers import Tier

INTERACTION_ID = "0f8d5c2a-9a1b-4c3d-8e7f-6a5b4c3d2e1f"
AUTH_DATE = "x-fapi-auth-date"
CUSTOMER_IP = "x-fapi-customer-ip-address"
OB_MEDIA = "application/json; charset=utf-8"
# Hourly windows: a test never straddles a window boundary in practice.
OB_POLICY = ApiPolicy(
    tier=Tier.ACQUAINTANCE,
    auth="dpop",
    scopes=["accounts"],
    default_app_rate="100/hour",
    ip_rate="100/hour",
    customer_present_rate="3/hour",
    unattended_rate="2/hour",
)
APIS = [
    Api("test.ob", "/ob", Family.OB, "application/json", OB_POLICY, prefix=True),
    Api("test.ob.unlimited", "/ob-unlimited", Family.OB, "application/json",
        OB_POLICY.model_copy(update={"customer_present_rate": None, "unattended_rate": None})),
    Api("test.ob.tight", "/ob-tight", Family.OB, "application/json",
        OB_POLICY.model_copy(update={"default_app_rate": "2/hour"})),
    Api("test.opendata", "/opendata", Family.OPENDATA, "application/json", OB_POLICY),
]  # fmt: skip


def http_date(when: datetime) -> str:
    """``when`` as an IMF-fixdate (RFC 7231 §7.1.1.1)."""
    return email.utils.format_datetime(when, usegmt=True)


def in_seconds(seconds: float) -> str:
    return http_date(utcnow() + timedelta(seconds=seconds))


def too_many(interaction_id: str = INTERACTION_ID) -> dict[str, Any]:
    return {
        "Code": "429 TooManyRequests",
        "Id": interaction_id,
        "Message": "Too many requests",
        "Errors": [{"ErrorCode": "UK.OBIE.UnexpectedError", "Message": "Too many requests"}],
    }


def header_invalid(header: str, message: str, interaction_id: str = INTERACTION_ID) -> dict[str, Any]:
    return {
        "Code": "400 BadRequest",
        "Id": interaction_id,
        "Message": "Bad request",
        "Errors": [{"ErrorCode": "UK.OBIE.Header.Invalid", "Message": message, "Path": header}],
    }


class FakeDpopAuth:
    """Sets call.caller and call.token from ``x-test-client`` / ``x-test-consent`` / ``x-test-grant``
    (stand-in for DpopAuth: the application is the client's, as DpopAuth makes it)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers = {name.decode(): value.decode() for name, value in scope["headers"]}
        call = call_of(scope)
        client_id = headers.get("x-test-client", "client-1")
        call.caller = Caller(
            application_id="app-of-" + client_id,
            organisation_id="org-1",
            tier="ACQUAINTANCE",
            key_id="dpop:" + client_id,
        )
        call.token = AccessToken(
            client_id=client_id,
            customer_id="cus-1",
            scope=frozenset({"accounts"}),
            jkt="thumbprint",
            consent_id=headers.get("x-test-consent") or None,
            grant_id=headers.get("x-test-grant", "grant-1"),
            expires_at=utcnow() + timedelta(minutes=5),
        )
        await self.app(scope, receive, send)


async def recorded(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The handler: answers with what the gateway recorded about the PSU's presence."""
    call = call_of(scope)
    body = orjson.dumps(
        {
            "customer_present": call.customer_present,
            "customer_ip": call.customer_ip,
            "auth_date": call.auth_date.isoformat() if call.auth_date else None,
        }
    )
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]}
    )
    await send({"type": "http.response.body", "body": body})


def presence_gateway(limiter: Limiter) -> Any:
    events = EventBus()
    app: Any = RateLimit(recorded, limiter=limiter, on_store_down=RedisDownPolicy.REFUSE, events=events)
    app = TierPolicy(app)
    app = FakeDpopAuth(app)
    app = ErrorBoundary(app)
    return Entry(app, apis=ApiTable(APIS), client_ip=ClientIpResolver([]), events=events)


def unattended(
    consent: str | None = "aac-1", client: str = "client-1", grant: str = "grant-1"
) -> dict[str, str]:
    headers = {"x-test-client": client, "x-test-grant": grant, "x-fapi-interaction-id": INTERACTION_ID}
    if consent is not None:
        headers["x-test-consent"] = consent
    return headers


def present(
    consent: str | None = "aac-1", client: str = "client-1", ip: str = "198.51.100.20"
) -> dict[str, str]:
    return {**unattended(consent, client), CUSTOMER_IP: ip, AUTH_DATE: in_seconds(-600)}
