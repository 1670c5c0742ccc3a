"""RequestLimits: refuse oversized or over-deep requests before any handler parses anything.

- more header fields than ``max_header_count``, or more header bytes than ``max_header_bytes`` → 431
  (RFC 6585 §5); a server in front may answer 431 itself first, for headers past its own limit;
- a declared or actual body over ``max_body_bytes`` → 413 (RFC 9110 §15.5.14);
- a body that has not all arrived ``body_timeout_seconds`` after the gateway began to read it → 408
  (RFC 9110 §15.5.9), with ``Connection: close``: a client trickling its body cannot keep one of the
  worker's request slots (``KAIMEN_MAX_CONCURRENT_REQUESTS``) for as long as it likes;
- a JSON body nested deeper than ``max_json_depth``, or not valid UTF-8 → 400;
- a body whose length is not the Content-Length it declared → 400.

Which requests have a body to read depends on the HTTP version. RFC 9112 §6.3: "If this is a request
message and none of the above are true, then the message body length is zero (no message body is
present)": an HTTP/1.x request with neither Content-Length nor Transfer-Encoding has no body and goes on
unread (every GET of the Product API takes that path). HTTP/2 frames the body itself (RFC 9113 §8.1.1:
"A request or response that includes message content can include a content-length header field"; can,
not must), so a request of any other version is always read through the same bounded, timed loop.
"""

from __future__ import annotations

import asyncio
from typing import Any

from kaimen.errors import BadRequest, HeadersTooLarge, PayloadTooLarge, RequestTimeout
from kaimen.settings import RequestLimits as Limits


def json_depth_exceeds(body: bytes, limit: int) -> bool:
    """True when ``body`` opens more than ``limit`` nested arrays/objects (strings are skipped)."""
    depth = 0
    in_string = False
    escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return False


def _is_json(content_type: bytes) -> bool:
    media = content_type.split(b";", 1)[0].strip().lower()
    return media == b"application/json" or media.endswith(b"+json") or media == b"application/jose+json"


# The versions whose requests say in their header fields whether a body follows (RFC 9112 §6.3).
_BODY_DECLARED_IN_HEADERS = frozenset({"1.0", "1.1"})


class RequestLimits:
    def __init__(self, app: Any, *, limits: Limits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limits = self.limits
        headers = scope["headers"]
        if len(headers) > limits.max_header_count:
            raise HeadersTooLarge("too many header fields")
        size = 0
        content_length: int | None = None
        content_type = b""
        chunked = False
        for name, value in headers:
            size += len(name) + len(value) + 4
            if name == b"content-length":
                try:
                    content_length = int(value)
                except ValueError:
                    raise BadRequest("invalid Content-Length") from None
            elif name == b"content-type":
                content_type = value
            elif name == b"transfer-encoding":
                chunked = True
        if size > limits.max_header_bytes:
            raise HeadersTooLarge("header fields too large")
        if content_length is None and not chunked and scope.get("http_version") in _BODY_DECLARED_IN_HEADERS:
            await self.app(scope, receive, send)  # RFC 9112 §6.3: no body
            return
        if content_length is not None and content_length > limits.max_body_bytes:
            raise PayloadTooLarge("request body too large")

        # Read the whole (bounded) body now, so no handler ever sees more than the limit and a JSON
        # body's depth is known before anyone parses it.
        chunks: list[bytes] = []
        total = 0
        more = True
        try:
            async with asyncio.timeout(limits.body_timeout_seconds):
                while more:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return
                    chunk = message.get("body", b"")
                    total += len(chunk)
                    if total > limits.max_body_bytes:
                        raise PayloadTooLarge("request body too large")
                    chunks.append(chunk)
                    more = message.get("more_body", False)
        except TimeoutError:
            raise RequestTimeout("the request body did not arrive in time") from None
        # RFC 9113 §8.1.1: a request "is also malformed if the value of a content-length header field
        # does not equal the sum of the DATA frame payload lengths that form the content".
        if content_length is not None and not chunked and total != content_length:
            raise BadRequest("the request body's length is not its Content-Length")
        body = b"".join(chunks)
        if body and _is_json(content_type):
            if json_depth_exceeds(body, limits.max_json_depth):
                raise BadRequest("JSON body nested too deeply")
            try:
                body.decode("utf-8")
            except UnicodeDecodeError:
                raise BadRequest("JSON body is not valid UTF-8") from None

        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            message: dict[str, Any] = await receive()
            return message

        await self.app(scope, replay, send)
