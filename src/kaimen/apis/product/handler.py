"""GET and HEAD on an Open Data v2 API (one endpoint per Swagger file).

- 200: the document with the media type the file ``produces``, ``ETag``, ``Last-Modified`` and
  ``Cache-Control``. The files give ``max-age=28800`` for the 200 response.
- Caching per tier (RFC 9111 §5.2.2.7, §4.1): a PUBLIC API answers every caller the same bytes, so
  its response is shared-cacheable as the spec gives it and carries no ``Vary``: nothing in the request
  selects the content (no negotiation on Accept or encoding), and ``Vary: x-api-key`` would only split
  shared caches per key for identical bytes. Any other tier answers only callers whose key the gateway
  admitted, so a shared cache must not hand it to anyone else: ``private, max-age=28800`` and
  ``Vary: x-api-key``.
- HEAD (RFC 9110 §9.3.2): the same header fields as GET, Content-Length included, and no content.
- Preconditions (kaimen.apis.product.conditional, RFC 9110 §13.2.2): a false If-Match or
  If-Unmodified-Since is answered 412 in the Open Data error format, a false If-None-Match or
  If-Modified-Since 304.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from kaimen.apis.product.conditional import NOT_MODIFIED, PRECONDITION_FAILED, precondition_status
from kaimen.apis.product.document import Document
from kaimen.apis.product.spec import ProductApi
from kaimen.apis.product.store import ProductStore
from kaimen.errors import PreconditionFailed
from kaimen.gateway.context import Call
from kaimen.tiers import Tier

MAX_AGE = b"max-age=28800"  # Swagger files, 200 response, header Cache-Control, default
PRIVATE_MAX_AGE = b"private, " + MAX_AGE
VARY_PRIVATE = b"x-api-key"

Endpoint = Callable[[Request], Awaitable[Response]]


def caching_headers(tier: Tier) -> list[tuple[bytes, bytes]]:
    """Cache-Control and Vary of a Product API answer (200 and 304 alike) for an API of ``tier``."""
    if tier is Tier.PUBLIC:
        return [(b"cache-control", MAX_AGE)]
    return [(b"cache-control", PRIVATE_MAX_AGE), (b"vary", VARY_PRIVATE)]


def not_modified_headers(doc: Document, tier: Tier) -> list[tuple[bytes, bytes]]:
    return [(b"etag", doc.etag), *caching_headers(tier)]


def ok_headers(doc: Document, tier: Tier, media_type: bytes) -> list[tuple[bytes, bytes]]:
    return [
        (b"content-type", media_type),
        (b"content-length", str(len(doc.body)).encode()),
        (b"etag", doc.etag),
        (b"last-modified", doc.last_modified),
        *caching_headers(tier),
    ]


def product_endpoint(products: ProductStore, api: ProductApi) -> Endpoint:
    media_type = api.media_type.encode()

    async def endpoint(request: Request) -> Response:
        doc = await products.document(api.short)
        call: Call = request.scope["kaimen"]
        tier = call.api.policy.tier if call.api is not None else Tier.PRIVATE
        response = Response(status_code=200)
        status = precondition_status(request.scope["headers"], doc.etag, doc.modified_at)
        if status == PRECONDITION_FAILED:
            raise PreconditionFailed()
        if status == NOT_MODIFIED:
            response.status_code = 304
            response.raw_headers = not_modified_headers(doc, tier)
            return response
        if request.method == "GET":
            response.body = doc.body
        response.raw_headers = ok_headers(doc, tier, media_type)
        return response

    return endpoint
