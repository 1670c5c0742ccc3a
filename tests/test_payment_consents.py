"""Domestic payment consents (UK OB v3.1.11 Payment Initiation API, spec file
payment-initiation-openapi.json): creation with x-idempotency-key (replays, races, reuse with another
body, another TPP, 24 hours), the body checked against OBWriteDomesticConsent4, the consent read back
by its TPP only, the lifecycle the authorization flow will drive, and the funds confirmation. Every
answer is validated against the spec file and its signature verified. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import select, update

from kaimen.apis.payments.models import DomesticPaymentConsent, IdempotencyKey
from kaimen.demo.credentials import build
from kaimen.settings import Settings, SettingsError
from kaimen.store.types import utcnow
from tests.payments_support import (
    CONSENTS,
    PACKAGED_PAYMENT_SPECS,
    SPEC_NAME,
    PaymentBank,
    PaymentTpp,
    acme,
    assert_consent,
    assert_refusal,
    assert_valid,
    bank,
    consent_body,
    encode,
)
from tests.support import SHARED_OB_SPECS
from tests.test_ledger_support import book, open_account

__all__ = ["acme", "bank"]  # fixtures

HEADER_INVALID = "UK.OBIE.Header.Invalid"
HEADER_MISSING = "UK.OBIE.Header.Missing"
FIELD_MISSING = "UK.OBIE.Field.Missing"
FIELD_INVALID = "UK.OBIE.Field.Invalid"
FIELD_UNEXPECTED = "UK.OBIE.Field.Unexpected"
INVALID_DATE = "UK.OBIE.Field.InvalidDate"
INVALID_FORMAT = "UK.OBIE.Resource.InvalidFormat"
NOT_FOUND = "UK.OBIE.Resource.NotFound"
CONSENT_MISMATCH = "UK.OBIE.Resource.ConsentMismatch"
INVALID_STATUS = "UK.OBIE.Resource.InvalidConsentStatus"
KEY = "x-idempotency-key"


async def stored(bank: PaymentBank) -> list[DomesticPaymentConsent]:
    async with bank.app.components.db.read() as session:
        return list((await session.execute(select(DomesticPaymentConsent))).scalars())


async def created(bank: PaymentBank, tpp: PaymentTpp, body: Any = None, **kwargs: Any) -> dict[str, Any]:
    return await assert_consent(bank, await tpp.post(body or consent_body(), **kwargs), 201)


# --- creation -----------------------------------------------------------------------------------------


def test_the_example_body_is_an_OBWriteDomesticConsent4() -> None:
    assert_valid("OBWriteDomesticConsent4", consent_body())


async def test_a_consent_is_created_awaiting_authorisation_with_initiation_and_risk_as_sent(
    bank: PaymentBank, acme: PaymentTpp
) -> None:
    sent = consent_body()
    sent["Data"]["ReadRefundAccount"] = "Yes"
    sent["Data"]["Authorisation"] = {
        "AuthorisationType": "Single",
        "CompletionDateTime": "2099-01-01T10:00:00+01:00",
    }
    body = await created(bank, acme, sent)
    data = body["Data"]
    assert data["Status"] == "AwaitingAuthorisation"
    assert data["Initiation"] == sent["Data"]["Initiation"] and body["Risk"] == sent["Risk"]
    assert data["ReadRefundAccount"] == "Yes" and data["Authorisation"] == sent["Data"]["Authorisation"]
    assert body["Links"]["Self"].endswith(f"{CONSENTS}/{data['ConsentId']}")
    (row,) = await stored(bank)
    assert row.client_id == acme.client_id and (row.amount_minor, row.currency) == (16588, "GBP")
    # Kept as canonical JSON: the payment step compares the same text.
    assert row.initiation == orjson.dumps(sent["Data"]["Initiation"], option=orjson.OPT_SORT_KEYS).decode()
    assert row.risk == orjson.dumps(sent["Risk"], option=orjson.OPT_SORT_KEYS).decode()


async def test_the_creating_tpp_reads_it_and_no_one_else(bank: PaymentBank, acme: PaymentTpp) -> None:
    """R/W Data API Profile, "403 (Forbidden)": "The TPP attempted to access a resource with an Id
    that it does not have access to" is 403; "400 (Bad Request) v/s 404 (Not Found)": an Id "that does
    not exist" is 400. The 403 carries nothing of the consent."""
    consent_id = (await created(bank, acme))["Data"]["ConsentId"]
    read = await assert_consent(bank, await acme.get(f"{CONSENTS}/{consent_id}"), 200)
    assert read["Data"]["ConsentId"] == consent_id
    other = await bank.tpp("pisp-other")
    foreign = await assert_refusal(
        bank, await other.get(f"{CONSENTS}/{consent_id}"), 403, CONSENT_MISMATCH, "ConsentId"
    )
    assert foreign["Errors"] == [
        {
            "ErrorCode": CONSENT_MISMATCH,
            "Message": "this domestic-payment-consent is another TPP's",
            "Path": "ConsentId",
        }
    ]
    await assert_refusal(bank, await acme.get(f"{CONSENTS}/pdc-unknown"), 400, NOT_FOUND, "ConsentId")


