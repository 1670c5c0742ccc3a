"""Fixtures of the fuzz tests that go through the whole app in-process (import them by name): settings
on a fresh SQLite database with rate limits no run reaches, the app (tests.authz_flow_support.Harness)
and an approved TPP. Each property builds them once and sends all its cases to the same app."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from kaimen.settings import Settings
from tests.authz_flow_support import Harness, Tpp, harness
from tests.fuzz_support import generous_apis


@pytest.fixture
def fuzz_settings(make_settings: Callable[..., Settings], sqlite_url: str) -> Settings:
    """Embedded settings on a fresh SQLite database, every API with a rate limit no run reaches."""
    return make_settings(database_url=sqlite_url, apis=generous_apis())


@pytest.fixture
async def h(fuzz_settings: Settings) -> AsyncIterator[Harness]:
    """The whole app (tests.authz_flow_support.Harness) on those settings."""
    async with harness(fuzz_settings) as flow:
        yield flow


@pytest.fixture
async def tpp(h: Harness) -> Tpp:
    """An approved TPP with its OAuth client (private_key_jwt, PS256)."""
    return await h.tpp()
