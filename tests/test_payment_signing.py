"""UK OB v3.1.11 message signing on the Payment Initiation API (Read/Write Data API Profile,
"Message Signing"; RFC 7515 Appendix F): every bad x-jws-signature on POST /domestic-payment-consents
gets its exact 400 and UK.OBIE.Signature.* code, nothing is created, and every response, refusals
included, carries the bank's detached PS256 signature over its exact body, verifiable with the keys
/oauth2/jwks publishes. On SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import time
from typing import Any

import httpx
import pytest
from joserfc.jwk import RSAKey
from sqlalchemy import func, select

from kaimen.apis.payments.models import DomesticPaymentConsent
from kaimen.jws.errors import HEADER, SignatureInvalidClaim
from kaimen.jws.header import bank_header, check_header
from tests.dpop_support import BASE, proof
from tests.payments_support import (
    CONSENTS,
    IAT,
    ISS,
    TAN,
    PaymentBank,
    PaymentTpp,
    acme,
    assert_consent,
    assert_refusal,
    bank,
    consent_body,
    encode,
    sign,
    sign_with_joserfc,
)

__all__ = ["acme", "bank"]  # fixtures

MISSING = "UK.OBIE.Signature.Missing"
MALFORMED = "UK.OBIE.Signature.Malformed"
MISSING_CLAIM = "UK.OBIE.Signature.MissingClaim"
INVALID_CLAIM = "UK.OBIE.Signature.InvalidClaim"
INVALID = "UK.OBIE.Signature.Invalid"
UNEXPECTED = "UK.OBIE.Signature.Unexpected"


async def consents_stored(bank: PaymentBank) -> int:
    async with bank.app.components.db.read() as session:
        count: int = (
            await session.execute(select(func.count()).select_from(DomesticPaymentConsent))
        ).scalar_one()
    return count


async def refused(bank: PaymentBank, response: httpx.Response, code: str, path: str) -> None:
    await assert_refusal(bank, response, 400, code, path)
    assert await consents_stored(bank) == 0


async def test_a_signature_made_by_joserfc_is_accepted(bank: PaymentBank, acme: PaymentTpp) -> None:
    content = encode(consent_body())
    signature = sign_with_joserfc(content, acme.key, iss=acme.jws_iss, tan=bank.tan)
    response = await acme.post(None, content=content, signature=signature)
    await assert_consent(bank, response, 201)


async def test_a_missing_signature_is_signature_missing(bank: PaymentBank, acme: PaymentTpp) -> None:
    await refused(bank, await acme.post(consent_body(), signature=None), MISSING, "x-jws-signature")


@pytest.mark.parametrize(
    "value",
    [
        "not-a-jws",
        "a.b",
        "a.b.c.d",
        "eyJhbGciOiJQUzI1NiJ9.e30.c2ln",  # an attached payload: the body must be detached
        "e30K..c2ln!",  # not base64url
        "bm90LWpzb24..c2ln",  # the header is not JSON
    ],
)
async def test_a_malformed_signature_is_signature_malformed(
    bank: PaymentBank, acme: PaymentTpp, value: str
) -> None:
    await refused(bank, await acme.post(consent_body(), signature=value), MALFORMED, "x-jws-signature")


async def test_rs256_is_an_invalid_claim(bank: PaymentBank, acme: PaymentTpp) -> None:
    """Profile: "The algorithm must be PS256"."""
    content = encode(consent_body())
    response = await acme.post(None, content=content, signature=acme.sign(content, alg="RS256"))
    await refused(bank, response, INVALID_CLAIM, "alg")


async def test_b64_is_refused_since_v3_1_4(bank: PaymentBank, acme: PaymentTpp) -> None:
    content = encode(consent_body())
    response = await acme.post(None, content=content, signature=acme.sign(content, b64=True))
    await refused(bank, response, INVALID_CLAIM, "b64")


@pytest.mark.parametrize("claim", [IAT, ISS, TAN])
async def test_crit_missing_a_claim_is_an_invalid_claim(
    bank: PaymentBank, acme: PaymentTpp, claim: str
) -> None:
    content = encode(consent_body())
    crit = [name for name in (IAT, ISS, TAN) if name != claim]
    response = await acme.post(None, content=content, signature=acme.sign(content, crit=crit))
    await refused(bank, response, INVALID_CLAIM, "crit")


async def test_crit_naming_more_than_the_three_claims_is_an_invalid_claim(
    bank: PaymentBank, acme: PaymentTpp
) -> None:
    content = encode(consent_body())
    signature = acme.sign(content, crit=[IAT, ISS, TAN, "kid"])
    await refused(bank, await acme.post(None, content=content, signature=signature), INVALID_CLAIM, "crit")


@pytest.mark.parametrize("claim", ["alg", "kid", "crit", IAT, ISS, TAN])
async def test_a_missing_claim_is_signature_missing_claim(
    bank: PaymentBank, acme: PaymentTpp, claim: str
) -> None:
    """A dropped OB claim stays listed in crit: the claim itself is what is missing."""
    content = encode(consent_body())
    signature = acme.sign(content, drop=(claim,))
    await refused(bank, await acme.post(None, content=content, signature=signature), MISSING_CLAIM, claim)


async def test_a_wrong_iss_is_an_invalid_claim(bank: PaymentBank, acme: PaymentTpp) -> None:
    """The signer must be the caller: another TPP's jws_iss is refused even with this TPP's key."""
    other = await bank.tpp("pisp-other")
    content = encode(consent_body())
    response = await acme.post(None, content=content, signature=acme.sign(content, **{ISS: other.jws_iss}))
    await refused(bank, response, INVALID_CLAIM, ISS)


async def test_a_wrong_tan_is_an_invalid_claim(bank: PaymentBank, acme: PaymentTpp) -> None:
    content = encode(consent_body())
    response = await acme.post(
        None, content=content, signature=acme.sign(content, **{TAN: "openbanking.org.uk"})
    )
    await refused(bank, response, INVALID_CLAIM, TAN)


@pytest.mark.parametrize(
    "iat",
    [int(time.time()) + 3600, int(time.time()) - 3600, "1700000000", True],
    ids=["future", "old", "text", "bool"],
)
async def test_a_bad_iat_is_an_invalid_claim(bank: PaymentBank, acme: PaymentTpp, iat: Any) -> None:
    content = encode(consent_body())
    response = await acme.post(None, content=content, signature=acme.sign(content, **{IAT: iat}))
    await refused(bank, response, INVALID_CLAIM, IAT)


NOT_FINITE = pytest.mark.parametrize(
    ("iat", "token"),
    [(float("nan"), b"NaN"), (float("inf"), b"Infinity"), (float("-inf"), b"-Infinity")],
    ids=["NaN", "Infinity", "-Infinity"],
)


@NOT_FINITE
async def test_an_iat_that_is_not_a_json_number_makes_the_header_malformed(
    bank: PaymentBank, acme: PaymentTpp, iat: float, token: bytes
) -> None:
    """RFC 8259 §6: NaN and Infinity "are not permitted"; a header holding one is not JSON, so the JWS
    cannot be parsed (Signature.Malformed), though Python's json module would read it."""
    content = encode(consent_body())
    signature = acme.sign(content, **{IAT: iat})
    protected = base64.urlsafe_b64decode(signature.split(".")[0] + "==")
    assert f'"{IAT}": '.encode() + token + b"," in protected  # the header carries the bare token
    await refused(bank, await acme.post(None, content=content, signature=signature), MALFORMED, HEADER)