async def test_a_customer_token_cannot_create_consents(bank: PaymentBank, acme: PaymentTpp) -> None:
    token = await bank.customer_token(acme, "pdc-x", "cus_alice")
    response = await acme.post(consent_body(), token=token)
    await assert_refusal(bank, response, 403, CONSENT_MISMATCH, "Authorization")


# --- idempotency ----------------------------------------------------------------------------------------


async def test_a_replay_answers_201_with_the_current_state_of_the_first_consent(
    bank: PaymentBank, acme: PaymentTpp
) -> None:
    first = await created(bank, acme, idempotency_key="order-1")
    consent_id = first["Data"]["ConsentId"]
    assert await bank.app.components.payment_consents.authorise(consent_id, "cus_alice", "acc-1", "d" * 64)
    again = await created(bank, acme, idempotency_key="order-1")  # a fresh signature, same body
    assert again["Data"]["ConsentId"] == consent_id and again["Data"]["Status"] == "Authorised"
    assert len(await stored(bank)) == 1


async def test_a_replay_with_the_same_json_in_another_layout_is_the_same_request(
    bank: PaymentBank, acme: PaymentTpp
) -> None:
    first = await created(bank, acme, idempotency_key="order-2")
    relaid = orjson.dumps(consent_body(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
    again = await assert_consent(bank, await acme.post(None, content=relaid, idempotency_key="order-2"), 201)
    assert again["Data"]["ConsentId"] == first["Data"]["ConsentId"]


async def test_racing_identical_requests_make_one_consent(bank: PaymentBank, acme: PaymentTpp) -> None:
    content = encode(consent_body())
    responses = await asyncio.gather(
        *(acme.post(None, content=content, idempotency_key="race-1") for _ in range(12))
    )
    ids = {(await assert_consent(bank, response, 201))["Data"]["ConsentId"] for response in responses}
    assert len(ids) == 1
    assert len(await stored(bank)) == 1


async def test_the_same_key_with_another_body_is_refused(bank: PaymentBank, acme: PaymentTpp) -> None:
    await created(bank, acme, idempotency_key="order-3")
    other = consent_body(InstructedAmount={"Amount": "999.00", "Currency": "GBP"})
    response = await acme.post(other, idempotency_key="order-3")
    await assert_refusal(bank, response, 400, HEADER_INVALID, KEY)
    assert len(await stored(bank)) == 1


async def test_another_tpp_with_the_same_key_gets_its_own_consent(
    bank: PaymentBank, acme: PaymentTpp
) -> None:
    other = await bank.tpp("pisp-other")
    mine = await created(bank, acme, idempotency_key="shared-key")
    theirs = await created(bank, other, idempotency_key="shared-key")
    assert mine["Data"]["ConsentId"] != theirs["Data"]["ConsentId"]
    assert {row.client_id for row in await stored(bank)} == {acme.client_id, other.client_id}


async def test_a_key_older_than_24_hours_makes_a_new_consent(bank: PaymentBank, acme: PaymentTpp) -> None:
    first = await created(bank, acme, idempotency_key="order-4")
    async with bank.app.components.db.write() as session:
        await session.execute(
            update(IdempotencyKey).values(created_at=utcnow() - timedelta(hours=24, seconds=1))
        )
    second = await created(
        bank, acme, consent_body(EndToEndIdentification="E2E-2"), idempotency_key="order-4"
    )
    assert second["Data"]["ConsentId"] != first["Data"]["ConsentId"]
    assert len(await stored(bank)) == 2


async def test_a_replay_after_its_completion_time_answers_201_with_the_first_consent(
    bank: PaymentBank, acme: PaymentTpp
) -> None:
    """R/W Data API Profile, "Idempotency": a repeat with the same key and body within 24 hours "must
    not create a new resource" and answers 201 with its current status. CompletionDateTime "must be in
    the future" is a check of a new consent: the replay of one made a moment before it passed is not
    refused UK.OBIE.Field.InvalidDate; a new key with that body is."""
    completion = (utcnow() + timedelta(seconds=1)).replace(microsecond=0) + timedelta(seconds=1)
    body = consent_body()
    body["Data"]["Authorisation"] = {
        "AuthorisationType": "Single",
        "CompletionDateTime": completion.isoformat(),
    }
    first = await created(bank, acme, body, idempotency_key="order-5")
    await asyncio.sleep((completion - utcnow()).total_seconds() + 0.1)
    assert utcnow() > completion
    again = await created(bank, acme, body, idempotency_key="order-5")
    assert again["Data"] == first["Data"]
    assert len(await stored(bank)) == 1
    response = await acme.post(body, idempotency_key="order-6")
    await assert_refusal(bank, response, 400, INVALID_DATE, "Data.Authorisation.CompletionDateTime")
    assert len(await stored(bank)) == 1


@pytest.mark.parametrize(
    ("key", "code"),
    [
        ("k" * 41, HEADER_INVALID),
        (" leading", HEADER_INVALID),
        ("trailing ", HEADER_INVALID),
        ("", HEADER_INVALID),
        (None, HEADER_MISSING),
    ],
    ids=["41-characters", "leading-space", "trailing-space", "empty", "missing"],
)
async def test_a_bad_idempotency_key_is_refused(
    bank: PaymentBank, acme: PaymentTpp, key: str | None, code: str
) -> None:
    content = encode(consent_body())
    if key is None:
        response = await _without_key(bank, acme, content)
    else:
        response = await acme.post(None, content=content, idempotency_key=key)
    await assert_refusal(bank, response, 400, code, KEY)
    assert await stored(bank) == []


async def _without_key(bank: PaymentBank, acme: PaymentTpp, content: bytes) -> httpx.Response:
    from tests.dpop_support import BASE, proof
    from tests.payments_support import INTERACTION_ID

    headers = {
        "authorization": f"DPoP {acme.token}",
        "dpop": proof(method="POST", url=BASE + CONSENTS, token=acme.token),
        "x-fapi-interaction-id": INTERACTION_ID,
        "content-type": "application/json",
        "x-jws-signature": acme.sign(content),
    }
    return await bank.http.post(CONSENTS, content=content, headers=headers)


async def test_a_40_character_key_is_accepted(bank: PaymentBank, acme: PaymentTpp) -> None:
    await created(bank, acme, idempotency_key="k" * 40)


# --- the body ---------------------------------------------------------------------------------------------


def _without(path: str) -> dict[str, Any]:
    body = consent_body()
    *parents, name = path.split(".")
    target: Any = body
    for part in parents:
        target = target[part]
    del target[name]
    return body


def _with(path: str, value: Any) -> dict[str, Any]:
    body = consent_body()
    *parents, name = path.split(".")
    target: Any = body
    for part in parents:
        target = target[part]
    target[name] = value
    return body


INIT = "Data.Initiation"
AMOUNT = f"{INIT}.InstructedAmount"
CREDITOR = f"{INIT}.CreditorAccount"


@pytest.mark.parametrize(
    ("body", "code", "path"),
    [
        (_without("Risk"), FIELD_MISSING, "Risk"),
        (_without("Data"), FIELD_MISSING, "Data"),
        (_without("Data.Initiation"), FIELD_MISSING, INIT),
        (_without(f"{INIT}.InstructionIdentification"), FIELD_MISSING, f"{INIT}.InstructionIdentification"),
        (_without(f"{INIT}.EndToEndIdentification"), FIELD_MISSING, f"{INIT}.EndToEndIdentification"),
        (_without(f"{AMOUNT}.Currency"), FIELD_MISSING, f"{AMOUNT}.Currency"),
        (_without(f"{CREDITOR}.Name"), FIELD_MISSING, f"{CREDITOR}.Name"),
        (_with(f"{INIT}.Colour", "blue"), FIELD_UNEXPECTED, f"{INIT}.Colour"),
        (_with("Risk.Colour", "blue"), FIELD_UNEXPECTED, "Risk.Colour"),
        (_with("Extra", 1), FIELD_UNEXPECTED, "Extra"),
        (_with(f"{INIT}.InstructionIdentification", "x" * 36), FIELD_INVALID,
         f"{INIT}.InstructionIdentification"),
        (_with(f"{INIT}.EndToEndIdentification", ""), FIELD_INVALID, f"{INIT}.EndToEndIdentification"),
        (_with(AMOUNT, {"Amount": "1,00", "Currency": "GBP"}), FIELD_INVALID,
         f"{AMOUNT}.Amount"),
        (_with(AMOUNT, {"Amount": "1.00\n", "Currency": "GBP"}), FIELD_INVALID, f"{AMOUNT}.Amount"),
        (_with(AMOUNT, {"Amount": "\u0661.00", "Currency": "GBP"}), FIELD_INVALID, f"{AMOUNT}.Amount"),
        (_with(AMOUNT, {"Amount": 10, "Currency": "GBP"}), FIELD_INVALID,
         f"{AMOUNT}.Amount"),
        (_with(AMOUNT, {"Amount": "0.00", "Currency": "GBP"}), FIELD_INVALID,
         f"{AMOUNT}.Amount"),
        (_with(AMOUNT, {"Amount": "1.005", "Currency": "GBP"}), FIELD_INVALID,
         f"{AMOUNT}.Amount"),
        (_with(AMOUNT, {"Amount": "1.00", "Currency": "gbp"}), FIELD_INVALID,
         f"{AMOUNT}.Currency"),
        (_with(AMOUNT, {"Amount": "1.00", "Currency": "JPY"}), "UK.OBIE.Unsupported.Currency",
         f"{AMOUNT}.Currency"),
        (_with(CREDITOR, {"SchemeName": "UK.OBIE.Cheque", "Identification": "1", "Name": "A"}),
         "UK.OBIE.Unsupported.Scheme", f"{CREDITOR}.SchemeName"),
        (_with(CREDITOR, {"SchemeName": "UK.OBIE.SortCodeAccountNumber",
                                        "Identification": "0808002132569", "Name": "A"}),
         "UK.OBIE.Unsupported.AccountIdentifier", f"{CREDITOR}.Identification"),
        (_with(CREDITOR, {"SchemeName": "UK.OBIE.IBAN", "Identification": "x" * 257, "Name": "A"}),
         FIELD_INVALID, f"{CREDITOR}.Identification"),
        (_with(f"{INIT}.DebtorAccount", {"SchemeName": "UK.OBIE.SortCodeAccountNumber"}), FIELD_MISSING,
         f"{INIT}.DebtorAccount.Identification"),
        (_with(f"{INIT}.LocalInstrument", "UK.OBIE.Carrier.Pigeon"), "UK.OBIE.Unsupported.LocalInstrument",
         f"{INIT}.LocalInstrument"),
        (_with(f"{INIT}.RemittanceInformation", {"Reference": "r" * 36}), FIELD_INVALID,
         f"{INIT}.RemittanceInformation.Reference"),
        (_with("Risk.PaymentContextCode", "Gambling"), FIELD_INVALID, "Risk.PaymentContextCode"),
        (_with("Risk.MerchantCategoryCode", "12"), FIELD_INVALID, "Risk.MerchantCategoryCode"),
        (_with("Risk.ContractPresentIndicator", "yes"), FIELD_INVALID, "Risk.ContractPresentIndicator"),
        (_with("Risk.DeliveryAddress", {"TownName": "Sparsholt"}), FIELD_MISSING,
         "Risk.DeliveryAddress.Country"),
        (_with("Data.ReadRefundAccount", "Maybe"), FIELD_INVALID, "Data.ReadRefundAccount"),
        (_with("Data.Authorisation", {"AuthorisationType": "Single",
                                      "CompletionDateTime": "2020-01-01T00:00:00Z"}), INVALID_DATE,
         "Data.Authorisation.CompletionDateTime"),
        (_with("Data.Authorisation", {"AuthorisationType": "Single",
                                      "CompletionDateTime": "2099-01-01T00:00:00"}), INVALID_DATE,
         "Data.Authorisation.CompletionDateTime"),
        (_with("Data.Authorisation", {"CompletionDateTime": "2099-01-01T00:00:00Z"}), FIELD_MISSING,
         "Data.Authorisation.AuthorisationType"),
    ],
)  # fmt: skip
async def test_a_body_outside_OBWriteDomesticConsent4_is_refused(
    bank: PaymentBank, acme: PaymentTpp, body: dict[str, Any], code: str, path: str
) -> None:
    await assert_refusal(bank, await acme.post(body), 400, code, path)
    assert await stored(bank) == []


@pytest.mark.parametrize("content", [b"[]", b"not json", b'"text"'])
async def test_a_body_that_is_not_a_json_object_is_invalid_format(
    bank: PaymentBank, acme: PaymentTpp, content: bytes
) -> None:
    await assert_refusal(bank, await acme.post(None, content=content), 400, INVALID_FORMAT)


async def test_a_body_that_is_not_json_is_415(bank: PaymentBank, acme: PaymentTpp) -> None:
    content = encode(consent_body())
    response = await acme.post(None, content=content, extra={"content-type": "text/plain"})
    await assert_refusal(bank, response, 415, HEADER_INVALID, "Content-Type")


async def test_delivery_address_takes_members_the_schema_does_not_close(
    bank: PaymentBank, acme: PaymentTpp
) -> None:
    """OBRisk1 DeliveryAddress has no ``additionalProperties: false``: the spec lets it through."""
    body = consent_body()
    body["Risk"]["DeliveryAddress"]["Floor"] = "3"
    created_body = await created(bank, acme, body)
    assert created_body["Risk"]["DeliveryAddress"]["Floor"] == "3"


# --- lifecycle (the service the authorization flow will call) --------------------------------------------


async def test_authorise_happens_once_however_many_race(bank: PaymentBank, acme: PaymentTpp) -> None:
    consent_id = (await created(bank, acme))["Data"]["ConsentId"]
    consents = bank.app.components.payment_consents
    assert await consents.for_authorisation(consent_id, acme.client_id) is not None
    other = await bank.tpp("pisp-other")
    assert await consents.for_authorisation(consent_id, other.client_id) is None
    results = await asyncio.gather(
        *(consents.authorise(consent_id, "cus_alice", "acc-1", "d" * 64) for _ in range(8))
    )
    assert sorted(results) == [False] * 7 + [True]
    assert await consents.for_authorisation(consent_id, acme.client_id) is None
    assert not await consents.reject(consent_id)
    read = await assert_consent(bank, await acme.get(f"{CONSENTS}/{consent_id}"), 200)
    assert read["Data"]["Status"] == "Authorised"


async def test_a_rejected_consent_cannot_be_authorised(bank: PaymentBank, acme: PaymentTpp) -> None:
    consent_id = (await created(bank, acme))["Data"]["ConsentId"]
    consents = bank.app.components.payment_consents
    assert await consents.reject(consent_id)
    assert not await consents.authorise(consent_id, "cus_alice", "acc-1", "d" * 64)
    read = await assert_consent(bank, await acme.get(f"{CONSENTS}/{consent_id}"), 200)
    assert read["Data"]["Status"] == "Rejected"


async def test_past_its_completion_time_a_consent_cannot_be_authorised(
    bank: PaymentBank, acme: PaymentTpp
) -> None:
    consent_id = (await created(bank, acme))["Data"]["ConsentId"]
    async with bank.app.components.db.write() as session:
        await session.execute(
            update(DomesticPaymentConsent).values(authorise_by=utcnow() - timedelta(seconds=1))
        )
    consents = bank.app.components.payment_consents
    assert await consents.for_authorisation(consent_id, acme.client_id) is None
    assert not await consents.authorise(consent_id, "cus_alice", "acc-1", "d" * 64)


# --- funds confirmation -------------------------------------------------------------------------------------


async def _authorised(bank: PaymentBank, acme: PaymentTpp, balance: int, amount: str) -> tuple[str, str]:
    db = bank.app.components.db
    account = await open_account(db, "cus_alice")
    await book(db, account.id, balance, utcnow() - timedelta(days=1))
    body = consent_body(InstructedAmount={"Amount": amount, "Currency": "GBP"})
    consent_id = (await created(bank, acme, body))["Data"]["ConsentId"]
    assert await bank.app.components.payment_consents.authorise(consent_id, "cus_alice", account.id, "d" * 64)
    return consent_id, await bank.customer_token(acme, consent_id, "cus_alice")


@pytest.mark.parametrize(("balance", "available"), [(20_000, True), (10_000, False)])
async def test_funds_confirmation_answers_yes_or_no(
    bank: PaymentBank, acme: PaymentTpp, balance: int, available: bool
) -> None:
    consent_id, token = await _authorised(bank, acme, balance, "165.88")
    response = await acme.get(f"{CONSENTS}/{consent_id}/funds-confirmation", token=token)
    assert response.status_code == 200, response.text
    body = response.json()
    assert_valid("OBWriteFundsConfirmationResponse1", body)
    assert body["Data"]["FundsAvailableResult"]["FundsAvailable"] is available
    await bank.assert_signed(response)


async def test_funds_confirmation_needs_the_customer_token_of_that_consent(
    bank: PaymentBank, acme: PaymentTpp
) -> None:
    consent_id, _ = await _authorised(bank, acme, 20_000, "1.00")
    path = f"{CONSENTS}/{consent_id}/funds-confirmation"
    await assert_refusal(bank, await acme.get(path), 403, CONSENT_MISMATCH, "Authorization")
    other_consent = (await created(bank, acme))["Data"]["ConsentId"]
    wrong = await bank.customer_token(acme, other_consent, "cus_alice")
    await assert_refusal(bank, await acme.get(path, token=wrong), 403, CONSENT_MISMATCH)
    waiting = await bank.customer_token(acme, other_consent, "cus_alice")
    response = await acme.get(f"{CONSENTS}/{other_consent}/funds-confirmation", token=waiting)
    await assert_refusal(bank, response, 403, INVALID_STATUS)
    bob = await bank.customer_token(acme, consent_id, "cus_bob")
    await assert_refusal(bank, await acme.get(path, token=bob), 403, CONSENT_MISMATCH)


# --- wiring ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "policy",
    [{"tier": "PUBLIC"}, {"tier": "ACQUAINTANCE", "auth": "dpop", "scopes": ["openid"]}],
)
def test_a_pisp_policy_without_dpop_is_refused_at_start_up(
    make_settings: Callable[..., Settings], sqlite_url: str, policy: dict[str, object]
) -> None:
    # kaimen.settings.OB_APIS: refused when the settings are read, before any worker starts.
    with pytest.raises(SettingsError) as caught:
        make_settings(database_url=sqlite_url, apis={"pisp": policy})
    assert str(caught.value) == (
        "invalid configuration:\n  KAIMEN_APIS__PISP: "
        "the Payment Initiation API needs auth \"dpop\" and scope 'payments'"
    )


def test_the_demo_credentials_publish_pisp_and_the_trust_anchor() -> None:
    """DESIGN.md sandbox contract: ``apis.pisp`` and ``jws_tan``; each TPP's ``jws_iss`` comes with it."""
    creds = build("http://localhost:8123", [], [], jws_tan="sandbox.example")
    assert creds["apis"]["pisp"] == "http://localhost:8123/open-banking/v3.1/pisp"
    assert creds["jws_tan"] == "sandbox.example"


@pytest.mark.skipif(not (SHARED_OB_SPECS / SPEC_NAME).exists(), reason="../shared/specs not present")
def test_the_packaged_spec_is_byte_identical_to_the_shared_one() -> None:
    assert (PACKAGED_PAYMENT_SPECS / SPEC_NAME).read_bytes() == (SHARED_OB_SPECS / SPEC_NAME).read_bytes()
