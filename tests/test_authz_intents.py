"""The consent an authorization request names (issue 4, item 2): the essential
``openbanking_intent_id`` claim is checked at PAR against the account-access consents, and again when
the customer answers. One test per rule, each asserting the exact refusal."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import orjson
import pytest
from sqlalchemy import update

from kaimen.apis.accounts.models import AccountAccessConsent
from kaimen.settings import Settings
from kaimen.store.types import utcnow
from tests.authz_flow_support import (
    UNKNOWN_INTENT_ID,
    Harness,
    Pkce,
    assert_oauth_error,
    claims_for,
    harness,
    query_of,
)

NOT_AWAITING = "openbanking_intent_id does not name a consent of this client that awaits authorisation"


@pytest.fixture
async def h(make_settings: Callable[..., Settings], database_url: str) -> AsyncIterator[Harness]:
    async with harness(make_settings(database_url=database_url)) as flow:
        yield flow


async def set_consent(h: Harness, consent_id: str, **values: object) -> None:
    async with h.server.db.write() as session:
        await session.execute(
            update(AccountAccessConsent).where(AccountAccessConsent.id == consent_id).values(**values)
        )


async def test_a_request_without_the_intent_claim_is_refused(h: Harness) -> None:
    tpp = await h.tpp()
    claims = orjson.dumps({"id_token": {"acr": {"essential": True}}}).decode()
    body = assert_oauth_error(await h.par(tpp, claims=claims), 400, "invalid_request")
    assert "openbanking_intent_id" in body["error_description"]
    body = assert_oauth_error(await h.par(tpp, claims=None), 400, "invalid_request")
    assert "openbanking_intent_id" in body["error_description"]


async def test_an_unknown_consent_is_refused(h: Harness) -> None:
    tpp = await h.tpp()
    body = assert_oauth_error(await h.par(tpp, claims=claims_for(UNKNOWN_INTENT_ID)), 400, "invalid_request")
    assert body["error_description"] == NOT_AWAITING


async def test_another_tpps_consent_is_refused(h: Harness) -> None:
    tpp, other = await h.tpp(), await h.tpp()
    theirs = await h.consent(other)
    body = assert_oauth_error(await h.par(tpp, claims=claims_for(theirs)), 400, "invalid_request")
    assert body["error_description"] == NOT_AWAITING


async def test_an_expired_consent_is_refused(h: Harness) -> None:
    tpp = await h.tpp()
    consent_id = await h.consent(tpp)
    await set_consent(h, consent_id, expires_at=utcnow() - timedelta(seconds=1), expiration_text="x")
    assert_oauth_error(await h.par(tpp, claims=claims_for(consent_id)), 400, "invalid_request")


@pytest.mark.parametrize("status", ["Rejected", "Revoked"])
async def test_a_consent_that_ended_is_refused(h: Harness, status: str) -> None:
    tpp = await h.tpp()
    consent_id = await h.consent(tpp)
    await set_consent(h, consent_id, status=status)
    assert_oauth_error(await h.par(tpp, claims=claims_for(consent_id)), 400, "invalid_request")


async def test_an_authorised_unexpired_consent_may_be_re_authenticated(h: Harness) -> None:
    """The profile, "Consent Re-authentication"."""
    tpp = await h.tpp()
    consent_id = await h.consent(tpp)
    accounts = await h.accounts()
    assert await h.app.components.consents.authorise(consent_id, "cust-1", accounts[:1])
    response = await h.par(tpp, claims=claims_for(consent_id))
    assert response.status_code == 201, response.text


async def test_a_kind_of_consent_not_served_is_refused(h: Harness) -> None:
    """A bank that plugs in no payments kind refuses the scope at PAR (and does not advertise it)."""
    metadata = (await h.http.get("/.well-known/openid-configuration")).json()
    assert metadata["scopes_supported"] == ["openid", "accounts", "payments", "fundsconfirmations"]
    del h.server.intents["payments"]
    tpp = await h.tpp()
    body = assert_oauth_error(
        await h.par(tpp, scope="openid payments", claims=claims_for("pdc-1")), 400, "invalid_scope"
    )
    assert body["error_description"] == "payments consents are not served by this bank"


async def test_approving_moves_the_consent_to_authorised_with_the_chosen_accounts(h: Harness) -> None:
    tpp = await h.tpp()
    request_uri = await h.pushed(tpp, Pkce())
    accounts = await h.accounts()
    assert "code" in query_of(await h.finish(request_uri, account_ids=accounts[:1]))
    consent = await h.app.components.consents.get(h.intent_id, tpp.client_id)
    assert (consent.status.value, consent.customer_id, list(consent.account_ids)) == (
        "Authorised",
        "cust-1",
        accounts[:1],
    )


async def test_denying_rejects_the_consent(h: Harness) -> None:
    tpp = await h.tpp()
    request_uri = await h.pushed(tpp, Pkce())
    assert query_of(await h.finish(request_uri, approved=False))["error"] == "access_denied"
    consent = await h.app.components.consents.get(h.intent_id, tpp.client_id)
    assert consent.status.value == "Rejected"


async def test_an_account_of_someone_else_is_never_authorised(h: Harness) -> None:
    """The accounts chosen must be among the customer's own: another customer's account id, sent in a
    forged form, gives access_denied and leaves the consent awaiting authorisation."""
    tpp = await h.tpp()
    theirs = (await h.accounts("cust-2"))[0]
    request_uri = await h.pushed(tpp, Pkce())
    answer = query_of(await h.finish(request_uri, account_ids=[theirs]))
    assert answer["error"] == "access_denied" and "code" not in answer
    consent = await h.app.components.consents.get(h.intent_id, tpp.client_id)
    assert consent.status.value == "AwaitingAuthorisation" and consent.account_ids == ()


async def test_no_account_chosen_is_never_authorised(h: Harness) -> None:
    tpp = await h.tpp()
    request_uri = await h.pushed(tpp, Pkce())
    assert query_of(await h.finish(request_uri, account_ids=[]))["error"] == "access_denied"


async def test_a_consent_deleted_while_the_customer_logs_in_gives_access_denied(h: Harness) -> None:
    tpp = await h.tpp()
    request_uri = await h.pushed(tpp, Pkce())
    assert await h.app.components.consents.delete(h.intent_id, tpp.client_id)
    assert query_of(await h.finish(request_uri))["error"] == "access_denied"


async def test_a_consent_that_expires_while_the_customer_logs_in_gives_access_denied(h: Harness) -> None:
    tpp = await h.tpp()
    request_uri = await h.pushed(tpp, Pkce())
    await set_consent(h, h.intent_id, expires_at=utcnow() - timedelta(seconds=1), expiration_text="x")
    assert query_of(await h.finish(request_uri))["error"] == "access_denied"
    consent = await h.app.components.consents.get(h.intent_id, tpp.client_id)
    assert consent.status.value == "AwaitingAuthorisation"
