"""POST /open-banking/v3.1/cbpii/funds-confirmations (UK OB v3.1.11 Confirmation of Funds API, spec
file confirmation-funds-openapi.json, OBFundsConfirmation1 / OBFundsConfirmationResponse1): the PSU's
token, its consent Authorised, unexpired and its own, checked on every call; the answer a yes or no from
the sandbox ledger, kept for audit; on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from kaimen.apis.funds.models import FundsConfirmation, FundsConfirmationConsent
from kaimen.settings import Settings
from kaimen.store.types import utcnow
from tests.account_consents_support import new_tpp
from tests.funds_support import (
    ALICE,
    BOB,
    CONFIRMATIONS,
    CONSENT_MISMATCH,
    FIELD_INVALID,
    FIELD_MISSING,
    FIELD_UNEXPECTED,
    INVALID_FORMAT,
    INVALID_STATUS,
    FundsBank,
    assert_confirmation,
    assert_ob_error,
    check_body,
    new_funds_tpp,
    open_funds_bank,
)

AMOUNT = "Data.InstructedAmount"
UNSUPPORTED_CURRENCY = "UK.OBIE.Unsupported.Currency"


@pytest.fixture
async def bank(make_settings: Callable[..., Settings], database_url: str) -> AsyncIterator[FundsBank]:
    async with open_funds_bank(make_settings(database_url=database_url)) as opened:
        yield opened


async def test_funds_available_true_and_false_against_the_ledger(bank: FundsBank) -> None:
    """FundsAvailable is the core's answer for the consent's account: GBP 1000.00 is there, 1000.01 is
    not. Nothing else about the account is in the answer."""
    consent_id = await bank.authorised()
    token = await bank.token(consent_id)
    yes = assert_confirmation(await bank.confirm(token, check_body(consent_id, "1000.00")))
    no = assert_confirmation(await bank.confirm(token, check_body(consent_id, "1000.01")))
    assert yes["Data"]["FundsAvailable"] is True
    assert no["Data"]["FundsAvailable"] is False
    data = yes["Data"]
    assert set(data) == {"FundsConfirmationId", "ConsentId", "CreationDateTime", "FundsAvailable",
                         "Reference", "InstructedAmount"}  # fmt: skip
    assert data["ConsentId"] == consent_id
    assert data["Reference"] == "Purchase01"
    assert data["InstructedAmount"] == {"Amount": "1000.00", "Currency": "GBP"}
    assert data["FundsConfirmationId"].startswith("fc-") and len(data["FundsConfirmationId"]) <= 40
    assert data["FundsConfirmationId"] != no["Data"]["FundsConfirmationId"]
    assert yes["Links"] == {"Self": f"http://localhost:8000{CONFIRMATIONS}"}
    assert yes["Meta"] == {"TotalPages": 1}


async def test_amounts_are_read_in_minor_units_and_echoed_as_sent(bank: FundsBank) -> None:
    """OBActiveCurrencyAndAmount allows up to 5 decimals: zeros past the pence are the same amount."""
    token = await bank.token(consent_id := await bank.authorised())
    for amount, available in (("1000", True), ("999.99000", True), ("1000.00001", None), ("1000.01", False)):
        response = await bank.confirm(token, check_body(consent_id, amount))
        if available is None:
            assert_ob_error(response, 400, FIELD_INVALID, f"{AMOUNT}.Amount")
            continue
        data = assert_confirmation(response)["Data"]
        assert (data["InstructedAmount"]["Amount"], data["FundsAvailable"]) == (amount, available)


async def test_every_confirmation_is_kept_for_audit(bank: FundsBank) -> None:
    consent_id = await bank.authorised()
    token = await bank.token(consent_id)
    answer = assert_confirmation(await bank.confirm(token, check_body(consent_id, "12.5")))["Data"]
    async with bank.app.components.db.read() as session:
        rows = (await session.scalars(select(FundsConfirmation))).all()
    assert [(r.id, r.consent_id, r.client_id, r.customer_id, r.account_id, r.reference, r.amount_text,
             r.amount_minor, r.currency, r.funds_available) for r in rows] == [
        (answer["FundsConfirmationId"], consent_id, bank.tpp.client_id, ALICE, bank.alice.account_id,
         "Purchase01", "12.5", 1250, "GBP", True)
    ]  # fmt: skip


async def test_a_currency_other_than_the_accounts_is_refused(bank: FundsBank) -> None:
    """A funds check across currencies has no answer: 400 UK.OBIE.Unsupported.Currency; a currency the
    bank keeps no account in, likewise; an ill-formed code is UK.OBIE.Field.Invalid."""
    token = await bank.token(consent_id := await bank.authorised())
    for currency in ("EUR", "JPY"):
        response = await bank.confirm(token, check_body(consent_id, "1.00", currency))
        assert_ob_error(response, 400, UNSUPPORTED_CURRENCY, f"{AMOUNT}.Currency")
    euro_consent = await bank.authorised(bank.alice_eur)
    euro = await bank.confirm(await bank.token(euro_consent), check_body(euro_consent, "50.00", "EUR"))
    assert assert_confirmation(euro)["Data"]["FundsAvailable"] is True


def _without(name: str) -> dict[str, Any]:
    body = check_body("CONSENT")
    del body["Data"][name]
    return body


def _amount(**members: Any) -> dict[str, Any]:
    body = check_body("CONSENT")
    amount = {"Amount": "1.00", "Currency": "GBP", **members}
    body["Data"]["InstructedAmount"] = {k: v for k, v in amount.items() if v is not None}
    return body


BAD_BODIES: list[tuple[str, Any, str, str | None]] = [
    ("a JSON array", [check_body("CONSENT")], INVALID_FORMAT, None),
    ("missing Data", {}, FIELD_MISSING, "Data"),
    ("Data not an object", {"Data": "x"}, FIELD_INVALID, "Data"),
    ("unknown top-level member", {**check_body("CONSENT"), "Risk": {}}, FIELD_UNEXPECTED, "Risk"),
    ("unknown Data member", check_body("CONSENT", DebtorAccount={}), FIELD_UNEXPECTED, "Data.DebtorAccount"),
    ("missing ConsentId", _without("ConsentId"), FIELD_MISSING, "Data.ConsentId"),
    ("missing Reference", _without("Reference"), FIELD_MISSING, "Data.Reference"),
    ("missing InstructedAmount", _without("InstructedAmount"), FIELD_MISSING, AMOUNT),
    ("InstructedAmount not an object", check_body("CONSENT", InstructedAmount="1.00"), FIELD_INVALID, AMOUNT),
    ("empty ConsentId", check_body(""), FIELD_INVALID, "Data.ConsentId"),
    ("ConsentId too long", check_body("c" * 129), FIELD_INVALID, "Data.ConsentId"),
    ("ConsentId not a string", check_body(7), FIELD_INVALID, "Data.ConsentId"),
    ("empty Reference", check_body("CONSENT", Reference=""), FIELD_INVALID, "Data.Reference"),
    ("Reference too long", check_body("CONSENT", Reference="R" * 36), FIELD_INVALID, "Data.Reference"),
    ("missing Amount", _amount(Amount=None), FIELD_MISSING, f"{AMOUNT}.Amount"),
    ("missing Currency", _amount(Currency=None), FIELD_MISSING, f"{AMOUNT}.Currency"),
    ("unknown amount member", _amount(CreditDebitIndicator="Debit"), FIELD_UNEXPECTED,
     f"{AMOUNT}.CreditDebitIndicator"),
    ("Amount a number", _amount(Amount=10), FIELD_INVALID, f"{AMOUNT}.Amount"),
    ("Amount negative", _amount(Amount="-1.00"), FIELD_INVALID, f"{AMOUNT}.Amount"),
    ("Amount with a comma", _amount(Amount="1,00"), FIELD_INVALID, f"{AMOUNT}.Amount"),
    ("Amount with 6 decimals", _amount(Amount="1.000001"), FIELD_INVALID, f"{AMOUNT}.Amount"),
    ("Amount with 14 digits", _amount(Amount="1" * 14), FIELD_INVALID, f"{AMOUNT}.Amount"),
    ("Amount in exponent form", _amount(Amount="1e3"), FIELD_INVALID, f"{AMOUNT}.Amount"),
    ("Amount zero", _amount(Amount="0.00"), FIELD_INVALID, f"{AMOUNT}.Amount"),
    ("Amount below a penny", _amount(Amount="0.001"), FIELD_INVALID, f"{AMOUNT}.Amount"),
    ("Currency lower case", _amount(Currency="gbp"), FIELD_INVALID, f"{AMOUNT}.Currency"),
    ("Currency four letters", _amount(Currency="GBPX"), FIELD_INVALID, f"{AMOUNT}.Currency"),
    ("Currency not a string", _amount(Currency=826), FIELD_INVALID, f"{AMOUNT}.Currency"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "body", "code", "path"), BAD_BODIES, ids=[c[0] for c in BAD_BODIES])
async def test_bad_funds_confirmation_request_is_refused_with_400(
    bank: FundsBank, case: str, body: Any, code: str, path: str | None
) -> None:
    """OBFundsConfirmation1: required Data, ConsentId, Reference, InstructedAmount (Amount, Currency);
    additionalProperties false; min/maxLengths; the Amount and Currency patterns."""
    consent_id = await bank.authorised()
    if (
        isinstance(body, dict)
        and isinstance(body.get("Data"), dict)
        and body["Data"].get("ConsentId") == "CONSENT"
    ):
        body["Data"]["ConsentId"] = consent_id
    assert_ob_error(await bank.confirm(await bank.token(consent_id), body), 400, code, path)


async def test_malformed_json_and_wrong_media_type(bank: FundsBank) -> None:
    token = await bank.token(await bank.authorised())
    assert_ob_error(await bank.confirm(token, content=b'{"Data":'), 400, INVALID_FORMAT)
    wrong = await bank.confirm(token, content=b"{}", content_type="text/plain")
    assert_ob_error(wrong, 415, "UK.OBIE.Header.Invalid", "Content-Type")


async def test_the_consent_id_must_be_the_tokens(bank: FundsBank) -> None:
    """Data.ConsentId names the consent the token was issued for, else 400 ConsentMismatch, even when
    the other consent is the same TPP's and the same customer's."""
    first, second = await bank.authorised(), await bank.authorised()
    response = await bank.confirm(await bank.token(first), check_body(second))
    assert_ob_error(response, 400, CONSENT_MISMATCH, "Data.ConsentId")


async def test_a_client_credentials_token_confirms_nothing(bank: FundsBank) -> None:
    """Security PSUOAuth2Security (authorizationCode): the TPP's own token is refused."""
    consent_id = await bank.authorised()
    response = await bank.confirm(await bank.token(consent_id, customer=None), check_body(consent_id))
    assert_ob_error(response, 403, CONSENT_MISMATCH, "Authorization")
    response = await bank.confirm(await bank.token(None), check_body(consent_id))
    assert_ob_error(response, 403, CONSENT_MISMATCH, "Authorization")


