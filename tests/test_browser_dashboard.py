"""The customer's consent dashboard in a real browser (headless Chromium, Debian's, never a downloaded
one): a running ``kaimen demo``, a consent a demo TPP holds for a demo customer, and the customer
logging in with password and one-time code, seeing the TPP and what it can see, revoking it, and seeing
it gone.

The consent is made as the authorization flow leaves it (created by the TPP, authorised by the
customer for one of their accounts), through the consent service opened in this process on the demo's
own database.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.test_browser_passkey import CHROMIUM, CHROMIUM_ARGS
from tests.test_demo_server import Demo, free_port

pytestmark = pytest.mark.server


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"Chromium not available at {CHROMIUM}: apt-get install chromium")
    running = Demo(tmp_path / "data", tmp_path / "out" / "credentials.json", free_port())
    try:
        yield running
    finally:
        running.stop()


async def authorised_consent(data_dir: Path, client_id: str, username: str, account_id: str) -> str:
    """A consent ``client_id`` created and the customer ``username`` authorised for ``account_id``."""
    from kaimen.apis.accounts.consent_request import read_consent_request
    from kaimen.apis.accounts.consents import AccountAccessConsents
    from kaimen.events import EventBus
    from kaimen.settings import load_settings
    from kaimen.store.db import Database
    from kaimen.store.identity_models import Customer
    from kaimen.store.types import utcnow

    db = Database(load_settings(data_dir=data_dir).sqlalchemy_url)
    try:
        async with db.read() as session:
            customers = (await session.execute(Customer.__table__.select())).all()
        customer_id = next(row.id for row in customers if row.username == username)
        consents = AccountAccessConsents(db, EventBus())
        body = {"Data": {"Permissions": ["ReadAccountsDetail", "ReadBalances"]}, "Risk": {}}
        consent = await consents.create(client_id, read_consent_request(orjson.dumps(body), utcnow()))
        assert await consents.authorise(consent.consent_id, customer_id, [account_id])
        return consent.consent_id
    finally:
        await db.dispose()


async def consent_status(data_dir: Path, consent_id: str, client_id: str) -> str:
    from kaimen.apis.accounts.consents import AccountAccessConsents
    from kaimen.events import EventBus
    from kaimen.settings import load_settings
    from kaimen.store.db import Database

    db = Database(load_settings(data_dir=data_dir).sqlalchemy_url)
    try:
        consent = await AccountAccessConsents(db, EventBus()).get(consent_id, client_id)
        assert consent is not None
        return consent.status.value
    finally:
        await db.dispose()


async def test_a_customer_revokes_a_tpps_access_in_chromium(demo: Demo, tmp_path: Path) -> None:
    from playwright.async_api import async_playwright

    from kaimen.identity import totp

    started = time.monotonic()
    creds: dict[str, Any] = demo.start()
    base_url = creds["issuer"]
    tpp = creds["tpps"][0]
    customer = creds["customers"][0]
    account = customer["accounts"][0]
    consent_id = await authorised_consent(
        demo.data_dir, tpp["client_id"], customer["username"], account["account_id"]
    )
    section = f'section[data-consent-id="{consent_id}"]'

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(locale="en-GB")
            page = await context.new_page()
            await page.goto(f"{base_url}/dashboard")
            assert page.url == f"{base_url}/dashboard/login"  # not logged in: sent to the login page
            await page.fill('input[name="username"]', customer["username"])
            await page.fill('input[name="password"]', customer["password"])
            await page.click('button[type="submit"]')
            await page.wait_for_url(f"{base_url}/dashboard/login/otp")

            await page.fill('input[name="otp"]', totp.code_at(customer["totp_secret"], totp.current_step()))
            await page.click('button[type="submit"]')
            await page.wait_for_url(f"{base_url}/dashboard")

            shown = await page.inner_text(section)
            assert tpp["name"] in shown
            assert "Your account balances and any credit limits" in shown
            assert f"ending {account['identification'][-4:]}" in shown
            assert "Until: no end date" in shown and "Last used: never" in shown
            await page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)

            await page.click(f'{section} button[type="submit"]')
            await page.wait_for_url(f"{base_url}/dashboard")
            assert await page.locator(section).count() == 0
            assert "No app has access to your accounts." in await page.inner_text("body")
        finally:
            await browser.close()

    assert await consent_status(demo.data_dir, consent_id, tpp["client_id"]) == "Revoked"
    assert time.monotonic() - started < 60
