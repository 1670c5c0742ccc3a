"""Identify: who is calling, from the ``x-api-key`` header (issue 2, item 4, "Caller identification").

- An API key in the query string is refused with 400 (parameter names such as ``api_key``, ``apikey``,
  ``api-key``, ``x-api-key``, ``key``, or any value that looks like a Kaimen key), on every path: a
  URL ends up in logs, histories and Referer headers. The query string is blanked in the scope before
  the refusal, so no later step or access log can write the key anywhere.
- Paths that belong to no API (``/healthz``, ``/metrics``) pass on without identification.
- A missing key: anonymous callers pass on to a PUBLIC API only (rate-limited per client IP later);
  any other API answers 401.
- An unknown or revoked key, or one of an application that is not approved: 401.
- RFC 9110 §15.5.2: a 401 "MUST send a WWW-Authenticate header field containing at least one
  challenge".
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote_plus

from kaimen.errors import BadRequest, Unauthorized
from kaimen.gateway.context import Call
from kaimen.tiers import Tier
from kaimen.tpp.directory import CallerDirectory
from kaimen.tpp.keys import LOOKS_LIKE_KEY

HEADER = b"x-api-key"
CHALLENGE = {"WWW-Authenticate": 'ApiKey header="x-api-key"'}

# A parameter name that carries a key: api_key, apikey, api-key, x-api-key, x_api_key, key, ...
_KEY_PARAMETER = re.compile(r"(?:^|[&;])(?:x[-_.]?)?(?:api[-_.]?)?key=", re.IGNORECASE)


def key_in_query(query_string: bytes) -> bool:
    query = unquote_plus(query_string.decode("latin-1"))
    return bool(_KEY_PARAMETER.search(query) or LOOKS_LIKE_KEY.search(query))


def _api_key_of(headers: list[tuple[bytes, bytes]]) -> str | None:
    found: str | None = None
    for name, value in headers:
        if name == HEADER:
            if found is not None:
                raise Unauthorized(
                    "more than one x-api-key header", headers=CHALLENGE, ob_code="UK.OBIE.Header.Invalid"
                )
            found = value.decode("latin-1").strip()
    return found


class Identify:
    def __init__(self, app: Any, *, directory: CallerDirectory) -> None:
        self.app = app
        self.directory = directory

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query = scope.get("query_string", b"")
        if query and key_in_query(query):
            scope["query_string"] = b""
            raise BadRequest("API keys are accepted only in the x-api-key header, never in the URL")
        call: Call = scope["kaimen"]
        api = call.api
        if api is None or api.policy.auth == "dpop":  # DPoP-protected APIs: kaimen.gateway.dpop_auth
            await self.app(scope, receive, send)
            return
        api_key = _api_key_of(scope["headers"])
        if not api_key:
            if api.policy.tier is not Tier.PUBLIC:
                raise Unauthorized("x-api-key header missing", headers=CHALLENGE)
        else:
            caller = await self.directory.lookup(api_key)
            if caller is None:
                raise Unauthorized(
                    "API key not recognised", headers=CHALLENGE, ob_code="UK.OBIE.Header.Invalid"
                )
            call.caller = caller
        await self.app(scope, receive, send)
