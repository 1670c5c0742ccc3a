"""The client's IP address: the socket peer, or what a trusted proxy says.

``X-Forwarded-For`` is read only when the socket peer is a configured trusted proxy; then the
rightmost address that is not itself a trusted proxy is the client. Anyone else's header is ignored,
so a client cannot choose its own rate-limit bucket.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class ClientIpResolver:
    def __init__(self, trusted_proxies: Sequence[Network]) -> None:
        self.trusted = tuple(trusted_proxies)

    def _is_trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address.strip())
        except ValueError:
            return False
        return any(ip in net for net in self.trusted)

    def resolve(self, scope: dict[str, Any]) -> str:
        client = scope.get("client")
        peer = client[0] if client else "unknown"
        if not self.trusted or not self._is_trusted(peer):
            return str(peer)
        forwarded: list[str] = []
        for name, value in scope["headers"]:
            if name == b"x-forwarded-for":
                forwarded.extend(part.strip() for part in value.decode("latin-1").split(","))
        for hop in reversed(forwarded):
            if not hop:
                continue
            if not self._is_trusted(hop):
                try:
                    return str(ipaddress.ip_address(hop))
                except ValueError:
                    return str(peer)  # garbage from the proxy chain: fall back to the proxy itself
        return str(peer)
