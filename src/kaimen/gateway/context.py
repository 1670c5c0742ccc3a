"""The per-request record the gateway steps share, kept at ``scope["kaimen"]``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kaimen.gateway.apis import Api


@dataclass(slots=True, frozen=True)
class Caller:
    """The application an API key identified."""

    application_id: str
    organisation_id: str
    tier: str
    key_id: str


@dataclass(slots=True)
class Call:
    interaction_id: str
    client_ip: str
    api: Api | None
    started_ns: int
    method: str = ""  # scope["method"], as the client sent it (audit normalises it)
    caller: Caller | None = None
    token: Any = None  # the AccessToken of a DPoP-authenticated call (kaimen.gateway.dpop_auth)
    # UK OB APIs only (kaimen.gateway.customer_headers), else None: True when the TPP sent
    # x-fapi-customer-ip-address (the PSU is present), False for an unattended call.
    customer_present: bool | None = None
    customer_ip: str | None = None  # x-fapi-customer-ip-address, normalised; never logged
    auth_date: datetime | None = None  # x-fapi-auth-date: when the PSU last logged in with the TPP
    route: str = ""
    status: int = 0
    # The standard error code the answer carried (a UK OB ErrorCode or an OAuth ``error``), set where
    # the error is rendered (kaimen.gateway.boundary, kaimen.authz.http) for the metrics; None when the
    # answer carried none.
    error_code: str | None = None
    extra_headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    # A path no API serves but below the path of one whose errors cover it (ApiTable.beneath): that API,
    # whose error format the refusal is rendered in. Never used for policy: ``api`` stays None.
    errors_of: Api | None = None

    @property
    def error_api(self) -> Api | None:
        """The API whose error format answers this call, if any."""
        return self.api if self.api is not None else self.errors_of


def call_of(scope: dict[str, Any]) -> Call:
    call: Call = scope["kaimen"]
    return call


def record_error_code(scope: Mapping[str, Any], code: str) -> None:
    """Note on the gateway's call (if the request came through the gateway) the error code answered."""
    call: Call | None = scope.get("kaimen")
    if call is not None:
        call.error_code = code
