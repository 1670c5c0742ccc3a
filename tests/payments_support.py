"""Helpers of the Payment Initiation tests: the app on a fresh database (each backend), TPPs with
client_credentials tokens of scope payments, TPP message signatures made with joserfc directly (never
with Kaimen's code), the bank's response signatures checked against the JWKS it publishes, and
validators built from the UK OB v3.1.11 spec file payment-initiation-openapi.json."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc import jws
from joserfc.jwk import KeySet, RSAKey
from joserfc.registry import HeaderParameter
from jsonschema import Draft4Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from kaimen.settings import Settings
from tests.account_consents_support import DATE_TIME, INTERACTION_ID
from tests.dpop_support import BASE, ec_key, issue_for, proof, running, tpp
from tests.support import REPO, load_json, ob_spec

SPEC_NAME = "payment-initiation-openapi.json"
PACKAGED_PAYMENT_SPECS = REPO / "src" / "kaimen" / "apis" / "payments" / "specs"
SPEC_URI = "urn:uk-ob:v3.1.11:payment-initiation"
PISP = "/open-banking/v3.1/pisp"
CONSENTS = f"{PISP}/domestic-payment-consents"
MEDIA_TYPE = "application/json; charset=utf-8"
# UK OB v3.1.11 Read/Write Data API Profile, "Message Signing": the three claims and crit.
IAT = "http://openbanking.org.uk/iat"
ISS = "http://openbanking.org.uk/iss"
TAN = "http://openbanking.org.uk/tan"
CRIT = [IAT, ISS, TAN]
OB_REGISTRY = jws.JWSRegistry(
    header_registry={
        IAT: HeaderParameter("iat", lambda v: None),
        ISS: HeaderParameter("iss", "str"),
        TAN: HeaderParameter("tan", "str"),
    },
    algorithms=["PS256"],
    strict_check_header=False,
)
OB_REGISTRY.max_header_length = 4096


def payment_spec_file() -> Path:
    return ob_spec(SPEC_NAME)


@cache
def spec() -> dict[str, Any]:
    document: dict[str, Any] = load_json(payment_spec_file())
    return document


@cache
def validator(schema_name: str) -> Draft4Validator:
    registry: Registry[Any] = Registry().with_resource(
        SPEC_URI, Resource.from_contents(spec(), default_specification=DRAFT4)
    )
    return Draft4Validator({"$ref": f"{SPEC_URI}#/components/schemas/{schema_name}"}, registry=registry)


def assert_valid(schema_name: str, document: Any) -> None:
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator(schema_name).iter_errors(document)]
    assert errors == [], errors[:5]


def consent_body(**initiation: Any) -> dict[str, Any]:
    """An OBWriteDomesticConsent4 as the spec's usage example builds one."""
    body: dict[str, Any] = {
        "Data": {
            "Initiation": {
                "InstructionIdentification": "ACME412",
                "EndToEndIdentification": "FRESCO.21302.GFX.20",
                "InstructedAmount": {"Amount": "165.88", "Currency": "GBP"},
                "CreditorAccount": {
                    "SchemeName": "UK.OBIE.SortCodeAccountNumber",
                    "Identification": "08080021325698",
                    "Name": "ACME Inc",
                    "SecondaryIdentification": "0002",
                },
                "RemittanceInformation": {
                    "Reference": "FRESCO-101",
                    "Unstructured": "Internal ops code 5120101",
                },
                **initiation,
            }
        },
        "Risk": {
            "PaymentContextCode": "EcommerceGoods",
            "MerchantCategoryCode": "5967",
            "MerchantCustomerIdentification": "053598653254",
            "DeliveryAddress": {
                "AddressLine": ["Flat 7", "Acacia Lodge"],
                "StreetName": "Acacia Avenue",
                "BuildingNumber": "27",
                "PostCode": "GU31 2ZZ",
                "TownName": "Sparsholt",
                "CountrySubDivision": "Wessex",
                "Country": "GB",
            },
        },
    }
    return body


