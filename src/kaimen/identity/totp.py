"""One-time codes (RFC 6238, TOTP) as the DESIGN.md sandbox contract fixes them: HMAC-SHA-1, 6 digits,
30-second steps, base32 secrets (pyotp).

RFC 6238 §5.2: "We RECOMMEND that at most one time step is allowed as the network delay", and "the
verifier MUST NOT accept the second attempt of the OTP after the successful validation has been issued
for the first OTP". So a code is accepted for the current step or one step either side, and the step
it matched is returned: the caller records it and accepts only a later one (kaimen.identity.customers).
"""

from __future__ import annotations

import hmac
import re
import time

import pyotp

DIGITS = 6
STEP_SECONDS = 30
WINDOW = 1  # steps accepted either side of the current one
_CODE = re.compile(r"^[0-9]{6}$")


def new_secret() -> str:
    """A fresh 160-bit base32 secret (RFC 4226 §4 R6 recommends 160 bits)."""
    return pyotp.random_base32(length=32)


def current_step(now: float | None = None) -> int:
    return int((time.time() if now is None else now) // STEP_SECONDS)


def matching_step(secret: str, code: str, now: float | None = None) -> int | None:
    """The time step within the window whose code equals ``code``, or None. Every candidate is computed
    and compared in constant time, so the answer time does not tell which step (if any) matched."""
    code = code.strip()
    if not _CODE.match(code):
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    here = current_step(now)
    matched: int | None = None
    for step in range(here - WINDOW, here + WINDOW + 1):
        if hmac.compare_digest(totp.generate_otp(step).encode(), code.encode()):
            matched = step
    return matched


def code_at(secret: str, step: int) -> str:
    """The code of ``step`` (tests and the demo use it to act as the customer's authenticator)."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).generate_otp(step)
