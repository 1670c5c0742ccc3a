"""PKCE (RFC 7636), S256 only (FAPI 2.0 §5.3.2.2: "shall require ... PKCE with S256 as the code
challenge method")."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

# RFC 7636 §4.1: code-verifier = 43*128unreserved; §4.2: S256 challenge = BASE64URL(SHA256(verifier)),
# no padding: always exactly 43 characters of the base64url alphabet.
VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
CHALLENGE = re.compile(r"[A-Za-z0-9\-_]{43}")


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def is_challenge(value: str) -> bool:
    return CHALLENGE.fullmatch(value) is not None


def verifies(verifier: str, challenge: str) -> bool:
    """RFC 7636 §4.6: the server "verifies it by calculating the code challenge from the received
    code_verifier and comparing it with the previously associated code_challenge" (constant time)."""
    if VERIFIER.fullmatch(verifier) is None:
        return False
    return hmac.compare_digest(s256(verifier), challenge)