@NOT_FINITE
def test_check_header_refuses_an_iat_that_is_not_finite(iat: float, token: bytes) -> None:
    """A NaN compares false with both bounds, so neither "not in the future" nor the age limit would
    fire: check_header itself refuses a number that is not finite."""
    now = time.time()
    header = {**bank_header("kid-1", iss="iss-1", tan="tan.example", now=now), IAT: iat}
    with pytest.raises(SignatureInvalidClaim) as refusal:
        check_header(header, iss="iss-1", tan="tan.example", now=now)
    assert (refusal.value.ob_code, refusal.value.path) == (INVALID_CLAIM, IAT)


@pytest.mark.parametrize(("member", "value"), [("typ", "JWT"), ("cty", "text/plain")])
async def test_a_wrong_typ_or_cty_is_an_invalid_claim(
    bank: PaymentBank, acme: PaymentTpp, member: str, value: str
) -> None:
    content = encode(consent_body())
    response = await acme.post(None, content=content, signature=acme.sign(content, **{member: value}))
    await refused(bank, response, INVALID_CLAIM, member)


@pytest.mark.parametrize(
    ("member", "value"),
    [
        ("cty", ["application/json"]),
        ("cty", {"application": "json"}),
        ("crit", [[IAT], ISS, TAN]),
        ("crit", [{"name": IAT}, ISS, TAN]),
        ("crit", [1, ISS, TAN]),
        ("crit", IAT),
    ],
    ids=["cty-list", "cty-object", "crit-list-in-list", "crit-object-in-list", "crit-number", "crit-string"],
)
async def test_a_cty_or_crit_of_the_wrong_json_type_is_an_invalid_claim(
    bank: PaymentBank, acme: PaymentTpp, member: str, value: Any
) -> None:
    """RFC 7515 §4.1.10: cty is a string; §4.1.11: crit an array of header parameter names (strings).
    Any other JSON type is a wrong value: InvalidClaim naming the member, never a 500."""
    content = encode(consent_body())
    response = await acme.post(None, content=content, signature=acme.sign(content, **{member: value}))
    await refused(bank, response, INVALID_CLAIM, member)


