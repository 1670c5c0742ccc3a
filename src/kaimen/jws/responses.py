"""SignedResponses: the gateway step that signs every response of the APIs UK OB v3.1.11 makes
signed (payment-initiation-openapi.json: every response, 201 and every error alike, declares the
``x-jws-signature`` header as required: "Header containing a detached JWS signature of the body of
the payload").

It sits between Entry and the ErrorBoundary, so the refusals of every later gateway step (token,
tier, rate limit, size limits) are signed as well as the handlers' answers. The response is held
until its body is complete, signed (kaimen.jws.sign), then sent with the signature header. A
response started again before its body ended (the boundary replacing it with an error) replaces the
one held. Other APIs pass straight through.
"""

from __future__ import annotations

from typing import Any

from kaimen.jws.sign import ResponseSigner

HEADER = b"x-jws-signature"


class SignedResponses:
    def __init__(self, app: Any, *, signer: ResponseSigner, apis: frozenset[str]) -> None:
        if not apis:
            raise ValueError("SignedResponses needs the names of the APIs whose responses it signs")
        self.app = app
        self.signer = signer
        self.apis = apis

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        call = scope.get("kaimen") if scope["type"] == "http" else None
        if call is None or call.api is None or call.api.name not in self.apis:
            await self.app(scope, receive, send)
            return
        start: dict[str, Any] | None = None
        chunks: list[bytes] = []

        async def signing_send(message: dict[str, Any]) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                chunks.clear()
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = b"".join(chunks)
            signature = await self.signer.sign(body)
            headers = start.get("headers", [])
            if not isinstance(headers, list):
                headers = list(headers)
            headers.append((HEADER, signature.encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, signing_send)
