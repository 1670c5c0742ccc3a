"""PLACEHOLDER: replaced by the audit work."""
from __future__ import annotations

from typing import Any


class AuditWriter:
    def __init__(self, db: Any, settings: Any, events: Any) -> None:
        self.db = db

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None
