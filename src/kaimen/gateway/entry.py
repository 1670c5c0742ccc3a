"""Entry: where every call starts and ends.

- ``x-fapi-interaction-id`` (UK OB v3.1.11, "Request Headers"): a valid incoming RFC 4122 UUID is echoed
  exactly as received (the Read/Write Data API Profile's response header carries "the value received
  from the corresponding fapi client request header": upper-case hex digits stay upper-case, and the
  audit record keeps the same text), otherwise a new one is generated; it is on every response,
  errors included.
- The client IP is the socket peer, unless that peer is a trusted proxy (kaimen.gateway.clientip).
- The API the path belongs to is looked up once, for every later step; for a path that belongs to none,
  the API whose error format still answers it (kaimen.gateway.apis.ApiTable.beneath).
- Security headers (kaimen.gateway.headers) go on every response start here, in the gateway's one
  send wrapper.
- When the call ends, ``api.call.completed`` is emitted with status and latency (audit, metrics).
"""

from __future__ import annotations

import os
import re
import time
from typing import Any

from kaimen.events import API_CALL_COMPLETED, EventBus
from kaimen.gateway.apis import ApiTable
from kaimen.gateway.clientip import ClientIpResolver
from kaimen.gateway.context import Call
from kaimen.gateway.headers import Secured, secure
from kaimen.logs import INTERACTION_ID

ASGIApp = Any

_UUID = re.compile(rb"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
INTERACTION_HEADER = b"x-fapi-interaction-id"


def interaction_id_from(headers: list[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name == INTERACTION_HEADER:
            if _UUID.fullmatch(value):  # fullmatch: "$" would let a trailing newline through
                return value.decode("ascii")
            break
    return new_interaction_id()


def new_interaction_id() -> str:
    """A version 7 UUID (RFC 9562 §5.7) as text: 48 bits of Unix time in milliseconds, then 74 random
    bits. Time-ordered ids keep the audit log's interaction-id index append-mostly: random (version 4)
    ids dirtied a different index page per record, and committing those pages was the largest single
    cost of the audit flush (bench/gateway.py --py-spy). Built straight from the clock and 20 random
    hex digits: it is made on every request, and the ``uuid`` module costs several times as much."""
    h = (time.time_ns() // 1_000_000).to_bytes(6, "big").hex() + _random_hex.take(20)
    return f"{h[:8]}-{h[8:12]}-7{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"


class RandomHex:
    """Hex digits from the operating system's CSPRNG (``os.urandom``), read 4 KiB at a time: one
    ``getrandom`` call per ~400 interaction ids instead of one per id (the call alone was 3-4% of the
    gateway's and of an AIS call's samples under load, bench/gateway.py --py-spy). A forked worker
    starts with an empty buffer, so no two processes ever hand out the same digits."""

    CHUNK_BYTES = 4096

    def __init__(self) -> None:
        self._digits = ""
        self._at = 0
        os.register_at_fork(after_in_child=self._forget)

    def take(self, count: int) -> str:
        at = self._at
        if at + count > len(self._digits):
            self._digits, at = os.urandom(self.CHUNK_BYTES).hex(), 0
        self._at = at + count
        return self._digits[at : at + count]

    def _forget(self) -> None:
        self._digits, self._at = "", 0


_random_hex = RandomHex()


# RFC 9562 §4.1: the two top bits of the variant field are 1 0.
_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}


class Entry:
    def __init__(
        self, app: ASGIApp, *, apis: ApiTable, client_ip: ClientIpResolver, events: EventBus
    ) -> None:
        self.app = app
        self.apis = apis
        self.client_ip = client_ip
        self.events = events

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        api = self.apis.match(path)
        call = Call(
            interaction_id=interaction_id_from(scope["headers"]),
            client_ip=self.client_ip.resolve(scope),
            api=api,
            started_ns=time.perf_counter_ns(),
            method=scope["method"],
        )
        if api is None:
            call.errors_of = self.apis.beneath(path)
        scope["kaimen"] = call
        header = (INTERACTION_HEADER, call.interaction_id.encode())

        async def send_with_id(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                call.status = message["status"]
                headers = message.get("headers", ())
                if type(headers) is Secured:  # neither of the two below is a security header
                    headers.append(header)
                    headers.extend(call.extra_headers)
                else:
                    message["headers"] = secure([*headers, header, *call.extra_headers])
            await send(message)

        logged = INTERACTION_ID.set(call.interaction_id)  # every log line of this call carries it
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self.events.emit(API_CALL_COMPLETED, call)
            INTERACTION_ID.reset(logged)
