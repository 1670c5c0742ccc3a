"""ProductStore: the published Open Data documents, kept rendered in memory and shared by every worker.

Changes go through :meth:`ProductStore.replace`, which writes every document and bumps the
``products`` generation in one write transaction (kaimen.store.watch), so every worker drops its copy
at once. Before memory is trusted the watcher is polled (SQLite: another process may have committed);
while the watcher is unhealthy (PostgreSQL listener down) every read goes to the database.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from typing import Any

import orjson
from sqlalchemy import select

from kaimen.apis.product.document import Document, empty, render
from kaimen.apis.product.spec import BY_SHORT
from kaimen.apis.product.validate import validate_documents
from kaimen.store.db import Database
from kaimen.store.models import ProductDocument
from kaimen.store.types import utcnow
from kaimen.store.watch import Watcher, bump

GENERATION = "products"


async def write_documents(db: Database, documents: dict[str, list[Any]]) -> list[str]:
    """Store already-validated documents in one transaction; returns the short names that changed.

    A document whose bytes are unchanged keeps its Last-Modified and ETag (RFC 9110 §8.8.2: the time
    the origin believes the representation was last modified)."""
    changed: list[str] = []
    async with db.write() as session:
        for short, data in documents.items():
            body = orjson.dumps(data).decode()
            digest = hashlib.sha256(body.encode()).hexdigest()
            row = await session.get(ProductDocument, short)
            if row is not None and row.digest == digest:
                continue
            if row is None:
                session.add(ProductDocument(api=short, body=body, digest=digest, updated_at=utcnow()))
            else:
                row.body, row.digest, row.updated_at = body, digest, utcnow()
            changed.append(short)
        if changed:
            await session.flush()
            await bump(session, GENERATION)
    return changed


async def has_documents(db: Database) -> bool:
    async with db.read() as session:
        return (await session.execute(select(ProductDocument.api).limit(1))).first() is not None


class ProductStore:
    def __init__(self, db: Database, watcher: Watcher | None) -> None:
        self.db = db
        self.watcher = watcher
        self.version = 0  # advances on every invalidation; a load that straddles one is not kept
        self._docs: dict[str, Document] | None = None
        self._listeners: list[Callable[[], None]] = []
        self._lock = asyncio.Lock()
        if watcher is not None:
            watcher.on_change(GENERATION, self._invalidate)

    def on_invalidate(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` whenever product data changes (e.g. the gateway's response cache)."""
        self._listeners.append(listener)

    def trustworthy(self) -> bool:
        """True when what this process holds in memory is current; polls the watcher first."""
        watcher = self.watcher
        if watcher is None:
            return True
        watcher.poll()
        return watcher.healthy

    async def load(self) -> None:
        await self._reload()

    async def document(self, short: str) -> Document:
        if not self.trustworthy():
            return (await self._read())[short]
        docs = self._docs
        if docs is None:
            docs = await self._reload()
        return docs[short]

    async def replace(self, payload: Any) -> list[str]:
        """Validate a whole product load file, then store it; raises ProductDataError and writes nothing
        when any part is invalid. Returns the short names of the APIs whose data changed."""
        changed = await write_documents(self.db, validate_documents(payload))
        if changed:
            self._invalidate()
        return changed

    def _invalidate(self) -> None:
        self.version += 1
        self._docs = None
        for listener in self._listeners:
            listener()

    async def _reload(self) -> dict[str, Document]:
        async with self._lock:
            if self._docs is not None:
                return self._docs
            version = self.version
            docs = await self._read()
            if version == self.version:
                self._docs = docs
            return docs

    async def _read(self) -> dict[str, Document]:
        async with self.db.read() as session:
            rows = (await session.execute(select(ProductDocument))).scalars().all()
        docs = {short: empty(short) for short in BY_SHORT}
        for row in rows:
            if row.api in BY_SHORT:
                docs[row.api] = render(row.api, row.body, row.updated_at)
        return docs
