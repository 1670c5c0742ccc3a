"""The bank's signature of a response body (Read/Write Data API Profile v3.1.11, "Message Signing",
"Process for Signing a Payload"): the JOSE header of kaimen.jws.header.bank_header, signed PS256 with
the bank's current PS256 key (kaimen.authz.signing.SigningKeys, the keys /oauth2/jwks publishes), the
payload being the exact body bytes, then detached (RFC 7515 Appendix F: "header..signature").
"""

from __future__ import annotations

import time
from collections.abc import Callable

from joserfc import jws

from kaimen.authz.signing import SigningKeys
from kaimen.jws.header import ALGORITHM, REGISTRY, bank_header


class ResponseSigner:
    def __init__(
        self, keys: SigningKeys, *, iss: str, tan: str, clock: Callable[[], float] = time.time
    ) -> None:
        self.keys = keys
        self.iss = iss
        self.tan = tan
        self.clock = clock

    async def sign(self, body: bytes) -> str:
        await self.keys.refresh()  # a rotation in another worker is seen before the next signature
        key = self.keys.current(ALGORITHM)
        header = bank_header(key.kid or "", iss=self.iss, tan=self.tan, now=self.clock())
        signed = jws.serialize_compact(header, body, key, registry=REGISTRY)
        return jws.detach_content(signed)
