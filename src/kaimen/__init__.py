"""Kaimen (開門): the bank side of open banking."""

__version__ = "0.1.0"
