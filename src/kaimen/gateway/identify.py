"""PLACEHOLDER: replaced by the TPP registry work."""
from __future__ import annotations

from typing import Any


class Identify:
    def __init__(self, app: Any, *, directory: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)
