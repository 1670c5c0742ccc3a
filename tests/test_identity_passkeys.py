"""Passkeys as the second factor (issue 3, item 5), driven at the HTTP level by a software
authenticator (soft-fido2): the happy path, and the refusals of a wrong or foreign challenge, a wrong
origin or RP id, a replay, a counter that did not grow and a backup-eligible flag that changed. RP id
"localhost", origin the public base URL.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from typing import Any

import httpx
import pytest
from soft_fido2 import Fido2Authenticator
from sqlalchemy import select, update

from kaimen.identity.passkeys import PasskeyRefused
from kaimen.store.identity_models import Passkey
from tests.identity_support import (
    BASE,
    CALLBACK,
    PASSWORD,
    World,
    browser,
    csrf_of,
    log_in,
    make_world,
    world,
)

__all__ = ["make_world", "world"]
_OPTIONS = re.compile(r'<script type="application/json" id="passkey-options">(.*?)</script>', re.S)


async def _enrolled(world: World, *, be: bool = False) -> tuple[str, Fido2Authenticator]:
    """Alice, with a passkey registered through the registration ceremony; ``be``: the authenticator
    sets the backup-eligible flag (soft-fido2 sets only the flags it is told to: UP, UV, AT here)."""
    customer_id, _ = await world.customers.create("alice", PASSWORD, "Alice Chen")
    start = await world.passkeys.begin_registration(customer_id, "alice", "Alice Chen")
    authenticator = Fido2Authenticator()
    options = {**json.loads(start.options_json), "origin": BASE}
    credential = authenticator.credential_create(options, atteStmtFmt="none", be=be)
    await world.passkeys.finish_registration(customer_id, credential, start.challenge)
    return customer_id, authenticator


async def _second_factor_page(http: httpx.AsyncClient) -> tuple[str, dict[str, Any]]:
    logged = await log_in(http, "alice")
    assert logged.status_code == 303
    page = await http.get("/login/otp")
    found = _OPTIONS.search(page.text)
    assert found, page.text
    return csrf_of(page), json.loads(found.group(1))


def _sign(
    authenticator: Fido2Authenticator, options: dict[str, Any], *, be: bool = False, **override: Any
) -> str:
    return json.dumps(authenticator.credential_request({**options, "origin": BASE, **override}, be=be))


async def test_passkey_as_second_factor_reaches_consent_with_amr_hwk(world: World) -> None:
    _, authenticator = await _enrolled(world)
    async with browser(world.app()) as http:
        csrf, options = await _second_factor_page(http)
        assert options["rpId"] == "localhost"
        assert options["userVerification"] == "preferred"
        answer = await http.post(
            "/login/passkey", data={"csrf": csrf, "credential": _sign(authenticator, options)}
        )
        assert (answer.status_code, answer.headers["location"]) == (303, "/login/consent")
        consent = await http.get("/login/consent")
        await http.post(
            "/login/consent", data={"csrf": csrf_of(consent), "decision": "approve", "account_id": "acc-main"}
        )
    assert world.flow.finished[0]["amr"] == ["pwd", "hwk"]
    assert world.flow.finished[0]["acr"] == "urn:openbanking:psd2:sca"


async def _approve_with_passkey(world: World, authenticator: Fido2Authenticator, *, be: bool) -> None:
    async with browser(world.app()) as http:
        csrf, options = await _second_factor_page(http)
        answer = await http.post(
            "/login/passkey", data={"csrf": csrf, "credential": _sign(authenticator, options, be=be)}
        )
        assert (answer.status_code, answer.headers["location"]) == (303, "/login/consent")
        consent = await http.get("/login/consent")
        await http.post(
            "/login/consent", data={"csrf": csrf_of(consent), "decision": "approve", "account_id": "acc-main"}
        )


async def test_an_authentication_the_flow_ends_redirects_right_after_the_passkey(world: World) -> None:
    """The flow ends the authorization (a requested sub of someone else, an unmet Essential acr): the
    passkey's answer is the client's error redirect, and the consent page is never shown."""
    customer_id, authenticator = await _enrolled(world)
    world.flow.refuse_authenticated = True
    async with browser(world.app()) as http:
        csrf, options = await _second_factor_page(http)
        answer = await http.post(
            "/login/passkey", data={"csrf": csrf, "credential": _sign(authenticator, options)}
        )
        assert answer.status_code == 303
        assert answer.headers["location"] == f"{CALLBACK}?error=access_denied&state=s&iss={BASE}"
        assert (await http.get("/login/consent")).status_code == 400  # no session left to show it in
    assert world.flow.authentications == [
        {"request_id": "req-1", "customer_id": customer_id, "acr": "urn:openbanking:psd2:sca"}
    ]
    assert world.flow.described_for == [None]  # the login page only
    assert world.flow.finished == []


async def test_a_backup_eligible_passkey_is_recorded_as_amr_swk(world: World) -> None:
    """RFC 8176 §2 "swk": a synced (backup-eligible, WebAuthn Level 3 BE flag) passkey is a
    software-secured key, not a hardware one."""
    customer_id, authenticator = await _enrolled(world, be=True)
    assert await _stored_backup_eligible(world, customer_id) is True
    await _approve_with_passkey(world, authenticator, be=True)
    assert world.flow.finished[0]["amr"] == ["pwd", "swk"]


async def _stored_backup_eligible(world: World, customer_id: str) -> bool | None:
    async with world.db.read() as session:
        stored: bool | None = await session.scalar(
            select(Passkey.backup_eligible).where(Passkey.customer_id == customer_id)
        )
    return stored


@pytest.mark.parametrize(("registered", "asserted"), [(False, True), (True, False)])
async def test_an_assertion_whose_backup_eligibility_differs_from_the_registered_one_is_refused(
    world: World, registered: bool, asserted: bool
) -> None:
    """WebAuthn Level 3 §7.2: compare currentBe with credentialRecord.backupEligible ("If
    credentialRecord.backupEligible is not set, verify that currentBe is not set", and the same way
    round when it is set). A device-bound passkey (hwk) cannot turn into a synced one, or back."""
    customer_id, authenticator = await _enrolled(world, be=registered)
    async with browser(world.app()) as http:
        csrf, options = await _second_factor_page(http)
        await _refused(world, http, csrf, _sign(authenticator, options, be=asserted))
    assert await _stored_backup_eligible(world, customer_id) is registered
    async with world.db.read() as session:  # the refused assertion (count 1) did not move the counter
        assert await session.scalar(select(Passkey.sign_count)) == 0  # registration's


async def test_a_passkey_registered_before_the_flag_was_kept_records_it_at_its_next_use(
    world: World,
) -> None:
    """Migration 0020 leaves the flag unknown (NULL) on passkeys registered before it: the first
    assertion records its BE, as registration would have, and from then on a different one is refused."""
    customer_id, authenticator = await _enrolled(world, be=False)
    async with world.db.write() as session:
        await session.execute(update(Passkey).values(backup_eligible=None))
    await _approve_with_passkey(world, authenticator, be=True)
    assert world.flow.finished[0]["amr"] == ["pwd", "swk"]
    assert await _stored_backup_eligible(world, customer_id) is True
    world.flow.finished.clear()
    async with browser(world.app()) as http:
        csrf, options = await _second_factor_page(http)
        await _refused(world, http, csrf, _sign(authenticator, options, be=False))


async def test_second_factor_page_carries_the_script_under_the_csp_nonce(world: World) -> None:
    await _enrolled(world)
    async with browser(world.app()) as http:
        await log_in(http, "alice")
        page = await http.get("/login/otp")
    nonce = re.search(r"script-src 'nonce-([^']+)'", page.headers["content-security-policy"])
    assert nonce and f'<script nonce="{nonce.group(1)}">' in page.text
    assert "navigator.credentials.get" in page.text
    assert 'name="otp"' in page.text  # the one-time code still works without JavaScript


async def test_no_passkey_no_script(world: World) -> None:
    await world.customers.create("alice", PASSWORD)
    async with browser(world.app()) as http:
        await log_in(http, "alice")
        page = await http.get("/login/otp")
    assert "<script" not in page.text and 'name="otp"' in page.text


async def _refused(world: World, http: httpx.AsyncClient, csrf: str, credential: str) -> None:
    answer = await http.post("/login/passkey", data={"csrf": csrf, "credential": credential})
    assert answer.status_code == 401
    assert "The passkey could not be verified." in answer.text
    assert world.flow.finished == []
    assert world.events[-1][0] == "sca.failed"


async def test_a_challenge_the_server_did_not_issue_is_refused(world: World) -> None:
    _, authenticator = await _enrolled(world)
    async with browser(world.app()) as http:
        csrf, options = await _second_factor_page(http)
        forged = base64.urlsafe_b64encode(secrets.token_bytes(37)).decode().rstrip("=")
        await _refused(world, http, csrf, _sign(authenticator, options, challenge=forged))


async def test_a_challenge_of_another_login_session_is_refused(world: World) -> None:
    _, authenticator = await _enrolled(world)
    async with browser(world.app()) as other:
        _, foreign = await _second_factor_page(other)
    async with browser(world.app()) as http:
        csrf, _ = await _second_factor_page(http)
        await _refused(world, http, csrf, _sign(authenticator, foreign))


@pytest.mark.parametrize(
    "override",
    [{"origin": "http://evil.example:8000"}, {"origin": "https://localhost:8000"}, {"rpId": "evil.example"}],
)
async def test_wrong_origin_or_rp_id_is_refused(world: World, override: dict[str, str]) -> None:
    _, authenticator = await _enrolled(world)
    async with browser(world.app()) as http:
        csrf, options = await _second_factor_page(http)
        await _refused(world, http, csrf, _sign(authenticator, options, **override))


async def test_a_counter_that_did_not_grow_is_refused(world: World) -> None:
    customer_id, authenticator = await _enrolled(world)
    earlier = json.loads(await world.passkeys.authentication_options(customer_id, "earlier") or "")
    await world.passkeys.authenticate(customer_id, "earlier", _sign(authenticator, earlier))  # count 1 stored
    async with browser(world.app()) as http:
        csrf, options = await _second_factor_page(http)
        authenticator.counter = 1  # a clone of the authenticator as it was before that use
        await _refused(world, http, csrf, _sign(authenticator, options))


async def test_another_customers_passkey_is_refused(world: World) -> None:
    await _enrolled(world)
    bob_id, _ = await world.customers.create("bob", PASSWORD)
    start = await world.passkeys.begin_registration(bob_id, "bob", "Bob")
    bobs = Fido2Authenticator()
    await world.passkeys.finish_registration(
        bob_id,
        bobs.credential_create({**json.loads(start.options_json), "origin": BASE}, atteStmtFmt="none"),
        start.challenge,
    )
    async with browser(world.app()) as http:
        csrf, options = await _second_factor_page(http)
        await _refused(world, http, csrf, _sign(bobs, options))


async def test_malformed_credential_is_refused(world: World) -> None:
    await _enrolled(world)
    async with browser(world.app()) as http:
        csrf, _ = await _second_factor_page(http)
        await _refused(world, http, csrf, "{not json")


async def test_an_assertion_is_used_once(world: World) -> None:
    customer_id, authenticator = await _enrolled(world)
    session_id = "s" * 64
    options = json.loads(await world.passkeys.authentication_options(customer_id, session_id) or "")
    credential = _sign(authenticator, options)
    await world.passkeys.authenticate(customer_id, session_id, credential)
    with pytest.raises(PasskeyRefused):
        await world.passkeys.authenticate(customer_id, session_id, credential)


async def test_a_challenge_is_used_once_even_with_a_fresh_signature(world: World) -> None:
    customer_id, authenticator = await _enrolled(world)
    options = json.loads(await world.passkeys.authentication_options(customer_id, "s1") or "")
    await world.passkeys.authenticate(customer_id, "s1", _sign(authenticator, options))
    with pytest.raises(PasskeyRefused, match="already used"):
        await world.passkeys.authenticate(customer_id, "s1", _sign(authenticator, options))


async def test_an_expired_challenge_is_refused(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    import kaimen.identity.passkeys as module

    customer_id, authenticator = await _enrolled(world)
    options = json.loads(await world.passkeys.authentication_options(customer_id, "s1") or "")
    later = module.time.time() + module.CHALLENGE_SECONDS + 1
    monkeypatch.setattr(module.time, "time", lambda: later)
    with pytest.raises(PasskeyRefused, match="expired"):
        await world.passkeys.authenticate(customer_id, "s1", _sign(authenticator, options))


async def test_registration_from_another_origin_or_a_reused_challenge_is_refused(world: World) -> None:
    customer_id, _ = await world.customers.create("alice", PASSWORD)
    start = await world.passkeys.begin_registration(customer_id, "alice", "Alice")
    options = json.loads(start.options_json)
    with pytest.raises(PasskeyRefused):
        await world.passkeys.finish_registration(
            customer_id,
            Fido2Authenticator().credential_create(
                {**options, "origin": "http://evil.example"}, atteStmtFmt="none"
            ),
            start.challenge,
        )
    await world.passkeys.finish_registration(
        customer_id,
        Fido2Authenticator().credential_create({**options, "origin": BASE}, atteStmtFmt="none"),
        start.challenge,
    )
    with pytest.raises(PasskeyRefused, match="already used"):
        await world.passkeys.finish_registration(
            customer_id,
            Fido2Authenticator().credential_create({**options, "origin": BASE}, atteStmtFmt="none"),
            start.challenge,
        )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


async def test_a_user_handle_of_another_customer_is_refused(world: World) -> None:
    """WebAuthn Level 3 §7.2 step 6: "If response.userHandle is present, verify that it equals the
    user handle of the user account" (alice's id, as registered); the field is not signed, so a
    client can put any value in it."""
    _, authenticator = await _enrolled(world)
    bob_id, _ = await world.customers.create("bob", PASSWORD, "Bob")
    async with browser(world.app()) as http:
        csrf, options = await _second_factor_page(http)
        credential = json.loads(_sign(authenticator, options))
        credential["response"]["userHandle"] = _b64(bob_id.encode())
        await _refused(world, http, csrf, json.dumps(credential))


async def test_a_response_without_a_user_handle_is_still_accepted(world: World) -> None:
    _, authenticator = await _enrolled(world)
    async with browser(world.app()) as http:
        csrf, options = await _second_factor_page(http)
        credential = json.loads(_sign(authenticator, options))
        assert credential["response"].pop("userHandle")
        answer = await http.post("/login/passkey", data={"csrf": csrf, "credential": json.dumps(credential)})
    assert (answer.status_code, answer.headers["location"]) == (303, "/login/consent")


def _framed(authenticator: Fido2Authenticator, members: dict[str, Any]) -> None:
    """Make the authenticator's client data say the ceremony ran in a frame (as a browser would)."""
    build = authenticator.build_client_data_JSON

    def framed(pk: dict[str, Any]) -> str:
        return json.dumps({**json.loads(build(pk)), **members})

    authenticator.build_client_data_JSON = framed  # type: ignore[method-assign]


