"""PLACEHOLDER: replaced by the rate-limit work."""
from __future__ import annotations

from typing import Any


class _NoLimiter:
    async def close(self) -> None:
        return None


def build_rate_limiter(settings: Any) -> Any:
    return _NoLimiter()


class RateLimit:
    def __init__(self, app: Any, *, limiter: Any, on_store_down: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)
