"""PLACEHOLDER: replaced by the Product API work."""
from __future__ import annotations

from typing import Any


class ResponseCache:
    def __init__(self, app: Any, *, products: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)