def encode(document: Any) -> bytes:
    return json.dumps(document).encode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign(
    body: bytes,
    key: RSAKey,
    *,
    iss: str,
    tan: str,
    alg: str = "PS256",
    drop: tuple[str, ...] = (),
    **header: Any,
) -> str:
    """A detached JWS of ``body`` (RFC 7515 Appendix F) with the OB header; ``header`` overrides or adds
    members, ``drop`` removes them. Signed by joserfc's PS256/RS256 over the RFC 7515 signing input,
    so a test can also make the headers joserfc's serializer would check (b64, a short crit)."""
    protected: dict[str, Any] = {
        "alg": alg,
        "kid": key.kid,
        "typ": "JOSE",
        "cty": "application/json",
        IAT: int(time.time()),
        ISS: iss,
        TAN: tan,
        "crit": CRIT,
    }
    protected.update(header)
    for name in drop:
        protected.pop(name, None)
    signing_input = _b64(json.dumps(protected).encode()) + "." + _b64(body)
    signature = jws.JWSRegistry.algorithms[alg].sign(signing_input.encode(), key)
    return jws.detach_content(signing_input + "." + _b64(signature))


def sign_with_joserfc(body: bytes, key: RSAKey, *, iss: str, tan: str) -> str:
    """The well-formed signature, made end to end by joserfc's serializer."""
    header = {"alg": "PS256", "kid": key.kid, "typ": "JOSE", "cty": "application/json",
              IAT: int(time.time()), ISS: iss, TAN: tan, "crit": CRIT}  # fmt: skip
    return jws.detach_content(jws.serialize_compact(header, body, key, registry=OB_REGISTRY))


class PaymentTpp:
    """A TPP with its OAuth client, its signing key, and a client_credentials-shaped token."""

    def __init__(self, bank: PaymentBank, client: Any, key: RSAKey, token: str) -> None:
        self.bank = bank
        self.client = client
        self.key = key
        self.token = token

    @property
    def client_id(self) -> str:
        client_id: str = self.client.client_id
        return client_id

    @property
    def jws_iss(self) -> str:
        """README: a client without a software statement signs as its client_id."""
        return self.client.jws_iss or self.client_id

    def sign(self, body: bytes, **header: Any) -> str:
        return sign(body, self.key, iss=self.jws_iss, tan=self.bank.tan, **header)

    async def post(
        self,
        body: Any,
        *,
        content: bytes | None = None,
        signature: str | None = "sign",
        idempotency_key: str | None = None,
        token: str | None = None,
        extra: dict[str, str] | None = None,
    ) -> httpx.Response:
        """POST /domestic-payment-consents, signed by this TPP unless ``signature`` says otherwise
        (None: no header; any other text: that header)."""
        content = encode(body) if content is None else content
        token = token or self.token
        headers = {
            "authorization": f"DPoP {token}",
            "dpop": proof(method="POST", url=BASE + CONSENTS, token=token),
            "x-fapi-interaction-id": INTERACTION_ID,
            "content-type": "application/json",
            "x-idempotency-key": idempotency_key if idempotency_key is not None else uuid.uuid4().hex,
        }
        if signature == "sign":
            headers["x-jws-signature"] = self.sign(content)
        elif signature is not None:
            headers["x-jws-signature"] = signature
        headers.update(extra or {})
        return await self.bank.http.post(CONSENTS, content=content, headers=headers)

    async def get(
        self, path: str, *, token: str | None = None, extra: dict[str, str] | None = None
    ) -> httpx.Response:
        token = token or self.token
        headers = {
            "authorization": f"DPoP {token}",
            "dpop": proof(method="GET", url=BASE + path, token=token),
            "x-fapi-interaction-id": INTERACTION_ID,
            **(extra or {}),
        }
        return await self.bank.http.get(path, headers=headers)


