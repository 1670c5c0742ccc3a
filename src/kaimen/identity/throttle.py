"""Credential stuffing defences (issue 3, item 5: "failed attempts throttled per customer and per IP,
then locked with back-off").

- Per client IP: every password, code or passkey attempt counts against ``settings.oauth.ip_login_rate``
  in the gateway's sliding-window limiter (``limits``; process memory in embedded mode, Redis when
  ``KAIMEN_REDIS_URL`` is set, so the count holds across every worker), keyed by ``throttle_key``: an
  IPv6 client by its /64 (the smallest prefix one subscriber or one cloud machine is given, so rotating
  the interface id gains no fresh allowance), an IPv4-mapped IPv6 address as the IPv4 address it
  carries. If the store cannot be reached the attempt is refused, unless the operator chose
  ``KAIMEN_REDIS_DOWN=allow``: the per-customer lock below still holds then, because it lives in the
  database.
- Per customer: failures are counted in the customer's row; the ``max_login_failures``-th failure locks
  the customer for ``lock_seconds``, and each further lock lasts twice as long as the one before.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass
from datetime import timedelta

from kaimen.gateway.ratelimit_counters import Limiter, StoreDown, build_rate_limiter
from kaimen.settings import RedisDownPolicy, Settings

log = logging.getLogger("kaimen.identity.throttle")

# 2**16 doublings of even a one-second lock is 18 hours: enough; and it keeps the arithmetic bounded.
MAX_DOUBLINGS = 16


@dataclass(frozen=True, slots=True)
class IpVerdict:
    allowed: bool
    retry_after: int  # seconds


def throttle_key(client_ip: str) -> str:
    """The bucket of ``client_ip``: an IPv4 address itself; an IPv4-mapped IPv6 address (::ffff:a.b.c.d,
    what a dual-stack socket reports for an IPv4 client) that IPv4 address; any other IPv6 address its
    /64 network (RFC 6177 §2: "/64 for a single subnet" per end site; RFC 4291 §2.5.1: interface ids
    are 64 bits, so a host picks freely among 2**64 addresses of its /64). Anything unparsable is its own
    bucket, as given."""
    try:
        address = ipaddress.ip_address(client_ip)
    except ValueError:
        return client_ip
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        # int(): drop any zone id (fe80::1%eth0), which names the local link, not the client.
        return str(ipaddress.IPv6Network((int(address), 64), strict=False))
    return str(address)


def lock_duration(base_seconds: int, previous_locks: int) -> timedelta:
    """The length of the next lock: the base, doubled for every lock the customer already had."""
    return timedelta(seconds=base_seconds * 2 ** min(previous_locks, MAX_DOUBLINGS))


class IpThrottle:
    def __init__(self, settings: Settings, limiter: Limiter | None = None) -> None:
        self.rate = settings.oauth.ip_login_rate
        self.allow_when_down = settings.redis_down is RedisDownPolicy.ALLOW
        self.limiter = limiter or build_rate_limiter(settings, key_prefix="kaimen:login")

    async def attempt(self, client_ip: str) -> IpVerdict:
        """Count one attempt from ``client_ip`` (in its ``throttle_key`` bucket); say whether it may go
        ahead."""
        try:
            verdict = await self.limiter.hit(self.rate, "ip", "login-attempt", throttle_key(client_ip))
        except StoreDown:
            log.warning("login throttle store unreachable", extra={"allowed": self.allow_when_down})
            return IpVerdict(self.allow_when_down, 1)
        return IpVerdict(verdict.allowed, verdict.reset)

    async def close(self) -> None:
        await self.limiter.close()
