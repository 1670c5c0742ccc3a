"""PLACEHOLDER: replaced by its owner."""
from __future__ import annotations

import click


@click.group("tpp")
def tpp() -> None:
    """(not built yet)"""
