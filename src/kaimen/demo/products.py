"""The sandbox bank's product data ("Kaimen Sandbox Bank"), shipped in ``data/`` and seeded once."""

from __future__ import annotations

from importlib import resources
from typing import Any

import orjson

from kaimen.apis.product.spec import BY_SHORT
from kaimen.apis.product.store import ProductStore, has_documents
from kaimen.store.db import Database


def demo_documents() -> dict[str, list[Any]]:
    """The shipped demo data in the product load file format (one ``data/<short>.json`` per API)."""
    folder = resources.files("kaimen.demo").joinpath("data")
    return {short: orjson.loads(folder.joinpath(f"{short}.json").read_bytes()) for short in BY_SHORT}


async def seed_products(db: Database) -> bool:
    """Load the demo data when no product data exists yet; an operator's own data is never replaced.
    Returns True when it seeded."""
    if await has_documents(db):
        return False
    await ProductStore(db, None).replace(demo_documents())
    return True
