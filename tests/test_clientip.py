"""Client IP (issue 2, item 4): the socket peer, unless the peer is a trusted proxy; anyone else's
X-Forwarded-For is ignored; behind trusted proxies, the rightmost hop that is not a trusted proxy."""

from __future__ import annotations

import ipaddress
from typing import Any

from kaimen.gateway.clientip import ClientIpResolver

PROXIES = [ipaddress.ip_network("10.0.0.0/24"), ipaddress.ip_network("fd00::/8")]


def scope(peer: str | None, *forwarded: str) -> dict[str, Any]:
    return {
        "client": (peer, 443) if peer else None,
        "headers": [(b"x-forwarded-for", value.encode()) for value in forwarded],
    }


def test_socket_peer_without_trusted_proxies():
    assert ClientIpResolver([]).resolve(scope("203.0.113.7")) == "203.0.113.7"


def test_forwarded_for_ignored_without_trusted_proxies():
    assert ClientIpResolver([]).resolve(scope("203.0.113.7", "198.51.100.1")) == "203.0.113.7"


def test_forwarded_for_ignored_from_untrusted_peer():
    resolver = ClientIpResolver(PROXIES)
    assert resolver.resolve(scope("203.0.113.7", "198.51.100.1")) == "203.0.113.7"


def test_trusted_proxy_gives_the_forwarded_client():
    resolver = ClientIpResolver(PROXIES)
    assert resolver.resolve(scope("10.0.0.5", "198.51.100.1")) == "198.51.100.1"


def test_rightmost_untrusted_hop_wins_over_a_spoofed_leftmost():
    # The client wrote "1.2.3.4" itself; the edge proxy appended the real peer, then an inner proxy.
    resolver = ClientIpResolver(PROXIES)
    assert resolver.resolve(scope("10.0.0.5", "1.2.3.4, 198.51.100.1, 10.0.0.9")) == "198.51.100.1"


def test_several_forwarded_for_fields_are_one_list_in_order():
    resolver = ClientIpResolver(PROXIES)
    assert resolver.resolve(scope("10.0.0.5", "1.2.3.4", "198.51.100.1")) == "198.51.100.1"


def test_only_trusted_hops_give_the_proxy_itself():
    resolver = ClientIpResolver(PROXIES)
    assert resolver.resolve(scope("10.0.0.5", "10.0.0.7")) == "10.0.0.5"


def test_trusted_proxy_without_forwarded_for_is_the_client():
    assert ClientIpResolver(PROXIES).resolve(scope("10.0.0.5")) == "10.0.0.5"


def test_garbage_hop_falls_back_to_the_proxy():
    resolver = ClientIpResolver(PROXIES)
    assert resolver.resolve(scope("10.0.0.5", "198.51.100.1, not-an-ip")) == "10.0.0.5"


def test_ipv6_hops_are_normalised():
    resolver = ClientIpResolver(PROXIES)
    assert resolver.resolve(scope("fd00::1", "2001:DB8:0:0::1")) == "2001:db8::1"


def test_missing_socket_peer_is_unknown():
    assert ClientIpResolver(PROXIES).resolve(scope(None, "198.51.100.1")) == "unknown"
