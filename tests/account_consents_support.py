"""Helpers of the account-access-consent tests: the app on a fresh database, TPP tokens, DPoP-signed
calls, and validators built from the UK OB v3.1.11 spec file (never from Kaimen's own code)."""

from __future__ import annotations

import re
from datetime import datetime
from functools import cache
from typing import Any

import httpx
from jsonschema import Draft4Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from tests.dpop_support import BASE, issue_for, proof, tpp
from tests.support import load_json, ob_spec

SPEC_FILE = ob_spec("account-info-openapi.json")
SPEC_URI = "urn:uk-ob:v3.1.11:account-info"
CONSENTS = "/open-banking/v3.1/aisp/account-access-consents"
INTERACTION_ID = "0f8d5c2a-9a1b-4c3d-8e7f-6a5b4c3d2e1f"
# RFC 3339 §5.6 date-time (the spec's format: date-time), the offset required.
DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
ALL_SUPPORTED = [
    "ReadAccountsBasic",
    "ReadAccountsDetail",
    "ReadBalances",
    "ReadParty",
    "ReadPartyPSU",
    "ReadProducts",
    "ReadTransactionsBasic",
    "ReadTransactionsCredits",
    "ReadTransactionsDebits",
    "ReadTransactionsDetail",
]


@cache
def spec() -> dict[str, Any]:
    document: dict[str, Any] = load_json(SPEC_FILE)
    return document


@cache
def validator(schema_name: str) -> Draft4Validator:
    """The spec file's ``components/schemas/<schema_name>``, its $refs resolved within the file
    (OpenAPI 3.0 schema objects are a JSON Schema draft 4 dialect)."""
    registry: Registry[Any] = Registry().with_resource(
        SPEC_URI, Resource.from_contents(spec(), default_specification=DRAFT4)
    )
    return Draft4Validator({"$ref": f"{SPEC_URI}#/components/schemas/{schema_name}"}, registry=registry)


def assert_valid(schema_name: str, document: Any) -> None:
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator(schema_name).iter_errors(document)]
    assert errors == [], errors[:5]


def assert_consent_response(response: httpx.Response, status: int) -> dict[str, Any]:
    """A conforming OBReadConsentResponse1 (schema, and every date-time with its zone)."""
    assert response.status_code == status, response.text
    assert response.headers["x-fapi-interaction-id"]
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    body: dict[str, Any] = response.json()
    assert_valid("OBReadConsentResponse1", body)
    for name in ("CreationDateTime", "StatusUpdateDateTime"):
        assert DATE_TIME.match(body["Data"][name]), body["Data"][name]
        assert datetime.fromisoformat(body["Data"][name]).utcoffset() is not None
    return body


def assert_ob_error(response: httpx.Response, status: int, code: str, path: str | None = None) -> None:
    """The exact refusal: status, an OBErrorResponse1 body with ``code`` (and ``path``), the
    interaction id on the response."""
    assert response.status_code == status, response.text
    assert response.headers["x-fapi-interaction-id"]
    body = response.json()
    assert_valid("OBErrorResponse1", body)
    assert body["Code"] == {400: "400 BadRequest", 401: "401 Unauthorized", 403: "403 Forbidden",
                            404: "404 NotFound", 405: "405 MethodNotAllowed",
                            415: "415 UnsupportedMediaType"}[status]  # fmt: skip
    assert [e["ErrorCode"] for e in body["Errors"]] == [code], body
    if path is not None:
        assert body["Errors"][0]["Path"] == path, body


class Tpp:
    """A TPP application with its OAuth client, and a DPoP-bound token of the shape asked for."""

    def __init__(self, app: Any, http: httpx.AsyncClient, client: Any, token: str) -> None:
        self.app = app
        self.http = http
        self.client = client
        self.token = token

    @property
    def client_id(self) -> str:
        client_id: str = self.client.client_id
        return client_id

    async def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        content_type: str | None = "application/json",
        token: str | None = None,
    ) -> httpx.Response:
        token = token or self.token
        headers = {
            "authorization": f"DPoP {token}",
            "dpop": proof(method=method, url=BASE + path, token=token),
            "x-fapi-interaction-id": INTERACTION_ID,
        }
        if content_type is not None and (json is not None or content is not None):
            headers["content-type"] = content_type
        if json is not None:
            content = httpx.Request("POST", "/", json=json).content
        return await self.http.request(method, path, content=content, headers=headers)

    async def create(self, body: Any) -> httpx.Response:
        return await self.call("POST", CONSENTS, json=body)

    async def consent_id(self, body: Any) -> str:
        response = await self.create(body)
        assert response.status_code == 201, response.text
        consent_id: str = response.json()["Data"]["ConsentId"]
        return consent_id


async def new_tpp(
    app: Any, http: httpx.AsyncClient, name: str, *, scope: str = "accounts", customer: str | None = None
) -> Tpp:
    """An approved TPP and a token: client_credentials-shaped (no customer) unless ``customer``."""
    made = await tpp(app, name)
    issued = await issue_for(app, made.client, scope=scope, customer=customer)
    return Tpp(app, http, made.client, issued.access_token)


def consent_body(permissions: list[str] | None = None, **data: Any) -> dict[str, Any]:
    return {"Data": {"Permissions": permissions or ["ReadAccountsBasic", "ReadBalances"], **data}, "Risk": {}}