async def test_an_accounts_token_is_refused_as_a_wrong_scope(bank: FundsBank) -> None:
    consent_id = await bank.authorised()
    reader = await new_tpp(bank.app, bank.http, "reader", scope="openid accounts", customer=ALICE)
    response = await reader.call("POST", CONFIRMATIONS, json=check_body(consent_id))
    assert_ob_error(response, 403, CONSENT_MISMATCH)
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]


async def test_a_consent_not_authorised_rejected_or_unknown_confirms_nothing(bank: FundsBank) -> None:
    """403 UK.OBIE.Resource.InvalidConsentStatus: only an Authorised consent is used."""
    waiting = await bank.consent_id()
    rejected = await bank.consent_id()
    intent = await bank.intents.for_authorisation(rejected, bank.tpp.client_id)
    assert intent is not None and await bank.intents.reject(intent)
    for consent_id in (waiting, rejected, "fcc-never-issued", "aac-1"):
        response = await bank.confirm(await bank.token(consent_id), check_body(consent_id))
        assert_ob_error(response, 403, INVALID_STATUS)


async def test_another_clients_or_customers_consent_confirms_nothing(bank: FundsBank) -> None:
    consent_id = await bank.authorised()
    mallory = await new_funds_tpp(bank.app, bank.http, "mallory")
    stolen = await bank.token(consent_id, client_id=mallory.client_id)
    assert_ob_error(await bank.confirm(stolen, check_body(consent_id)), 403, CONSENT_MISMATCH)
    bobs = await bank.token(consent_id, customer=BOB)
    assert_ob_error(await bank.confirm(bobs, check_body(consent_id)), 403, CONSENT_MISMATCH)


