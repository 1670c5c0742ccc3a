"""Passkeys in a real browser (issue 3, item 5): Chromium's virtual authenticator (CDP WebAuthn domain)
answers navigator.credentials.get() on the real second-factor page of a running ``kaimen demo``.

There is no registration page yet (the customer dashboard will have one), so the passkey is registered
with a real ceremony all the same: the server's registration options come from the Passkeys API (run in
this process on the demo's own database and sealing key), the browser makes the credential with
navigator.credentials.create() on the demo's origin, and the Passkeys API verifies and stores it. Then a
demo TPP pushes its request, the browser opens the authorize URL, the customer logs in with the
password, chooses the passkey, approves, and the browser is sent to the TPP's loopback redirect URI
(intercepted, so nothing needs to listen there) with ``code``, ``state`` and ``iss``. The code is then
redeemed to see the ID token record the passkey: ``amr`` ["pwd", "hwk"] and the SCA ``acr``.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey

from tests.demo_flow_support import ACR_SCA, DemoTpp, Pushed, check_authorization_response, dpop_proof, push
from tests.test_demo_server import Demo, free_port

pytestmark = pytest.mark.server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# A platform authenticator with user verification, as a phone or laptop passkey would be.
VIRTUAL_AUTHENTICATOR = {
    "protocol": "ctap2",
    "transport": "internal",
    "hasResidentKey": True,
    "hasUserVerification": True,
    "isUserVerified": True,
    "automaticPresenceSimulation": True,
}
# navigator.credentials.create() with the server's options (WebAuthn Level 3 §5.4, JSON as py_webauthn
# writes it), answering in the RegistrationResponseJSON shape (§5.1, base64url without padding).
REGISTER_IN_PAGE = """async (optionsJson) => {
  const fromB64 = (s) => Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/')), c => c.charCodeAt(0));
  const toB64 = (b) => btoa(String.fromCharCode(...new Uint8Array(b)))
    .replace(/\\+/g, '-').replace(/\\//g, '_').replace(/=+$/, '');
  const options = JSON.parse(optionsJson);
  options.challenge = fromB64(options.challenge);
  options.user.id = fromB64(options.user.id);
  options.excludeCredentials = (options.excludeCredentials || []).map(c => ({...c, id: fromB64(c.id)}));
  const credential = await navigator.credentials.create({publicKey: options});
  return {
    id: credential.id, rawId: toB64(credential.rawId), type: credential.type,
    authenticatorAttachment: credential.authenticatorAttachment,
    response: {
      clientDataJSON: toB64(credential.response.clientDataJSON),
      attestationObject: toB64(credential.response.attestationObject),
      transports: credential.response.getTransports(),
    },
    clientExtensionResults: credential.getClientExtensionResults(),
  };
}"""


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip("Chromium not available: apt-get install chromium")
    running = Demo(tmp_path / "data", tmp_path / "out" / "credentials.json", free_port())
    try:
        yield running
    finally:
        running.stop()


@asynccontextmanager
async def passkey_registry(data_dir: Path, base_url: str) -> AsyncIterator[Any]:
    """The demo's Passkeys API and customers, opened in this process on the demo's database."""
    from kaimen.authz.once import DatabaseOnce
    from kaimen.authz.sealing import sealer_for
    from kaimen.identity.customers import Customers
    from kaimen.identity.passkeys import Passkeys
    from kaimen.settings import load_settings
    from kaimen.store.db import Database

    settings = load_settings(data_dir=data_dir, public_base_url=base_url)
    db = Database(settings.sqlalchemy_url)
    sealer = sealer_for(settings)
    customers = Customers(db, sealer, settings)
    try:
        yield customers, Passkeys(db, sealer, DatabaseOnce(db), settings)
    finally:
        await customers.close()
        await db.dispose()


async def register_passkey(page: Any, demo: Demo, base_url: str, username: str) -> None:
    """A registration ceremony: the server's options, the browser's navigator.credentials.create() on
    the demo's origin (a page of the demo must be open), the server's verification."""
    async with passkey_registry(demo.data_dir, base_url) as (customers, passkeys):
        customer = next(c for c in await customers.list() if c.username == username)
        start = await passkeys.begin_registration(customer.id, customer.username, customer.display_name)
        credential = await page.evaluate(REGISTER_IN_PAGE, start.options_json)
        await passkeys.finish_registration(customer.id, credential, start.challenge)
        assert await passkeys.has_passkey(customer.id)


def redeem(tpp: DemoTpp, pushed: Pushed, callback: str, dpop_key: ECKey) -> dict[str, Any]:
    token_endpoint = tpp.meta["token_endpoint"]
    with tpp.oauth_client() as client:
        token: dict[str, Any] = client.fetch_token(
            token_endpoint,
            authorization_response=callback,
            state=pushed.state,
            code_verifier=pushed.verifier,
            headers={"DPoP": dpop_proof(dpop_key, "POST", token_endpoint)},
        )
    return token


def check_the_tokens_record_the_passkey(tpp: DemoTpp, pushed: Pushed, callback: str, dpop_key: ECKey) -> None:
    """Redeem the code; the ID token says SCA with a passkey (RFC 8176 "hwk") after the password, and
    the DPoP-bound access token works at userinfo."""
    token = redeem(tpp, pushed, callback, dpop_key)
    claims = jwt.decode(token["id_token"], tpp.signing_keys(), algorithms=["PS256"]).claims
    assert (claims["iss"], claims["aud"], claims["nonce"]) == (tpp.issuer, tpp.client_id, pushed.nonce)
    assert claims["acr"] == ACR_SCA
    assert claims["amr"] == ["pwd", "hwk"]  # a passkey as the second factor, not a one-time code
    userinfo_url = tpp.meta["userinfo_endpoint"]
    answer = httpx.get(
        userinfo_url,
        headers={
            "Authorization": f"DPoP {token['access_token']}",
            "DPoP": dpop_proof(dpop_key, "GET", userinfo_url, token["access_token"]),
        },
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["sub"] == claims["sub"]


async def test_a_customer_passes_sca_with_a_passkey_in_chromium(demo: Demo, tmp_path: Path) -> None:
    from playwright.async_api import Route, async_playwright

    started = time.monotonic()
    creds = demo.start()
    base_url = creds["issuer"]
    assert base_url == f"http://localhost:{demo.port}"  # WebAuthn: RP id "localhost", not an IP
    tpp = DemoTpp.from_credentials(creds, "ACQUAINTANCE")
    customer = creds["customers"][1]
    callbacks: list[str] = []

    async def at_the_tpp(route: Route) -> None:
        """The TPP's redirect URI: record where the browser was sent, answer without a server."""
        callbacks.append(route.request.url)
        await route.fulfill(status=200, content_type="text/plain", body="back at the TPP")

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(locale="en-GB")
            page = await context.new_page()
            cdp = await context.new_cdp_session(page)
            await cdp.send("WebAuthn.enable", {"enableUI": False})
            authenticator = await cdp.send(
                "WebAuthn.addVirtualAuthenticator", {"options": VIRTUAL_AUTHENTICATOR}
            )
            authenticator_id = authenticator["authenticatorId"]

            # Register: any page of the demo's origin is where the browser makes the credential.
            await page.goto(creds["discovery"])
            await register_passkey(page, demo, base_url, customer["username"])
            held = await cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator_id})
            assert [c["rpId"] for c in held["credentials"]] == ["localhost"]
            signs_before = held["credentials"][0]["signCount"]

            # The TPP pushes its request (code bound to its DPoP key by dpop_jkt); the browser opens it.
            dpop_key = ECKey.generate_key("P-256", private=True)
            pushed = push(tpp, dpop_key, bind="jkt")
            await page.route(tpp.redirect_uri + "*", at_the_tpp)
            await page.goto(pushed.authorize_url)
            assert page.url == f"{base_url}/login"
            await page.fill('input[name="username"]', customer["username"])
            await page.fill('input[name="password"]', customer["password"])
            await page.click('button[type="submit"]')
            await page.wait_for_url(f"{base_url}/login/otp")

            # The second-factor page: the passkey button (shown by the page's script), the virtual
            # authenticator answers navigator.credentials.get(), the page posts the assertion.
            await page.click("#passkey-button")
            await page.wait_for_url(f"{base_url}/login/consent")
            assert await page.is_hidden("#passkey-error")
            await page.screenshot(path=str(tmp_path / "consent.png"), full_page=True)
            assert tpp.name in await page.inner_text("body")
            held = await cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator_id})
            assert held["credentials"][0]["signCount"] > signs_before

            await page.locator('input[name="account_id"]').first.check()
            await page.click('button[name="decision"][value="approve"]')
            await page.wait_for_url(tpp.redirect_uri + "*")
        finally:
            await browser.close()

    assert len(callbacks) == 1
    check_authorization_response(tpp, pushed, callbacks[0])
    check_the_tokens_record_the_passkey(tpp, pushed, callbacks[0], dpop_key)
    assert time.monotonic() - started < 30
