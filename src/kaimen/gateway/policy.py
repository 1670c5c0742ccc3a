"""TierPolicy: the API's tier must admit the caller (issue 2, item 4, "Tier policy"; DESIGN.md tiers).

An application admitted to tier T may call the APIs of tier T and of every more open tier; a call to
a more closed API is refused with 403 before any handler runs. Anonymous callers reach PUBLIC APIs
only (Identify already answered 401 otherwise; checked again here so the rule holds on its own).

On a UK OB API the call must then accept JSON (406 otherwise, kaimen.gateway.accept) and carry
well-formed customer headers, and is recorded as customer-present or unattended for the rate limit
that follows (kaimen.gateway.customer_headers).
"""

from __future__ import annotations

from typing import Any

from kaimen.errors import Forbidden, Unauthorized
from kaimen.gateway.accept import require_json_accepted
from kaimen.gateway.context import Call
from kaimen.gateway.customer_headers import read_customer_headers
from kaimen.gateway.identify import CHALLENGE
from kaimen.tiers import Tier


class TierPolicy:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            call: Call = scope["kaimen"]
            api = call.api
            if api is not None:
                caller = call.caller
                if caller is None:
                    if api.policy.tier is not Tier.PUBLIC:
                        raise Unauthorized("x-api-key header missing", headers=CHALLENGE)
                elif not Tier(caller.tier).admits(api.policy.tier):
                    raise Forbidden(f"this API needs tier {api.policy.tier} or a more closed one")
                if api.negotiates_json:
                    require_json_accepted(scope["headers"])
                if api.honours_customer_headers:
                    read_customer_headers(call, scope["headers"])
        await self.app(scope, receive, send)
