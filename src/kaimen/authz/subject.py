"""Pairwise subject identifiers (OIDC Core §8.1): the ``sub`` a TPP sees is stable for that TPP and
unrelated to the bank's customer id and to the ``sub`` any other TPP sees, so TPPs cannot correlate a
customer between them and the bank's internal id never leaves the bank.

sub = base64url(HMAC-SHA256(key, application id || 0x00 || customer id)), with ``key`` derived from the
sealing key (the same in every worker; a new sealing key would change every sub). The sector is the
TPP application (the client's ``application_id``), so a client re-registered for the same application
keeps its customers' subs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

PURPOSE = "oidc-pairwise-sub"


class PairwiseSubjects:
    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("the pairwise subject key must be 32 bytes or more")
        self._key = key

    def sub(self, application_id: str, customer_id: str) -> str:
        message = application_id.encode() + b"\x00" + customer_id.encode()
        mac = hmac.new(self._key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")