@pytest.mark.parametrize(
    "members",
    [
        {"crossOrigin": True},
        {"crossOrigin": True, "topOrigin": "https://evil.example"},
        {"crossOrigin": False, "topOrigin": "https://evil.example"},
    ],
)
async def test_an_assertion_made_in_a_cross_origin_frame_is_refused(
    world: World, members: dict[str, Any]
) -> None:
    """WebAuthn Level 3 §7.2: with C.topOrigin present (or C.crossOrigin true) the RP must "verify
    that the Relying Party expects this credential to be used within an iframe"; Kaimen's pages send
    frame-ancestors 'none', so it never does."""
    _, authenticator = await _enrolled(world)
    _framed(authenticator, members)
    async with browser(world.app()) as http:
        csrf, options = await _second_factor_page(http)
        await _refused(world, http, csrf, _sign(authenticator, options))


async def test_an_assertion_saying_crossorigin_false_is_accepted(world: World) -> None:
    _, authenticator = await _enrolled(world)
    _framed(authenticator, {"crossOrigin": False})
    async with browser(world.app()) as http:
        csrf, options = await _second_factor_page(http)
        answer = await http.post(
            "/login/passkey", data={"csrf": csrf, "credential": _sign(authenticator, options)}
        )
    assert (answer.status_code, answer.headers["location"]) == (303, "/login/consent")


async def test_a_registration_made_in_a_cross_origin_frame_is_refused(world: World) -> None:
    """WebAuthn Level 3 §7.1, the same check at registration."""
    customer_id, _ = await world.customers.create("alice", PASSWORD)
    start = await world.passkeys.begin_registration(customer_id, "alice", "Alice")
    authenticator = Fido2Authenticator()
    _framed(authenticator, {"crossOrigin": True, "topOrigin": "https://evil.example"})
    created = authenticator.credential_create(
        {**json.loads(start.options_json), "origin": BASE}, atteStmtFmt="none"
    )
    with pytest.raises(PasskeyRefused, match="cross-origin frame"):
        await world.passkeys.finish_registration(customer_id, created, start.challenge)
    assert not await world.passkeys.has_passkey(customer_id)