async def test_an_expired_consent_confirms_nothing(bank: FundsBank) -> None:
    """ExpirationDateTime: after it, the consent cannot be used (no Expired status in v3.1.11; the
    stored status stays Authorised)."""
    consent_id = await bank.authorised(ExpirationDateTime=(utcnow() + timedelta(days=1)).isoformat())
    token = await bank.token(consent_id)
    assert_confirmation(await bank.confirm(token, check_body(consent_id)))
    async with bank.app.components.db.write() as session:
        await session.execute(
            update(FundsConfirmationConsent)
            .where(FundsConfirmationConsent.id == consent_id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert_ob_error(await bank.confirm(token, check_body(consent_id)), 403, INVALID_STATUS)


@pytest.mark.parametrize("ending", ["revoked", "deleted"])
async def test_a_revoked_or_deleted_consent_takes_its_tokens_with_it(bank: FundsBank, ending: str) -> None:
    """The customer's revocation (dashboard) and the TPP's DELETE emit consent.revoked / consent.deleted
    with the consent id, and the authorization server revokes the tokens issued under it."""
    consent_id = await bank.authorised()
    token = await bank.token(consent_id)
    assert_confirmation(await bank.confirm(token, check_body(consent_id)))
    tokens_gone = asyncio.Event()

    def on_revoked(_name: str, payload: Any) -> None:
        if payload.consent_id == consent_id:
            tokens_gone.set()

    bank.app.components.events.subscribe("token.revoked", on_revoked)
    if ending == "revoked":
        assert await bank.consents.revoke(consent_id, ALICE)
    else:
        assert await bank.consents.delete(consent_id, bank.tpp.client_id)
    assert (await bank.confirm(token, check_body(consent_id))).status_code in (401, 403)
    await asyncio.wait_for(tokens_gone.wait(), 5)
    response = await bank.confirm(token, check_body(consent_id))
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    # A token minted afterwards still names the consent: the consent check alone refuses it.
    fresh = await bank.token(consent_id)
    assert_ob_error(await bank.confirm(fresh, check_body(consent_id)), 403, INVALID_STATUS)


async def test_a_debtor_account_no_longer_the_customers_confirms_nothing(bank: FundsBank) -> None:
    """The account is read from the core on every call, as the customer's."""
    from kaimen.ledger.models import LedgerAccount

    consent_id = await bank.authorised()
    token = await bank.token(consent_id)
    async with bank.app.components.db.write() as session:
        await session.execute(
            update(LedgerAccount).where(LedgerAccount.id == bank.alice.account_id).values(customer_id=BOB)
        )
    assert_ob_error(await bank.confirm(token, check_body(consent_id)), 403, INVALID_STATUS)