async def test_typ_and_cty_may_be_left_out(bank: PaymentBank, acme: PaymentTpp) -> None:
    content = encode(consent_body())
    response = await acme.post(None, content=content, signature=acme.sign(content, drop=("typ", "cty")))
    await assert_consent(bank, response, 201)


async def test_a_key_the_tpp_never_registered_is_an_invalid_claim(
    bank: PaymentBank, acme: PaymentTpp
) -> None:
    """ "a kid that does not resolve" (OBErrorResponseError1Code, Signature.InvalidClaim): another TPP's
    key, or any key this TPP did not register, signing as this TPP."""
    other = await bank.tpp("pisp-other")
    content = encode(consent_body())
    signature = sign(content, other.key, iss=acme.jws_iss, tan=bank.tan)
    await refused(bank, await acme.post(None, content=content, signature=signature), INVALID_CLAIM, "kid")


async def test_another_key_under_the_registered_kid_is_signature_invalid(
    bank: PaymentBank, acme: PaymentTpp
) -> None:
    impostor = RSAKey.generate_key(2048, parameters={"kid": acme.key.kid, "alg": "PS256"}, private=True)
    content = encode(consent_body())
    signature = sign(content, impostor, iss=acme.jws_iss, tan=bank.tan)
    await refused(
        bank, await acme.post(None, content=content, signature=signature), INVALID, "x-jws-signature"
    )


async def test_a_body_changed_by_one_byte_is_signature_invalid(bank: PaymentBank, acme: PaymentTpp) -> None:
    content = encode(consent_body())
    signature = acme.sign(content)
    changed = content.replace(b"165.88", b"165.89")
    assert len(changed) == len(content) and changed != content
    await refused(
        bank, await acme.post(None, content=changed, signature=signature), INVALID, "x-jws-signature"
    )


async def test_whitespace_added_to_the_body_breaks_the_signature(bank: PaymentBank, acme: PaymentTpp) -> None:
    """The payload is the exact body bytes, not the JSON it parses to."""
    content = encode(consent_body())
    signature = acme.sign(content)
    response = await acme.post(None, content=content + b" ", signature=signature)
    await refused(bank, response, INVALID, "x-jws-signature")


async def test_a_signature_on_a_get_is_unexpected(bank: PaymentBank, acme: PaymentTpp) -> None:
    created = await assert_consent(bank, await acme.post(consent_body()), 201)
    path = f"{CONSENTS}/{created['Data']['ConsentId']}"
    response = await acme.get(path, extra={"x-jws-signature": acme.sign(b"")})
    await assert_refusal(bank, response, 400, UNEXPECTED, "x-jws-signature")


async def test_gateway_refusals_are_signed_too(bank: PaymentBank, acme: PaymentTpp) -> None:
    """Every response of the API is signed, the gateway's 401 and the router's 404/405 included."""
    response = await bank.http.post(
        CONSENTS, content=b"{}", headers={"x-fapi-interaction-id": "0f8d5c2a-9a1b-4c3d-8e7f-6a5b4c3d2e1f"}
    )
    assert response.status_code == 401
    await bank.assert_signed(response)
    response = await acme.get(f"{CONSENTS}/x/unknown")
    assert response.status_code == 404
    await bank.assert_signed(response)
    path = f"{CONSENTS}/x"
    dpop = proof(method="DELETE", url=BASE + path, token=acme.token)
    response = await bank.http.delete(path, headers={"authorization": f"DPoP {acme.token}", "dpop": dpop})
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"  # RFC 9110 §15.5.6
    assert response.json()["Code"] == "405 MethodNotAllowed"
    await bank.assert_signed(response)
    # The spec file lists application/jose+jwe too, but no response here is encrypted: 406 (R/W Data
    # API Profile, Accept: "If set to an unacceptable value the ASPSP must respond with a 406").
    response = await acme.get(f"{CONSENTS}/x", extra={"accept": "application/jose+jwe"})
    assert response.status_code == 406
    assert response.json()["Errors"] == [
        {
            "ErrorCode": "UK.OBIE.Header.Invalid",
            "Message": "the Accept header admits no media type this API answers in: application/json",
            "Path": "accept",
        }
    ]
    await bank.assert_signed(response)


async def test_the_tpp_jws_iss_comes_from_its_software_statement(bank: PaymentBank, acme: PaymentTpp) -> None:
    """A client registered with a software statement signs as ``{org_id}/{software_id}``
    (kaimen.authz.register_statement); its client_id is then not accepted as iss."""
    clients = bank.app.components.authz.clients
    metadata = {**acme.client.metadata, "jws_iss": "org-7/software-9"}
    acme.client = await clients.replace_metadata(acme.client_id, metadata)
    assert acme.jws_iss == "org-7/software-9"
    content = encode(consent_body())
    response = await acme.post(None, content=content, signature=acme.sign(content, **{ISS: acme.client_id}))
    await assert_refusal(bank, response, 400, INVALID_CLAIM, ISS)
    await assert_consent(bank, await acme.post(consent_body()), 201)
