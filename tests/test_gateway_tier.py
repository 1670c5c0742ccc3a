"""Tier policy (issue 2, item 4; DESIGN.md "Access tiers"): an application admitted to tier T may call
the APIs of T and of every more open tier; a more closed API answers 403 before any handler runs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from kaimen.settings import Settings
from kaimen.tiers import Tier
from tests.tpp_support import FORBIDDEN, Gateway, assert_refused, gateway_stack


@pytest.fixture
async def gw(make_settings: Callable[..., Settings], sqlite_url: str) -> AsyncIterator[Gateway]:
    async with gateway_stack(make_settings(database_url=sqlite_url)) as stack:
        yield stack


@pytest.mark.parametrize("app_tier", list(Tier))
async def test_each_tier_reaches_its_own_and_every_more_open_api(gw: Gateway, app_tier: Tier) -> None:
    app, api_key = await gw.application(app_tier)
    for api_tier in Tier:
        response = await gw.get(api_tier, api_key)
        if api_tier.openness >= app_tier.openness:
            assert response.status_code == 200, (app_tier, api_tier)
            assert response.json() == {"caller": app.id}
        else:
            assert_refused(response, 403, FORBIDDEN)


async def test_a_tier_change_applies_to_the_next_call(gw: Gateway) -> None:
    app, api_key = await gw.application(Tier.ACQUAINTANCE)
    assert_refused(await gw.get(Tier.PARTNER, api_key), 403, FORBIDDEN)
    await gw.change(gw.registry.set_tier(app.id, Tier.PARTNER))
    assert (await gw.get(Tier.PARTNER, api_key)).json() == {"caller": app.id}
    await gw.change(gw.registry.set_tier(app.id, Tier.PUBLIC))
    assert_refused(await gw.get(Tier.ACQUAINTANCE, api_key), 403, FORBIDDEN)
