"""PLACEHOLDER: replaced by its owner."""
from __future__ import annotations

import click


@click.group("audit")
def audit() -> None:
    """(not built yet)"""