class PaymentBank:
    def __init__(self, app: Any, http: httpx.AsyncClient) -> None:
        self.app = app
        self.http = http
        self.tan: str = app.components.settings.jws_tan
        self._jwks: KeySet | None = None

    async def tpp(self, name: str) -> PaymentTpp:
        made = await tpp(self.app, name)
        issued = await issue_for(self.app, made.client, scope="payments", customer=None)
        return PaymentTpp(self, made.client, made.key, issued.access_token)

    async def customer_token(self, tpp_: PaymentTpp, consent_id: str, customer: str) -> str:
        issued = await self.app.components.authz.tokens.issue(
            client_id=tpp_.client_id,
            customer_id=customer,
            scope="openid payments",
            jkt=ec_key().thumbprint(),
            grant_id=uuid.uuid4().hex,
            consent_id=consent_id,
            details={},
            refresh=False,
        )
        token: str = issued.access_token
        return token

    async def jwks(self) -> KeySet:
        """The bank's keys as it publishes them (GET /oauth2/jwks), fetched over HTTP."""
        if self._jwks is None:
            response = await self.http.get("/oauth2/jwks")
            assert response.status_code == 200
            self._jwks = KeySet.import_key_set(response.json())
        return self._jwks

    async def assert_signed(self, response: httpx.Response) -> dict[str, Any]:
        """The response's x-jws-signature verifies, with the published keys, over the exact body; its
        header follows the profile. Returns the header."""
        value = response.headers.get("x-jws-signature")
        assert value, f"unsigned {response.status_code} response"
        _, payload_part, _ = value.split(".")
        assert payload_part == ""  # detached
        obj = jws.deserialize_compact(
            value, await self.jwks(), registry=OB_REGISTRY, payload=response.content
        )
        header: dict[str, Any] = obj.headers()
        assert header["alg"] == "PS256" and header["typ"] == "JOSE" and "b64" not in header
        assert sorted(header["crit"]) == sorted(CRIT)
        assert header[ISS] == self.app.components.settings.jws_iss and header[TAN] == self.tan
        assert abs(header[IAT] - time.time()) < 60
        return header


async def assert_consent(bank: PaymentBank, response: httpx.Response, status: int) -> dict[str, Any]:
    """A conforming, signed OBWriteDomesticConsentResponse5."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == MEDIA_TYPE
    assert response.headers["x-fapi-interaction-id"] == INTERACTION_ID
    body: dict[str, Any] = response.json()
    assert_valid("OBWriteDomesticConsentResponse5", body)
    for name in ("CreationDateTime", "StatusUpdateDateTime"):
        assert DATE_TIME.match(body["Data"][name]), body["Data"][name]
    await bank.assert_signed(response)
    return body


async def assert_refusal(
    bank: PaymentBank, response: httpx.Response, status: int, code: str, path: str | None = None
) -> dict[str, Any]:
    """The exact refusal: status, a signed OBErrorResponse1 (this spec file's) with ``code``/``path``."""
    assert response.status_code == status, response.text
    assert response.headers["x-fapi-interaction-id"] == INTERACTION_ID
    body: dict[str, Any] = response.json()
    assert_valid("OBErrorResponse1", body)
    assert body["Code"].startswith(f"{status} ")
    assert [e["ErrorCode"] for e in body["Errors"]] == [code], body
    if path is not None:
        assert body["Errors"][0]["Path"] == path, body
    await bank.assert_signed(response)
    return body


@asynccontextmanager
async def open_payments(settings: Settings) -> AsyncIterator[PaymentBank]:
    async with running(settings) as (app, http):
        yield PaymentBank(app, http)


# Fixtures of the payment test modules, which import them (listed in their ``__all__``): the PISP side of
# whichever ``server`` the module runs (conftest's, or ``tests.domestic_payments_support.server``).
@pytest.fixture
async def bank(server: tuple[Any, httpx.AsyncClient]) -> PaymentBank:
    return PaymentBank(*server)


@pytest.fixture
async def acme(bank: PaymentBank) -> PaymentTpp:
    return await bank.tpp("pisp-acme")
