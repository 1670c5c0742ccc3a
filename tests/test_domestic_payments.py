"""Domestic payments (UK OB v3.1.11 Payment Initiation API, POST /domestic-payments, GET
/domestic-payments/{DomesticPaymentId} and its /payment-details): a payment happens once, only for
what the customer approved, never overdraws, and every answer is validated against the spec file and
its signature verified. On SQLite and PostgreSQL. Races and idempotency:
tests/test_domestic_payments_once.py; the risk check: tests/test_domestic_payments_risk.py."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select, update

from kaimen.apis.payments.models import DomesticPayment, DomesticPaymentConsent
from kaimen.ledger.internal import CLEARING_OUT
from kaimen.ledger.models import LedgerEntry
from tests.domestic_payments_support import (
    PAYMENTS,
    assert_details,
    assert_payment,
    authorised,
    booked,
    consent_status,
    ledger_sum,
    pay,
    payment_body,
    postings_for,
    server,
)
from tests.payments_support import (
    PaymentBank,
    PaymentTpp,
    acme,
    assert_refusal,
    bank,
    consent_body,
    encode,
    sign,
)
from tests.test_ledger_support import open_account

__all__ = ["acme", "bank", "server"]  # fixtures

CONSENT_MISMATCH = "UK.OBIE.Resource.ConsentMismatch"
INVALID_STATUS = "UK.OBIE.Resource.InvalidConsentStatus"
NOT_FOUND = "UK.OBIE.Resource.NotFound"
FIELD_MISSING = "UK.OBIE.Field.Missing"
FIELD_UNEXPECTED = "UK.OBIE.Field.Unexpected"
HEADER_INVALID = "UK.OBIE.Header.Invalid"
HEADER_MISSING = "UK.OBIE.Header.Missing"
SIGNATURE_MISSING = "UK.OBIE.Signature.Missing"
SIGNATURE_INVALID = "UK.OBIE.Signature.Invalid"
SIGNATURE_INVALID_CLAIM = "UK.OBIE.Signature.InvalidClaim"
SIGNATURE_UNEXPECTED = "UK.OBIE.Signature.Unexpected"
AMOUNT = 16_588  # consent_body's InstructedAmount, 165.88 GBP


async def payment_rows(bank: PaymentBank) -> list[DomesticPayment]:
    async with bank.app.components.db.read() as session:
        return list((await session.execute(select(DomesticPayment))).scalars())


async def assert_nothing_paid(bank: PaymentBank) -> None:
    assert await payment_rows(bank) == []
    assert await postings_for(bank) == []


# --- a payment to another bank, and on-us --------------------------------------------------------------


async def test_a_payment_debits_the_account_credits_clearing_and_consumes_the_consent(
    bank: PaymentBank, acme: PaymentTpp
) -> None:
    consent = await authorised(bank, acme, balance=100_000)
    body = await assert_payment(bank, await pay(acme, consent.payment(), token=consent.token), 201)
    data = body["Data"]
    # The payee (08080021325698) banks elsewhere: the debtor's side is settled, the money waits in the
    # outbound clearing account ("Settlement on the debtor's account has been completed").
    assert data["Status"] == "AcceptedSettlementCompleted"
    assert data["ConsentId"] == consent.consent_id
    assert data["Initiation"] == consent.consent["Data"]["Initiation"]
    assert body["Links"]["Self"].endswith(f"{PAYMENTS}/{data['DomesticPaymentId']}")
    assert await consent_status(bank, acme, consent.consent_id) == "Consumed"
    [posting] = await postings_for(bank, data["DomesticPaymentId"])
    assert (posting.amount, posting.currency) == (AMOUNT, "GBP")
    assert await booked(bank, consent.account_id) == 100_000 - AMOUNT
    async with bank.app.components.db.read() as session:
        entries = list(
            (await session.execute(select(LedgerEntry).where(LedgerEntry.posting_id == posting.id))).scalars()
        )
    assert sorted((e.account_id, e.amount) for e in entries) == sorted(
        [(consent.account_id, -AMOUNT), (CLEARING_OUT, AMOUNT)]
    )
    assert await ledger_sum(bank) == (0, 0)


async def test_a_payment_to_an_account_at_this_bank_credits_it_at_once(
    bank: PaymentBank, acme: PaymentTpp
) -> None:
    bob = await open_account(bank.app.components.db, "cus_bob")
    assert bob.identification is not None
    consent_doc = consent_body(
        CreditorAccount={
            "SchemeName": "UK.OBIE.SortCodeAccountNumber",
            "Identification": bob.identification,
            "Name": "Bob Lin",
        }
    )
    consent = await authorised(bank, acme, balance=50_000, consent=consent_doc)
    body = await assert_payment(bank, await pay(acme, consent.payment(), token=consent.token), 201)
    # Both sides booked in the one transaction: "Settlement on the creditor's account has been completed".
    assert body["Data"]["Status"] == "AcceptedCreditSettlementCompleted"
    assert await booked(bank, bob.id) == AMOUNT
    assert await booked(bank, consent.account_id) == 50_000 - AMOUNT
    assert await ledger_sum(bank) == (0, 0)


# --- reading it back -----------------------------------------------------------------------------------


async def test_the_creating_tpp_reads_the_payment_and_its_details_and_no_one_else(
    bank: PaymentBank, acme: PaymentTpp
) -> None:
    consent = await authorised(bank, acme)
    created = await assert_payment(bank, await pay(acme, consent.payment(), token=consent.token), 201)
    payment_id = created["Data"]["DomesticPaymentId"]
    read = await assert_payment(bank, await acme.get(f"{PAYMENTS}/{payment_id}"), 200)
    assert read["Data"] == created["Data"]
    details = await assert_details(bank, await acme.get(f"{PAYMENTS}/{payment_id}/payment-details"))
    [status] = details["Data"]["PaymentStatus"]
    [posting] = await postings_for(bank, payment_id)
    async with bank.app.components.db.read() as session:
        debit = await session.scalar(
            select(LedgerEntry.id).where(LedgerEntry.posting_id == posting.id, LedgerEntry.amount < 0)
        )
    assert status["PaymentTransactionId"] == debit
    assert status["Status"] == "AcceptedSettlementCompleted"
    assert "StatusDetail" not in status

    other = await bank.tpp("pisp-other")
    for path in (f"{PAYMENTS}/{payment_id}", f"{PAYMENTS}/{payment_id}/payment-details"):
        # Read/Write Data API Profile, "403 (Forbidden)": an Id the TPP has no access to.
        await assert_refusal(bank, await other.get(path), 403, CONSENT_MISMATCH, "DomesticPaymentId")
    for unknown in ("dp-unknown", "x" * 300):
        await assert_refusal(bank, await acme.get(f"{PAYMENTS}/{unknown}"), 400, NOT_FOUND)


async def test_the_gets_need_the_tpp_token_and_no_signature(bank: PaymentBank, acme: PaymentTpp) -> None:
    consent = await authorised(bank, acme)
    created = await assert_payment(bank, await pay(acme, consent.payment(), token=consent.token), 201)
    path = f"{PAYMENTS}/{created['Data']['DomesticPaymentId']}"
    # The spec file's security for the GETs is TPPOAuth2Security (client credentials).
    await assert_refusal(
        bank, await acme.get(path, token=consent.token), 403, CONSENT_MISMATCH, "Authorization"
    )
    signed = await acme.get(path, extra={"x-jws-signature": acme.sign(b"")})
    await assert_refusal(bank, signed, 400, SIGNATURE_UNEXPECTED, "x-jws-signature")


# --- the consent: whose, which status ---------------------------------------------------------------


async def test_a_consent_not_authorised_is_refused(bank: PaymentBank, acme: PaymentTpp) -> None:
    response = await acme.post(consent_body())
    consent_id = response.json()["Data"]["ConsentId"]
    token = await bank.customer_token(acme, consent_id, "cus_alice")
    refused = await pay(acme, payment_body(consent_id, consent_body()), token=token)
    await assert_refusal(bank, refused, 403, INVALID_STATUS)
    assert await bank.app.components.payment_consents.reject(consent_id)
    refused = await pay(acme, payment_body(consent_id, consent_body()), token=token)
    await assert_refusal(bank, refused, 403, INVALID_STATUS)
    await assert_nothing_paid(bank)


async def test_a_consent_of_another_tpp_answers_as_unknown(bank: PaymentBank, acme: PaymentTpp) -> None:
    other = await bank.tpp("pisp-other")
    theirs = await authorised(bank, other)
    token = await bank.customer_token(acme, theirs.consent_id, "cus_alice")
    refused = await pay(acme, theirs.payment(), token=token)
    await assert_refusal(bank, refused, 400, NOT_FOUND, "Data.ConsentId")
    await assert_nothing_paid(bank)
    assert await consent_status(bank, other, theirs.consent_id) == "Authorised"


async def test_a_consent_of_another_customer_is_refused(bank: PaymentBank, acme: PaymentTpp) -> None:
    consent = await authorised(bank, acme, customer="cus_alice")
    bob = await bank.customer_token(acme, consent.consent_id, "cus_bob")
    await assert_refusal(bank, await pay(acme, consent.payment(), token=bob), 403, CONSENT_MISMATCH)
    await assert_nothing_paid(bank)
    assert await consent_status(bank, acme, consent.consent_id) == "Authorised"


async def test_a_token_for_another_consent_is_refused(bank: PaymentBank, acme: PaymentTpp) -> None:
    first = await authorised(bank, acme)
    second = await authorised(bank, acme)
    refused = await pay(acme, second.payment(), token=first.token)
    await assert_refusal(bank, refused, 403, CONSENT_MISMATCH)
    await assert_nothing_paid(bank)


async def test_the_tpps_own_token_cannot_pay(bank: PaymentBank, acme: PaymentTpp) -> None:
    consent = await authorised(bank, acme)
    refused = await pay(acme, consent.payment(), token=acme.token)
    await assert_refusal(bank, refused, 403, CONSENT_MISMATCH, "Authorization")
    await assert_nothing_paid(bank)


async def test_a_consumed_consent_pays_no_second_time(bank: PaymentBank, acme: PaymentTpp) -> None:
    consent = await authorised(bank, acme)
    await assert_payment(bank, await pay(acme, consent.payment(), token=consent.token), 201)
    again = await pay(acme, consent.payment(), token=consent.token)  # a new idempotency key
    await assert_refusal(bank, again, 403, INVALID_STATUS)
    assert len(await payment_rows(bank)) == 1
    assert len(await postings_for(bank)) == 1


# --- the payment is the consent's, and what the customer approved -------------------------------------


@pytest.mark.parametrize(
    ("section", "path", "old", "new"),
    [
        ("Initiation", "Data.Initiation", "FRESCO-101", "FRESCO-102"),
        ("Initiation", "Data.Initiation", "165.88", "165.89"),
        ("Initiation", "Data.Initiation", "08080021325698", "08080021325699"),
        ("Risk", "Risk", "053598653254", "053598653255"),
    ],
    ids=["reference", "amount", "payee", "risk"],
)
async def test_an_initiation_or_risk_one_character_off_is_a_consent_mismatch(
    bank: PaymentBank, acme: PaymentTpp, section: str, path: str, old: str, new: str
) -> None:
    consent = await authorised(bank, acme)
    content = encode(consent.payment()).replace(old.encode(), new.encode())
    assert content != encode(consent.payment())
    response = await pay(acme, None, content=content, token=consent.token)
    await assert_refusal(bank, response, 400, CONSENT_MISMATCH, path)
    await assert_nothing_paid(bank)
    assert await consent_status(bank, acme, consent.consent_id) == "Authorised"


async def test_the_same_json_in_another_layout_is_the_same_payment(
    bank: PaymentBank, acme: PaymentTpp
) -> None:
    consent = await authorised(bank, acme)
    body = consent.payment()
    reordered = {"Risk": body["Risk"], "Data": dict(reversed(list(body["Data"].items())))}
    await assert_payment(bank, await pay(acme, reordered, token=consent.token), 201)


async def test_a_tampered_approval_digest_is_refused(bank: PaymentBank, acme: PaymentTpp) -> None:
    """Dynamic linking: the stored digest of what the customer approved no longer matches (as after a
    change to the consent behind the customer's back): the payment is not the one approved."""
    consent = await authorised(bank, acme)
    async with bank.app.components.db.write() as session:
        await session.execute(
            update(DomesticPaymentConsent)
            .where(DomesticPaymentConsent.id == consent.consent_id)
            .values(approved_digest="0" * 64)
        )
    response = await pay(acme, consent.payment(), token=consent.token)
    await assert_refusal(bank, response, 400, CONSENT_MISMATCH)
    await assert_nothing_paid(bank)
    assert await consent_status(bank, acme, consent.consent_id) == "Authorised"


async def test_a_changed_debtor_account_is_refused(bank: PaymentBank, acme: PaymentTpp) -> None:
    """The customer approved paying from one account; the consent now names another."""
    consent = await authorised(bank, acme)
    other = await open_account(bank.app.components.db, "cus_alice")
    async with bank.app.components.db.write() as session:
        await session.execute(
            update(DomesticPaymentConsent)
            .where(DomesticPaymentConsent.id == consent.consent_id)
            .values(debtor_account_id=other.id)
        )
    response = await pay(acme, consent.payment(), token=consent.token)
    await assert_refusal(bank, response, 400, CONSENT_MISMATCH)
    await assert_nothing_paid(bank)


# --- funds --------------------------------------------------------------------------------------------


async def test_insufficient_funds_is_a_rejected_payment_and_no_posting(
    bank: PaymentBank, acme: PaymentTpp
) -> None:
    consent = await authorised(bank, acme, balance=AMOUNT - 1)
    body = await assert_payment(bank, await pay(acme, consent.payment(), token=consent.token), 201)
    assert body["Data"]["Status"] == "Rejected"
    assert await postings_for(bank) == []
    assert await booked(bank, consent.account_id) == AMOUNT - 1
    # The payment resource was created from the consent: it is Consumed (a retry needs a new SCA).
    assert await consent_status(bank, acme, consent.consent_id) == "Consumed"
    details = await assert_details(
        bank, await acme.get(f"{PAYMENTS}/{body['Data']['DomesticPaymentId']}/payment-details")
    )
    [status] = details["Data"]["PaymentStatus"]
    assert status["Status"] == "Rejected"
    assert status["PaymentTransactionId"] == body["Data"]["DomesticPaymentId"]
    assert status["StatusDetail"] == {
        "Status": "Rejected",
        "StatusReason": "ProprietaryRejection",
        "StatusReasonDescription": "insufficient funds in the debtor account",
    }
    assert await ledger_sum(bank) == (0, 0)


async def test_an_arranged_overdraft_counts_and_is_never_exceeded(
    bank: PaymentBank, acme: PaymentTpp
) -> None:
    within = await authorised(bank, acme, balance=1_000, credit_limit=AMOUNT - 1_000)
    body = await assert_payment(bank, await pay(acme, within.payment(), token=within.token), 201)
    assert body["Data"]["Status"] == "AcceptedSettlementCompleted"
    assert await booked(bank, within.account_id) == 1_000 - AMOUNT  # to the limit, not below it
    beyond = await authorised(bank, acme, account_id=within.account_id)
    body = await assert_payment(bank, await pay(acme, beyond.payment(), token=beyond.token), 201)
    assert body["Data"]["Status"] == "Rejected"
    assert await booked(bank, within.account_id) == 1_000 - AMOUNT
    assert await ledger_sum(bank) == (0, 0)


# --- the request: headers, body, signature --------------------------------------------------------------


async def test_the_body_is_read_as_OBWriteDomestic2(bank: PaymentBank, acme: PaymentTpp) -> None:
    consent = await authorised(bank, acme)
    body = consent.payment()
    del body["Data"]["ConsentId"]
    await assert_refusal(
        bank, await pay(acme, body, token=consent.token), 400, FIELD_MISSING, "Data.ConsentId"
    )
    body = consent.payment()
    body["Data"]["Authorisation"] = {"AuthorisationType": "Single"}  # a consent member, not a payment's
    await assert_refusal(
        bank, await pay(acme, body, token=consent.token), 400, FIELD_UNEXPECTED, "Data.Authorisation"
    )
    await assert_nothing_paid(bank)


@pytest.mark.parametrize(
    ("key", "code"), [(None, HEADER_MISSING), ("k" * 41, HEADER_INVALID), (" lead", HEADER_INVALID)]
)
async def test_a_bad_idempotency_key_is_refused(
    bank: PaymentBank, acme: PaymentTpp, key: str | None, code: str
) -> None:
    consent = await authorised(bank, acme)
    content = encode(consent.payment())
    headers = {"x-idempotency-key": key} if key is not None else {}
    response = await pay_without_key(acme, content, consent.token, headers)
    await assert_refusal(bank, response, 400, code, "x-idempotency-key")
    await assert_nothing_paid(bank)


async def pay_without_key(
    tpp: PaymentTpp, content: bytes, token: str, headers: dict[str, str]
) -> httpx.Response:
    from tests.account_consents_support import INTERACTION_ID
    from tests.dpop_support import BASE, proof

    sent = {
        "authorization": f"DPoP {token}",
        "dpop": proof(method="POST", url=BASE + PAYMENTS, token=token),
        "x-fapi-interaction-id": INTERACTION_ID,
        "content-type": "application/json",
        "x-jws-signature": tpp.sign(content),
        **headers,
    }
    return await tpp.bank.http.post(PAYMENTS, content=content, headers=sent)


async def test_a_40_character_key_is_accepted(bank: PaymentBank, acme: PaymentTpp) -> None:
    consent = await authorised(bank, acme)
    response = await pay(acme, consent.payment(), token=consent.token, idempotency_key="k" * 40)
    await assert_payment(bank, response, 201)


async def test_the_payment_must_be_signed_by_its_tpp(bank: PaymentBank, acme: PaymentTpp) -> None:
    consent = await authorised(bank, acme)
    content = encode(consent.payment())
    missing = await pay(acme, None, content=content, token=consent.token, signature=None)
    await assert_refusal(bank, missing, 400, SIGNATURE_MISSING, "x-jws-signature")
    other = await bank.tpp("pisp-other")
    by_other = sign(content, other.key, iss=acme.jws_iss, tan=bank.tan)
    response = await pay(acme, None, content=content, token=consent.token, signature=by_other)
    await assert_refusal(bank, response, 400, SIGNATURE_INVALID_CLAIM, "kid")
    as_other = sign(content, other.key, iss=other.jws_iss, tan=bank.tan)
    response = await pay(acme, None, content=content, token=consent.token, signature=as_other)
    await assert_refusal(bank, response, 400, SIGNATURE_INVALID_CLAIM)
    changed = content.replace(b"165.88", b"165.89")
    response = await pay(acme, None, content=changed, token=consent.token, signature=acme.sign(content))
    await assert_refusal(bank, response, 400, SIGNATURE_INVALID, "x-jws-signature")
    await assert_nothing_paid(bank)
    assert await consent_status(bank, acme, consent.consent_id) == "Authorised"
