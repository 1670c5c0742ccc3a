"""ResponseCache: answer cacheable GET/HEAD from memory without calling the router.

Runs after the rate limiter (every call is still identified, admitted and counted) and before the
router. For an Api with ``cacheable=True``:

- a 200 answer to GET is kept (status line fields and body) per path, once per product data version;
- a later GET is answered from memory, a HEAD with the same header fields and no content
  (RFC 9110 §9.3.2);
- preconditions are evaluated as the handler does (RFC 9110 §13.2.2; kaimen.apis.product.conditional):
  a false If-Match / If-Unmodified-Since is a 412 in the API's error format (§13.1.1, §13.1.4), a
  false If-None-Match / If-Modified-Since a 304 with ETag, Cache-Control and Vary (§13.1.2, §13.1.3,
  §15.4.5); a request without any ``If-*`` field skips all of it;
- every entry is dropped when product data changes (ProductStore.on_invalidate, fed by the generation
  watcher); while the watcher cannot vouch for memory (``trustworthy()`` is False) the cache is bypassed.

One entry serves every caller, whatever the API's tier: identification and tier policy run before
this step, so a cached answer only reaches callers the gateway admitted, and the Product API's bytes
do not depend on which admitted caller asks (what differs per tier is Cache-Control/Vary, which are
part of the kept header fields).

This is on the hot path of the gateway benchmark: a hit is one dict lookup, one header scan and two
``send`` calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kaimen.apis.product.conditional import (
    NOT_MODIFIED,
    PRECONDITION_FAILED,
    has_preconditions,
    http_date,
    precondition_status,
)
from kaimen.apis.product.store import ProductStore
from kaimen.errors import PreconditionFailed
from kaimen.gateway.headers import Secured, secure

_KEEP_ON_304 = frozenset((b"etag", b"cache-control", b"vary"))


@dataclass(frozen=True, slots=True)
class _Entry:
    headers: Secured  # security headers included (kaimen.gateway.headers); copied for each answer
    body: bytes
    etag: bytes
    modified_at: int
    not_modified_headers: Secured


def _entry(headers: list[tuple[bytes, bytes]], body: bytes) -> _Entry | None:
    fields = {name.lower(): value for name, value in headers}
    etag = fields.get(b"etag")
    modified = http_date(fields.get(b"last-modified", b""))
    if etag is None or modified is None:
        return None
    kept = [(name, value) for name, value in headers if name.lower() in _KEEP_ON_304]
    return _Entry(secure(list(headers)), body, etag, modified, secure(kept))


class ResponseCache:
    def __init__(self, app: Any, *, products: ProductStore) -> None:
        self.app = app
        self.products = products
        self._entries: dict[str, _Entry] = {}
        products.on_invalidate(self._entries.clear)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        call = scope["kaimen"]
        api = call.api
        method = scope["method"]
        if api is None or not api.cacheable or (method != "GET" and method != "HEAD"):
            await self.app(scope, receive, send)
            return
        if not self.products.trustworthy():
            await self.app(scope, receive, send)
            return
        entry = self._entries.get(scope["path"])
        if entry is None:
            await self._fill(scope, receive, send)
            return
        headers = scope["headers"]
        if has_preconditions(headers):
            status = precondition_status(headers, entry.etag, entry.modified_at)
            if status == PRECONDITION_FAILED:
                raise PreconditionFailed()  # rendered by the gateway's ErrorBoundary
            if status == NOT_MODIFIED:
                await send(
                    {
                        "type": "http.response.start",
                        "status": 304,
                        "headers": Secured(entry.not_modified_headers),
                    }
                )
                await send({"type": "http.response.body", "body": b""})
                return
        await send({"type": "http.response.start", "status": 200, "headers": Secured(entry.headers)})
        await send({"type": "http.response.body", "body": entry.body if method == "GET" else b""})

    async def _fill(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Call the router; keep a complete 200 answer to GET unless product data changed meanwhile."""
        version = self.products.version
        keep = scope["method"] == "GET"
        status = 0
        headers: list[tuple[bytes, bytes]] = []
        chunks: list[bytes] = []

        async def capture(message: dict[str, Any]) -> None:
            nonlocal status, headers
            if keep:
                if message["type"] == "http.response.start":
                    status = message["status"]
                    headers = list(message.get("headers", ()))
                elif message["type"] == "http.response.body":
                    chunks.append(message.get("body", b""))
                    if not message.get("more_body", False) and status == 200:
                        entry = _entry(headers, b"".join(chunks))
                        if entry is not None and version == self.products.version:
                            self._entries[scope["path"]] = entry
            await send(message)

        await self.app(scope, receive, capture)
