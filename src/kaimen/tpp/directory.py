"""PLACEHOLDER: replaced by the TPP registry work."""
from __future__ import annotations

from typing import Any

from kaimen.gateway.context import Caller


class CallerDirectory:
    def __init__(self, db: Any, watcher: Any) -> None:
        self.db = db
        self.watcher = watcher

    async def lookup(self, api_key: str) -> Caller | None:
        return None
