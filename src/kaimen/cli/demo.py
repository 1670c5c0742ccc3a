"""PLACEHOLDER: replaced by its owner."""
from __future__ import annotations

import click


@click.group("demo")
def demo() -> None:
    """(not built yet)"""
