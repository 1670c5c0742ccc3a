"""Hostile WebAuthn responses straight into the passkey ceremonies (issue 6 item 4): a
navigator.credentials.get() or .create() response, as the login page posts it, with any member
broken (JSON shape, base64url, clientDataJSON, authenticatorData, signature, attestationObject).
kaimen.identity.passkeys documents one error for both: PasskeyRefused, never anything else (the login
page turns it into a failed attempt; any other exception would be a 500).

Starts from real responses of a software authenticator (soft-fido2) for a real challenge, so the
broken member is met past the JSON parse and the challenge check. Budget and case count:
tests.fuzz_support.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from soft_fido2 import Fido2Authenticator

from kaimen.identity.passkeys import PasskeyRefused
from tests.fuzz_support import FUZZ, JSON_VALUES, b64, count, dumps
from tests.identity_support import BASE, PASSWORD, World, make_world

__all__ = ["make_world"]
pytest_plugins = ["tests.fuzz_plugin"]

SESSION = "s" * 64
BYTES = st.binary(max_size=200).map(b64)


@st.composite
def _broken(draw: st.DrawFn, credential: dict[str, Any]) -> str:
    """``credential`` (a WebAuthn response as JSON) with some members replaced, removed or re-encoded."""
    document: dict[str, Any] = json.loads(json.dumps(credential))
    response = document.setdefault("response", {})
    outer = ("id", "rawId", "type", "authenticatorAttachment")
    for name in [*response, *outer]:
        target = document if name in outer else response
        choice = draw(st.integers(0, 6))
        if choice == 0:
            target[name] = draw(BYTES)  # random bytes, well encoded
        elif choice == 1:
            target[name] = draw(JSON_VALUES)  # the wrong type
        elif choice == 2:
            target.pop(name, None)
        elif choice == 3 and isinstance(target.get(name), str):
            value = target[name]  # the real bytes, cut or flipped
            cut = draw(st.integers(0, len(value)))
            target[name] = value[:cut] + draw(st.text("ABCxyz-_=+/!", max_size=3)) + value[cut + 1 :]
    if draw(st.integers(0, 9)) == 0:
        return draw(st.text(max_size=80))
    if draw(st.integers(0, 9)) == 0:
        document["response"] = draw(JSON_VALUES)
    return dumps(document)


def _client_data(credential: dict[str, Any], **override: Any) -> dict[str, Any]:
    """``credential`` with its clientDataJSON re-written: members replaced by hostile values."""
    raw = credential["response"]["clientDataJSON"]
    data = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    data.update(override)
    broken = json.loads(json.dumps(credential))
    broken["response"]["clientDataJSON"] = b64(dumps(data).encode("utf-8", "surrogatepass"))
    return broken


@pytest.fixture
async def enrolled(
    make_world: Callable[..., World], sqlite_url: str
) -> tuple[World, str, Fido2Authenticator, dict[str, Any]]:
    """Alice with a passkey, and the registration options of a second one (for the create() property)."""
    world = make_world(sqlite_url)
    customer_id, _ = await world.customers.create("alice", PASSWORD, "Alice Chen")
    start = await world.passkeys.begin_registration(customer_id, "alice", "Alice Chen")
    authenticator = Fido2Authenticator()
    options = {**json.loads(start.options_json), "origin": BASE}
    await world.passkeys.finish_registration(
        customer_id, authenticator.credential_create(options, atteStmtFmt="none"), start.challenge
    )
    return world, customer_id, authenticator, options


CLIENT_DATA_OVERRIDES = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["webauthn.get", "webauthn.create", ""]) | JSON_VALUES,
        "challenge": BYTES | JSON_VALUES,
        "origin": st.sampled_from([BASE, "http://evil.example", ""]) | JSON_VALUES,
        "crossOrigin": JSON_VALUES,
        "tokenBinding": JSON_VALUES,
    },
)


@FUZZ
@given(data=st.data(), where=st.sampled_from(["members", "client data"]))
async def test_a_broken_assertion_is_passkey_refused(
    enrolled: tuple[World, str, Fido2Authenticator, dict[str, Any]], data: Any, where: str
) -> None:
    count("passkeys.authenticate")
    world, customer_id, authenticator, _ = enrolled
    options = json.loads(await world.passkeys.authentication_options(customer_id, SESSION) or "")
    credential = authenticator.credential_request({**options, "origin": BASE})
    if where == "members":
        hostile = data.draw(_broken(credential))
    else:
        hostile = dumps(_client_data(credential, **data.draw(CLIENT_DATA_OVERRIDES)))
    try:
        await world.passkeys.authenticate(customer_id, SESSION, hostile)
    except PasskeyRefused:
        return


@FUZZ
@given(data=st.data(), where=st.sampled_from(["members", "client data"]))
async def test_a_broken_registration_is_passkey_refused(
    enrolled: tuple[World, str, Fido2Authenticator, dict[str, Any]], data: Any, where: str
) -> None:
    count("passkeys.finish_registration")
    world, customer_id, _, _ = enrolled
    start = await world.passkeys.begin_registration(customer_id, "alice", "Alice Chen")
    options = {**json.loads(start.options_json), "origin": BASE}
    credential = Fido2Authenticator().credential_create(options, atteStmtFmt="none")
    if where == "members":
        hostile: Any = data.draw(_broken(credential))
    else:
        hostile = dumps(_client_data(credential, **data.draw(CLIENT_DATA_OVERRIDES)))
    try:
        await world.passkeys.finish_registration(customer_id, hostile, start.challenge)
    except PasskeyRefused:
        return
