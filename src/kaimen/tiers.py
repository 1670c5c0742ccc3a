"""Access tiers, from closed to open (DESIGN.md, "Open is not Public").

An application admitted to tier T may call the APIs of tier T and of every more open tier.
"""

from __future__ import annotations

from enum import StrEnum


class Tier(StrEnum):
    PRIVATE = "PRIVATE"
    PARTNER = "PARTNER"
    MEMBER = "MEMBER"
    ACQUAINTANCE = "ACQUAINTANCE"
    PUBLIC = "PUBLIC"

    @property
    def openness(self) -> int:
        return _ORDER[self]

    def admits(self, api_tier: Tier) -> bool:
        """True when an application of this tier may call an API of ``api_tier``."""
        return _ORDER[api_tier] >= _ORDER[self]


_ORDER = {tier: i for i, tier in enumerate(Tier)}
