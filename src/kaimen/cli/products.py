"""PLACEHOLDER: replaced by its owner."""
from __future__ import annotations

import click


@click.group("products")
def products() -> None:
    """(not built yet)"""
