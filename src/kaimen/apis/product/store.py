"""PLACEHOLDER: replaced by the Product API work."""
from __future__ import annotations

from typing import Any


class ProductStore:
    def __init__(self, db: Any, watcher: Any) -> None:
        self.db = db

    async def load(self) -> None:
        return None
