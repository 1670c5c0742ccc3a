"""PLACEHOLDER: replaced by its owner."""
from __future__ import annotations

import click


@click.group("serve")
def serve() -> None:
    """(not built yet)"""
